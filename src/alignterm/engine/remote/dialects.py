"""How each server speaks: tokenizing, streaming a generation and scoring given tokens.

vLLM takes token ids and answers with ids (`return_tokens_as_token_ids`) and with the
rank of each scored token (`prompt_logprobs`). llama-cpp-python's server takes text only
and answers with token strings, so ids are recovered through its tokenize endpoint and
every prompt is checked to re-tokenize to exactly the ids meant.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput
from ..token_text import REPLACEMENT
from ..values import DecodingParams, Step, TopK
from .client import Client, RemoteError, shape_error

TOP_K = 10  # top-k asked of servers: ranks 1..10 exact, categories exact (they need ranks 1..3)
END = -1  # the id a generation ends with at the model's end of sequence: servers do not stream that token
END_ROW = TopK(0, (), (), END, 0.0)  # never measured: the run stops at an end-of-sequence id
END_STEP = Step(END, END_ROW)


def _topk(entries: Sequence[tuple[int | None, float]], token: int, logprob: float, rank: int | None = None) -> TopK:
    """A TopK from a server's (id, logprob) entries: the k most likely, unmappable ids dropped.

    Servers add the scored token to their top-k when it is outside it, so only k are kept.
    An unmappable entry (llama-cpp-python names special tokens such as an end of turn by their
    empty text, so several become one entry) is dropped from the list but still counts in the
    token's rank; a token last in such a list may have been added from outside the top-k, so
    its rank is then only known to be k or more, and is reported as "> k" (shifted either way).
    """
    best = sorted(entries, key=lambda e: -e[1])[:TOP_K]
    exact = True
    if rank is None and any(i is None for i, _ in best):
        rank = 1 + sum(lp > logprob for _, lp in best)  # the dropped entries count too
        if all(i != token for i, _ in best):  # outside the top-k: every entry is above it
            exact = False
        elif best[-1][0] == token and len(entries) <= TOP_K:
            rank, exact = TOP_K + 1, False
    known = [(i, lp) for i, lp in best if i is not None]
    return TopK(TOP_K, tuple(i for i, _ in known), tuple(lp for _, lp in known), token, logprob, rank, exact)


@dataclass(frozen=True)
class StreamEnd:
    """The end of a server's stream at the model's end of sequence. `eos_streamed`: the stream's
    last step was the end-of-sequence token itself (not part of the answer, so it is dropped);
    otherwise the model ended after its last step."""

    eos_streamed: bool


class Dialect(ABC):
    """What RemoteBackend needs of a server: the contract every server's dialect implements.

    Ids are the model's own token ids; a generation's steps and a score's rows are `TopK`s of
    this module's TOP_K. A new server is a new subclass, plus a branch in `detect`.
    """

    can_score = True  # scores given tokens (echo / prompt_logprobs); False: the measures needing it are null

    def __init__(self, client: Client, model: str) -> None:
        self.c = client
        self.model = model
        self._pieces: dict[int, str] = {}

    @property
    @abstractmethod
    def bos_id(self) -> int | None:
        """The BOS id the server starts a prompt with; None where the model adds none."""

    @property
    @abstractmethod
    def context_length(self) -> int:
        """The context the server serves the model with, in tokens (--n-ctx overrides it)."""

    @abstractmethod
    def tokenize(self, text: str) -> list[int]:
        """The server's ids for `text`, without a BOS."""

    @abstractmethod
    def detokenize(self, ids: list[int]) -> str:
        """The text of `ids` as the server decodes it."""

    @abstractmethod
    def chat_ids(self, messages: list[dict]) -> list[int]:
        """The prompt ids of `messages` in the served model's chat template, ready for the answer;
        BadInput where the server cannot reveal the template (--chat-template gives it)."""

    @abstractmethod
    def generate(self, prompt_ids: list[int], params: DecodingParams, budget: int) -> Generator[Step, None, None]:
        """At most `budget` steps after `prompt_ids`, one at a time; an end of sequence is END_STEP.
        Closing the iterator closes the server's stream."""

    @abstractmethod
    def score(self, ids: Sequence[int], start: int) -> tuple[list[TopK], TopK]:
        """The rows that predicted ids[start:], and the row after the last id; RemoteError where the
        server cannot score given tokens (`can_score` False)."""

    def _ask(self, path: str, body: dict, read: Callable[[Any], Any]) -> Any:
        """POST and read the answer with `read`; a missing field is one clear error."""
        answer = self.c.post(path, {"model": self.model, **body})
        try:
            return read(answer)
        except (KeyError, IndexError, TypeError, ValueError):
            raise shape_error(self.c.url, path) from None

    def piece(self, token_id: int) -> str:
        """One token's text out of context, asked of the server once."""
        if token_id not in self._pieces:
            self._pieces[token_id] = self._piece(token_id)
        return self._pieces[token_id]

    def _piece(self, token_id: int) -> str:
        return self.detokenize([token_id])


class _Known(Dialect):
    """A dialect that learns its BOS and context length once, when it connects."""

    _bos_id: int | None
    _context_length: int

    @property
    def bos_id(self) -> int | None:
        return self._bos_id

    @property
    def context_length(self) -> int:
        return self._context_length


class VLLM(_Known):
    """vLLM's OpenAI-compatible server (`vllm serve`)."""

    def __init__(self, client: Client, model: str, card: dict) -> None:
        super().__init__(client, model)
        self._context_length = int(card.get("max_model_len") or 4096)
        with_bos = self._ask("/tokenize", {"prompt": "", "add_special_tokens": True}, lambda a: a["tokens"])
        self._bos_id = with_bos[0] if with_bos else None

    def tokenize(self, text: str) -> list[int]:
        return self._ask("/tokenize", {"prompt": text, "add_special_tokens": False}, lambda a: list(a["tokens"]))

    def detokenize(self, ids: list[int]) -> str:
        return self._ask("/detokenize", {"tokens": ids}, lambda a: a["prompt"])

    def chat_ids(self, messages: list[dict]) -> list[int]:
        """The server applies the model's own chat template."""
        body = {"messages": messages, "add_generation_prompt": True}
        return self._ask("/tokenize", body, lambda a: list(a["tokens"]))

    @staticmethod
    def _id(token: str) -> int:
        """`token_id:123` (return_tokens_as_token_ids) to 123."""
        prefix, _, number = token.partition(":")
        if prefix != "token_id":
            raise ValueError(token)
        return int(number)

    def _row(self, top: dict[str, float] | None, token: int, logprob: float) -> TopK:
        return _topk([(self._id(s), lp) for s, lp in (top or {}).items()], token, logprob)

    def _chunks(self, body: dict) -> Iterator[dict]:
        """The first choice of each streamed completion chunk."""
        for chunk in self.c.stream("/v1/completions", {"model": self.model, "stream": True, **body}):
            try:
                choices = chunk["choices"]
            except (KeyError, TypeError):
                raise shape_error(self.c.url, "/v1/completions") from None
            if choices:  # a usage-only chunk has none
                yield choices[0]

    def generate(self, prompt_ids: list[int], params: DecodingParams, budget: int) -> Generator[Step, None, None]:
        body = {
            "prompt": prompt_ids, "max_tokens": budget, "temperature": params.temperature, "top_p": params.top_p,
            "top_k": -1, "min_p": 0.0, "repetition_penalty": params.repetition_penalty, "seed": params.seed,
            "logprobs": TOP_K, "return_tokens_as_token_ids": True, "skip_special_tokens": False,
        }
        return _one_late(self._stream(body))

    def _stream(self, body: dict) -> Generator[Step | StreamEnd, None, None]:
        for choice in self._chunks(body):
            yield from self._steps(choice)
            if choice.get("finish_reason") == "stop" and choice.get("stop_reason") is None:
                yield StreamEnd(eos_streamed=True)  # vLLM streams the end-of-sequence token itself
                return

    def _steps(self, choice: dict) -> list[Step]:
        try:
            lp = choice.get("logprobs") or {}
            return [
                Step(self._id(s), self._row(top, self._id(s), tlp))
                for s, tlp, top in zip(lp.get("tokens", []), lp.get("token_logprobs", []), lp.get("top_logprobs", []))
            ]
        except (AttributeError, TypeError, ValueError):
            raise shape_error(self.c.url, "/v1/completions") from None

    def score(self, ids: Sequence[int], start: int) -> tuple[list[TopK], TopK]:
        """Rows for ids[start:] from `prompt_logprobs` (with ranks), and the row after the last id.

        vLLM refuses prompt_logprobs on a streaming request, so this is a call of its own.
        """
        body = {
            "prompt": list(ids), "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": TOP_K,
            "logprobs": TOP_K, "return_tokens_as_token_ids": True,
        }

        def read(answer) -> tuple[list[TopK], TopK]:
            choice = answer["choices"][0]
            prompt = choice["prompt_logprobs"]  # one per prompt token, the first null
            rows = []
            for p in range(start, len(ids)):
                entries = {int(i): v for i, v in prompt[p].items()}
                mine = entries[ids[p]]
                top = [(i, float(v["logprob"])) for i, v in entries.items()]
                rows.append(_topk(top, ids[p], float(mine["logprob"]), mine.get("rank")))
            lp = choice["logprobs"]
            token = self._id(lp["tokens"][0])
            return rows, self._row(lp["top_logprobs"][0], token, lp["token_logprobs"][0])

        return self._ask("/v1/completions", body, read)


class LlamaCppPython(_Known):
    """llama-cpp-python's server (`python -m llama_cpp.server --logits_all true`).

    Its quirks: prompts are text (token-id lists are refused), answers name tokens by
    their text, the first prompt token's logprob is null, `max_tokens: 0` means "until
    the context is full" and the default temperature is 0.8, so every field is explicit.
    It also stops an open stream whenever another request arrives (`interrupt_requests`),
    and live scoring asks the same server mid-answer, so it generates one call per token.
    """

    # llama-cpp-python's server default --n_ctx; it does not report it: --n-ctx overrides
    DEFAULT_CONTEXT = 2048

    def __init__(self, client: Client, model: str, bos: list[int]) -> None:
        super().__init__(client, model)
        self._context_length = self.DEFAULT_CONTEXT
        if not bos:
            # its echo pairs each prompt token with the row that follows it when no BOS leads
            raise BadInput(f"{client.url}: this model adds no BOS token, and llama-cpp-python's echo scoring "
                           "is misaligned for such models; serve it with vLLM")
        self._bos_id = bos[0]
        self._texts: dict[tuple[int, ...], str] = {}  # ids -> the text they were encoded from
        self._ids: dict[str, int | None] = {}  # token text -> id (None: not one token)

    def _tokenize(self, text: str) -> list[int]:
        """The server's tokenization, with the BOS it adds to every completion prompt."""
        return self._ask("/extras/tokenize", {"input": text}, lambda a: list(a["tokens"]))

    def tokenize(self, text: str) -> list[int]:
        ids = self._tokenize(text)[1:]
        self._texts[tuple(ids)] = text  # prompts go back to the server as this text
        return ids

    def detokenize(self, ids: list[int]) -> str:
        try:
            return self._ask("/extras/detokenize", {"tokens": list(ids)}, lambda a: a["text"])
        except RemoteError as err:
            if err.status == 500:  # the ids end inside a UTF-8 character, which the server refuses to decode
                return "".join(self.piece(i) for i in ids) + REPLACEMENT
            raise

    def _piece(self, token_id: int) -> str:
        try:
            return self._ask("/extras/detokenize", {"tokens": [token_id]}, lambda a: a["text"])
        except RemoteError as err:
            if err.status == 500:  # a lone byte of a UTF-8 character: the server fails to decode it
                return ""
            raise

    def chat_ids(self, messages: list[dict]) -> list[int]:
        raise BadInput(f"{self.c.url}: llama-cpp-python's server does not reveal the chat template: "
                       "pass it with --chat-template FILE.jinja")

    def _id_of(self, text: str) -> int | None:
        """The id of the token the server names by `text`, when that text is one token."""
        if text not in self._ids:
            ids = self._tokenize(text)[1:] if text else []
            self._ids[text] = ids[0] if len(ids) == 1 else None
            if len(ids) == 1:
                self._pieces.setdefault(ids[0], text)
        return self._ids[text]

    def _row(self, top: dict[str, float] | None, token: int, logprob: float) -> TopK:
        return _topk([(self._id_of(s), lp) for s, lp in (top or {}).items()], token, logprob)

    def _text(self, ids: Sequence[int]) -> str:
        """The text that the server turns into exactly `ids` (it takes no token ids)."""
        if not ids or ids[0] != self.bos_id:
            raise RemoteError(f"{self.c.url}: the server adds BOS to every prompt, and this one does not start with it")
        body = tuple(ids[1:])
        known = max((k for k in self._texts if body[: len(k)] == k), key=len, default=())
        text = self._texts.get(known, "") + "".join(self.piece(i) for i in body[len(known) :])
        if self._tokenize(text) != list(ids):
            raise RemoteError(f"{self.c.url}: llama-cpp-python's server takes text, not token ids, and re-tokenizes "
                              "this text into other tokens, so it cannot score these exact tokens (use vLLM)")
        return text

    def generate(self, prompt_ids: list[int], params: DecodingParams, budget: int) -> Generator[Step, None, None]:
        ids = list(prompt_ids)
        for i in range(budget):
            body = {
                "prompt": self._text(ids), "max_tokens": 1, "temperature": params.temperature,
                "top_p": params.top_p, "top_k": 0, "min_p": 0.0, "repeat_penalty": params.repetition_penalty,
                "seed": params.seed + i, "logprobs": TOP_K,
            }
            text, logprob, top = self._ask("/v1/completions", body, _one_token)
            if text is None:  # no stop strings are sent: an empty answer ending in "stop" is the end of sequence
                yield END_STEP
                return
            token = self._id_of(text)
            if token is None:
                raise RemoteError(f"{self.c.url}: the server generated {text!r}, which names no single token "
                                  "(it reports tokens by their text); use vLLM for this model")
            ids.append(token)
            yield Step(token, self._row(top, token, logprob))

    def score(self, ids: Sequence[int], start: int) -> tuple[list[TopK], TopK]:
        """Rows for ids[start:] from `echo` + `logprobs`, and the row after the last id (its one generated token)."""
        body = {"prompt": self._text(ids), "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": TOP_K}

        def read(answer) -> tuple[list[TopK], TopK]:
            lp = answer["choices"][0]["logprobs"]
            # one entry per prompt token after the BOS (the first null), then the generated token,
            # unless the model ended there (the end of sequence is not reported)
            tokens, values, tops = lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]
            n = len(ids) - 1
            if len(values) not in (n, n + 1):
                raise ValueError("one logprob per token expected")
            rows = [self._row(tops[p - 1], ids[p], values[p - 1]) for p in range(start, len(ids))]
            if len(values) == n:
                return rows, END_ROW
            nxt = self._id_of(tokens[n])
            return rows, self._row(tops[n], END if nxt is None else nxt, values[n])

        return self._ask("/v1/completions", body, read)


class LlamaServer(_Known):
    """llama.cpp's own server (`llama-server`): it generates with top-k logprobs and takes and
    returns token ids, but cannot score given tokens (its /v1/completions refuses `echo`), so
    the measures that need scoring are unavailable, not guessed.

    It speaks its native /completion endpoint, which streams token ids (`tokens`) and
    `completion_probabilities` (`n_probs`); its sampler defaults (top_k 40, min_p 0.05,
    repeat_penalty 1.1 over the last 64 tokens, temperature 0.8) are all overridden.
    """

    can_score = False

    def __init__(self, client: Client, model: str, card: dict) -> None:
        super().__init__(client, model)
        try:
            props = client.get("/props")
        except RemoteError:
            props = {}
        settings = props.get("default_generation_settings") or {} if isinstance(props, dict) else {}
        self._context_length = int(settings.get("n_ctx") or (card.get("meta") or {}).get("n_ctx_train") or 4096)
        with_bos = self._tokenize("", special=True)
        self._bos_id = with_bos[0] if with_bos else None
        eos = props.get("eos_token") if isinstance(props, dict) else None
        eos_ids = self._tokenize(eos, special=False) if isinstance(eos, str) and eos else []
        self.eos_id = eos_ids[0] if len(eos_ids) == 1 else None

    def _tokenize(self, text: str, special: bool) -> list[int]:
        return self._ask("/tokenize", {"content": text, "add_special": special}, lambda a: [int(t) for t in a["tokens"]])

    def tokenize(self, text: str) -> list[int]:
        return self._tokenize(text, special=False)

    def detokenize(self, ids: list[int]) -> str:
        return self._ask("/detokenize", {"tokens": ids}, lambda a: a["content"])

    def chat_ids(self, messages: list[dict]) -> list[int]:
        """The server renders the model's chat template; the BOS is added when the template has none."""
        text = self._ask("/apply-template", {"messages": messages}, lambda a: a["prompt"])
        ids = self.tokenize(text)
        return ids if self.bos_id is None or ids[:1] == [self.bos_id] else [self.bos_id, *ids]

    @staticmethod
    def _row(prob: dict) -> Step:
        token = int(prob["id"])
        top = [(int(e["id"]), float(e["logprob"])) for e in prob.get("top_logprobs") or ()]
        return Step(token, _topk(top, token, float(prob["logprob"])))

    def generate(self, prompt_ids: list[int], params: DecodingParams, budget: int) -> Generator[Step, None, None]:
        body = {
            "prompt": prompt_ids, "n_predict": budget, "stream": True, "n_probs": TOP_K, "return_tokens": True,
            "cache_prompt": True, "temperature": params.temperature, "top_p": params.top_p, "top_k": 0,
            "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": params.repetition_penalty, "repeat_last_n": -1,
            "seed": params.seed,
        }
        return _one_late(self._stream(body))

    def _stream(self, body: dict) -> Generator[Step | StreamEnd, None, None]:
        last: Step | None = None
        last_text: str | None = ""
        for chunk in self.c.stream("/completion", {"model": self.model, **body}):
            try:
                steps = [self._row(p) for p in chunk.get("completion_probabilities") or ()]
                stopped, stop_type, text = bool(chunk.get("stop")), chunk.get("stop_type"), chunk.get("content")
            except (AttributeError, KeyError, TypeError, ValueError):
                raise shape_error(self.c.url, "/completion") from None
            for step in steps:
                last, last_text = step, text
                yield step
            if stopped:
                if stop_type == "eos":
                    # the end-of-sequence token is streamed too, with empty text: it is not part of the answer
                    streamed = last is not None and (last.id == self.eos_id or (self.eos_id is None and not last_text))
                    yield StreamEnd(eos_streamed=streamed)
                return

    def score(self, ids: Sequence[int], start: int) -> tuple[list[TopK], TopK]:
        raise RemoteError(f"{self.c.url} is llama.cpp's own server, which cannot score given tokens")


def _one_late(stream: Generator[Step | StreamEnd, None, None]) -> Generator[Step, None, None]:
    """A server stream's steps, one token late since the last may be the end of sequence: at a
    StreamEnd it is dropped when it was the EOS token, and END_STEP follows. What arrived before a
    failure is kept."""
    held: Step | None = None
    try:
        for item in stream:
            if isinstance(item, StreamEnd):
                if not item.eos_streamed and held is not None:
                    yield held
                yield END_STEP
                return
            if held is not None:
                yield held
            held = item
    except RemoteError:
        if held is not None:
            yield held
        raise
    finally:
        stream.close()  # a consumer that stops early (cancel) closes the connection now
    if held is not None:
        yield held


def _one_token(answer: dict) -> tuple[str | None, float, dict | None]:
    """The token text, logprob and top-k of a one-token completion; None for the end of sequence."""
    choice = answer["choices"][0]
    lp = choice["logprobs"]
    if choice["finish_reason"] == "stop" and not (lp and lp["tokens"]):
        return None, 0.0, None
    return lp["tokens"][0], lp["token_logprobs"][0], lp["top_logprobs"][0]


def detect(client: Client, model: str, card: dict) -> Dialect:
    """The dialect of the server behind `client`, from its model card and endpoints."""
    owner = card.get("owned_by")
    if owner == "vllm":
        return VLLM(client, model, card)
    if owner == "llamacpp":
        return LlamaServer(client, model, card)
    try:
        bos = client.post("/extras/tokenize", {"model": model, "input": ""})["tokens"]
    except (RemoteError, KeyError, TypeError):
        raise BadInput(f"{client.url} is neither vLLM, llama-cpp-python's server nor llama.cpp's llama-server "
                       f"(owned_by {owner!r}): alignterm speaks only those") from None
    return LlamaCppPython(client, model, bos)
