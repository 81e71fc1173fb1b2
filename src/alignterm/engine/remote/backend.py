"""The remote adapter: a model served over HTTP by vLLM, llama-cpp-python's server or llama.cpp's own.

Servers report distributions as top-k log-probabilities, so this backend's rows are
`TopK`s: ranks beyond k are bounds (categories stay exact for k >= 3) and KL is
unavailable. How each server tokenizes, streams and scores given tokens is its dialect
(dialects.py, the `Dialect` contract); the HTTP client is client.py; this module is the
Backend around a dialect.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from ..backend import EmbeddingsUnavailable, OneSampleAtATime, TokenizerBase
from ..errors import AlignTermError, BadInput
from ..prompts import chat_messages, read_chat_template
from ..values import DecodingParams, ModelSpec, Step, TopK
from .client import Client, ServerDown, ServerUnreachable, api_key, shape_error
from .dialects import END, Dialect, detect


class RemoteTokenizer(TokenizerBase):
    """A server's tokenizer, through its tokenize/detokenize endpoints."""

    lists_vocab = False
    vocab_size: int | None = None  # servers do not tell; nothing here needs it

    def __init__(self, dialect: Dialect, chat_template: str | None) -> None:
        self._dialect = dialect
        self.bos_id = dialect.bos_id
        self.eos_ids = frozenset({END})
        self.chat_template = chat_template

    def _encode_plain(self, text: str) -> list[int]:
        return self._dialect.tokenize(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self._dialect.detokenize(list(ids))

    def piece(self, token_id: int) -> str:
        return self._dialect.piece(token_id)

    def vocab(self) -> list[str]:
        raise AlignTermError("a server cannot list its vocabulary: compare it by a probe text (lists_vocab is False)")

    def special_ids(self) -> frozenset[int]:
        raise AlignTermError("a server cannot list its special tokens (lists_vocab is False)")

    def chat_ids(self, query: str, history: Sequence[tuple[str, str]] = ()) -> list[int]:
        messages = chat_messages(query, history)
        if self.chat_template is None:
            return self._dialect.chat_ids(messages)
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        # rendered without BOS text, which a server may not reveal: encode adds the BOS id
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        text = env.from_string(self.chat_template).render(
            messages=messages, add_generation_prompt=True, bos_token="", eos_token=""
        )
        return self.encode(text, add_bos=True)


class RemoteScorer:
    """Scoring given tokens on a server; the server keeps its own prefix cache, so this only holds the ids."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._ids: list[int] = []
        self._next: TopK | None = None

    @property
    def length(self) -> int:
        return len(self._ids)

    @property
    def next_logits(self) -> TopK:
        if not self._ids:
            raise ValueError("set_context before scoring")
        if self._next is None:
            _, self._next = self._dialect.score(self._ids, len(self._ids))
        return self._next

    def set_context(self, ids: Sequence[int]) -> None:
        ids = list(ids)
        if not ids:
            raise ValueError("a scoring context needs at least one token")
        if ids != self._ids:
            self._ids, self._next = ids, None

    def score(self, ids: Sequence[int]) -> list[TopK]:
        """TopK rows [len(ids)], row t = the distribution that predicted ids[t]."""
        if not self._ids:
            raise ValueError("set_context before scoring")
        whole = self._ids + list(ids)
        rows, self._next = self._dialect.score(whole, len(self._ids))
        self._ids = whole
        return rows


class RemoteBackend(OneSampleAtATime):
    """One model on an OpenAI-compatible server: vLLM and llama-cpp-python's server generate and
    score given tokens; llama.cpp's own server only generates (`can_score` False)."""

    kind = "remote"
    samples_locally = False  # a server samples on its side
    # each scoring call re-sends the whole context (its one KV slot also serves the other side's
    # generation), so a live run scores this many tokens per call, not one
    score_chunk = 8
    devices: frozenset[str] = frozenset()  # the model lives on the server

    def __init__(self, name: str, dialect: Dialect, tokenizer: RemoteTokenizer, context_length: int) -> None:
        self.name = name
        self.dialect = dialect
        self.can_score = dialect.can_score
        self.tokenizer = tokenizer
        self.chat_template = tokenizer.chat_template
        self.context_length = context_length

    @classmethod
    def load(cls, spec: ModelSpec) -> RemoteBackend:
        """Connect, pick the served model, detect the server's dialect."""
        if not spec.spec.startswith(("http://", "https://")):
            raise BadInput(f"the remote backend needs an http(s) URL such as http://HOST:PORT/v1, not {spec.spec}")
        client = Client(spec.spec, api_key(spec.api_key_env), spec.timeout)
        try:
            models = client.get("/v1/models")
        except ServerDown as err:
            raise ServerUnreachable(str(err)) from None
        name, card = _pick_model(client.url, models, spec.served_name)
        dialect = detect(client, name, card)
        template = read_chat_template(spec.chat_template) if spec.chat_template else None
        return cls(f"{spec.spec} ({name})", dialect, RemoteTokenizer(dialect, template),
                   spec.n_ctx or dialect.context_length)

    def scorer(self) -> RemoteScorer:
        return RemoteScorer(self.dialect)

    def generate(self, prompt_ids: Sequence[int], params: DecodingParams) -> Generator[Step, None, None]:
        budget = min(params.max_new_tokens, self.context_length - len(prompt_ids))
        return self.dialect.generate(list(prompt_ids), params, budget)

    def embed(self, ids: Sequence[int]):
        """A server does not return hidden states: the embedding measure is unavailable (null)."""
        raise EmbeddingsUnavailable(f"{self.name} is a server: it gives no hidden states to embed answers with")


def _pick_model(url: str, models: Any, wanted: str | None) -> tuple[str, dict]:
    """The served model to use: the one named by --base-model/--aligned-model, or the only one."""
    try:
        cards = {m["id"]: m for m in models["data"]}
    except (KeyError, TypeError):
        raise shape_error(url, "/v1/models") from None
    if wanted is not None:
        if wanted not in cards:
            raise BadInput(f"{url} does not serve {wanted!r} (it serves: {', '.join(cards) or 'nothing'})")
        return wanted, cards[wanted]
    if len(cards) != 1:
        raise BadInput(f"{url} serves {len(cards)} models ({', '.join(cards)}): pick one with --base-model / --aligned-model")
    name = next(iter(cards))
    return name, cards[name]
