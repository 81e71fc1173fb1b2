"""The remote adapter: a model served over HTTP by vLLM or llama-cpp-python's server.

Servers report distributions as top-k log-probabilities, so this backend's rows are
`TopK`s: ranks beyond k are bounds (categories stay exact for k >= 3) and KL is
unavailable. How each server tokenizes, streams and scores given tokens is its dialect
(remote_dialects.py); this module holds the HTTP client and the Backend around a dialect.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .backend import DecodingParams, EmbeddingsUnavailable, ModelSpec, Step, TokenizerBase, TopK
from .errors import AlignTermError, BadInput
from .prompts import read_chat_template

RETRIES = 2  # extra attempts of an idempotent call after a refused connection or a 502/503/504
RETRY_STATUS = (502, 503, 504)


class RemoteError(AlignTermError):
    """A server failed during a run: HTTP error, malformed answer, timeout, death mid-stream (exit code 1)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerDown(RemoteError):
    """Nothing answers at the server's address (any more)."""


class ServerUnreachable(BadInput):
    """Nothing answers at the URL the user gave, when loading (exit code 2)."""


def api_key(env_var: str | None) -> str | None:
    """The API key from the environment variable named by --api-key-env; the key itself is never stored."""
    if env_var is None:
        return None
    key = os.environ.get(env_var)
    if not key:
        raise BadInput(f"--api-key-env {env_var}: that environment variable is not set")
    return key


class Client:
    """httpx with one clear message per failure, bounded retries for idempotent calls, and the API key header."""

    def __init__(self, url: str, key: str | None, timeout: float) -> None:
        import httpx

        self.url = url.rstrip("/")
        root = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout = timeout
        self._http = httpx.Client(base_url=root, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def post(self, path: str, body: dict) -> Any:
        """POST an idempotent request (tokenize, score, greedy probe) and return its JSON."""
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: dict | None) -> Any:
        import httpx

        for attempt in range(RETRIES + 1):
            try:
                response = self._http.request(method, path, json=body)
            except httpx.ConnectError:
                if attempt == RETRIES:
                    raise self._down() from None
            except httpx.TimeoutException:
                raise self._too_slow(path) from None
            except httpx.HTTPError as err:
                raise RemoteError(f"{self.url}: {path} failed: {err}") from None
            else:
                if response.status_code not in RETRY_STATUS or attempt == RETRIES:
                    return self._json(response, path)
            time.sleep(0.2 * 2**attempt)
        raise AssertionError("the loop returns or raises")

    def stream(self, path: str, body: dict) -> Iterator[dict]:
        """The JSON objects of a server-sent-event stream; closing the iterator closes the connection."""
        import httpx

        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    self._json(response, path)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments and pings
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        return
                    yield self._parse(data, path)
        except httpx.ConnectError:
            raise self._down() from None
        except httpx.TimeoutException:
            raise self._too_slow(path) from None
        except httpx.TransportError:
            raise RemoteError(f"{self.url} stopped answering in the middle of an answer (did the server die?)") from None

    def _down(self) -> ServerDown:
        return ServerDown(f"cannot connect to {self.url}: connection refused (is the server running?)")

    def _too_slow(self, path: str) -> RemoteError:
        return RemoteError(f"{self.url}: {path} did not answer within {self.timeout:g} s (raise --timeout?)")

    def _json(self, response, path: str) -> Any:
        if response.status_code >= 400:
            detail = _error_detail(response.text)
            hint = " (check the API key given by --api-key-env)" if response.status_code in (401, 403) else ""
            raise RemoteError(f"{self.url}: {path} answered HTTP {response.status_code}: {detail}{hint}", response.status_code)
        return self._parse(response.text, path)

    def _parse(self, text: str, path: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise RemoteError(f"{self.url}: {path} answered with something that is not JSON: {text[:60]!r}") from None


def _error_detail(text: str) -> str:
    """The server's own error message (OpenAI, FastAPI or plain text shape), on one short line."""
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body))
        body = err.get("message", err) if isinstance(err, dict) else err
    line = str(body).strip().splitlines()[0] if str(body).strip() else "(empty body)"
    return line[:200]


def shape_error(url: str, path: str) -> RemoteError:
    """A server answered JSON, but not in the shape its dialect documents."""
    return RemoteError(f"{url}: {path} answered in an unexpected shape (not the server alignterm expected?)")


class RemoteTokenizer(TokenizerBase):
    """A server's tokenizer, through its tokenize/detokenize endpoints."""

    lists_vocab = False
    vocab_size = None  # servers do not tell; nothing here needs it

    def __init__(self, dialect, chat_template: str | None) -> None:
        self._dialect = dialect
        self.bos_id = dialect.bos_id
        self.eos_ids = frozenset({dialect.END})
        self.chat_template = chat_template

    def _encode_plain(self, text: str) -> list[int]:
        return self._dialect.tokenize(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self._dialect.detokenize(list(ids))

    def piece(self, token_id: int) -> str:
        return self._dialect.piece(token_id)

    def chat_ids(self, query: str) -> list[int]:
        messages = [{"role": "user", "content": query}]
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

    def __init__(self, dialect) -> None:
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


class RemoteBackend:
    """One model on an OpenAI-compatible server: vLLM and llama-cpp-python's server generate and
    score given tokens; llama.cpp's own server only generates (`can_score` False)."""

    kind = "remote"
    can_batch = False
    samples_locally = False  # a server samples on its side
    # each scoring call re-sends the whole context (its one KV slot also serves the other side's
    # generation), so a live run scores this many tokens per call, not one
    score_chunk = 8

    def __init__(self, name: str, dialect, tokenizer: RemoteTokenizer, context_length: int) -> None:
        self.name = name
        self.dialect = dialect
        self.can_score = dialect.can_score
        self.tokenizer = tokenizer
        self.chat_template = tokenizer.chat_template
        self.context_length = context_length

    @classmethod
    def load(cls, spec: ModelSpec) -> RemoteBackend:
        """Connect, pick the served model, detect the server's dialect."""
        from .remote_dialects import detect

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

    def generate(self, prompt_ids: Sequence[int], params: DecodingParams) -> Iterator[Step]:
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
