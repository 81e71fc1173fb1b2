"""The Backend protocol every model adapter implements, and `load_backend` to pick one.

A backend owns one model and its tokenizer. It can generate (one token at a time, each
with the full next-token logits it was drawn from) and it hands out incremental scorers
that keep a KV cache, so the tokens of the other model's answer are scored with one
cached step each, or one forward pass for a whole finished sequence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import AlignTermError, BadInput
from .token_text import lone_token_text

if TYPE_CHECKING:  # torch stays a lazy import: the TUI must paint before it loads
    import torch

BACKENDS = ("auto", "hf", "gguf", "remote")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSpec:
    """How to load one model: what the user typed plus the loading options."""

    spec: str
    backend: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    chat_template: str | None = None  # a Jinja file that overrides the tokenizer's template
    n_gpu_layers: int | None = None  # GGUF: None = all layers when llama.cpp has GPU support
    n_ctx: int | None = None  # GGUF: context size (None = the model's, at most 4096); remote: the server's
    served_name: str | None = None  # remote: the model's name on the server (None = the one it serves)
    api_key_env: str | None = None  # remote: the environment variable holding the API key (never the key)
    timeout: float = 60.0  # remote: seconds to wait for each answer of the server


@dataclass(frozen=True)
class DecodingParams:
    """Decoding settings; the defaults are the URIAL paper's greedy setting."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass
class CancelToken:
    """Set by the consumer to stop a run between two tokens."""

    _event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class Tokenizer(Protocol):
    """The slice of a tokenizer the engine needs."""

    vocab_size: int
    bos_id: int | None  # the BOS a prompt starts with; None where the tokenizer adds none
    eos_ids: frozenset[int]  # every id that ends an answer
    lists_vocab: bool  # False where vocab() is unavailable (a server): vocabularies are compared by a probe

    def encode(self, text: str, *, add_bos: bool = False) -> list[int]:
        """Text to ids; special-token strings in `text` map to their ids."""

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text, exactly as the model would write it."""

    def piece(self, token_id: int) -> str:
        """One token's text out of context (a top-k entry): its own bytes, `<0xHH>` for a partial character."""

    def vocab(self) -> list[str]:
        """Every token's string form by id (padded output rows excluded), to compare two tokenizers."""

    def special_ids(self) -> frozenset[int]:
        """Ids of special, added or reserved tokens: the ones a fine-tune may rename (engine/vocab.py)."""

    def chat_ids(self, query: str) -> list[int]:
        """The prompt ids of `query` in the model's chat template, ready for the answer."""


class TokenizerBase:
    """What every adapter's tokenizer shares: BOS handling and the lone-token text table.

    An adapter supplies `_encode_plain(text)` (no special tokens added), `decode` and
    `_token_bytes(id)`.
    """

    vocab_size: int
    bos_id: int | None
    lists_vocab = True  # False for a server, which cannot list its vocabulary (see engine/vocab.py)

    def _encode_plain(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def encode(self, text: str, *, add_bos: bool = False) -> list[int]:
        ids = self._encode_plain(text)
        if add_bos and self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids = [self.bos_id, *ids]
        return ids

    def _token_bytes(self, token_id: int) -> bytes:
        """The bytes one token is shown by alone (a word piece with its leading space; a byte token as `<0xE4>`)."""
        raise NotImplementedError

    def piece(self, token_id: int) -> str:
        if token_id not in self._pieces:
            self._pieces[token_id] = lone_token_text(self._token_bytes(token_id)) if 0 <= token_id < self.vocab_size else ""
        return self._pieces[token_id]

    @cached_property
    def _pieces(self) -> dict[int, str]:
        return {}


class Scorer(Protocol):
    """An incremental scorer over one growing context, with a KV cache."""

    def set_context(self, ids: Sequence[int]) -> None:
        """Make the context `ids`, reusing the longest cached common prefix."""

    def score(self, ids: Sequence[int]) -> torch.Tensor:
        """Append `ids`; return float32 logits [len(ids), V], row t = the distribution that predicted ids[t]."""

    @property
    def next_logits(self) -> torch.Tensor:
        """Logits [V] predicting the token after the context."""

    @property
    def length(self) -> int:
        """Number of context tokens held."""


class CachedScorer:
    """The shared half of every backend's scorer: context bookkeeping and prefix reuse.

    An adapter supplies `_feed(ids, last_only) -> logits [len(ids), V]` (appending to its KV
    cache; [1, V] for the last token only when `last_only`, as a prompt needs: a 400-token
    prompt's full logits over a 152k vocabulary would be 240 MB), `_crop(keep)` (drop cached
    tokens from position `keep` on) and `_reset()`.
    """

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._last: torch.Tensor | None = None  # [V] logits predicting the next token

    def _feed(self, ids: Sequence[int], last_only: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def _crop(self, keep: int) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    @property
    def length(self) -> int:
        return len(self._ids)

    @property
    def next_logits(self) -> torch.Tensor:
        if self._last is None:
            raise ValueError("set_context before scoring")
        return self._last

    def set_context(self, ids: Sequence[int]) -> None:
        ids = list(ids)
        if not ids:
            raise ValueError("a scoring context needs at least one token")
        if ids == self._ids and self._last is not None:
            return
        keep = 0
        for a, b in zip(self._ids, ids):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(ids) - 1)  # re-feed at least one token to get the last row
        if keep == 0:
            self._reset()
            self._ids = []
        elif len(self._ids) > keep:
            self._crop(keep)
            del self._ids[keep:]
        self._last = self._append(ids[keep:], last_only=True)[-1]

    def score(self, ids: Sequence[int]) -> torch.Tensor:
        import torch

        first = self.next_logits
        rows = self._append(ids)
        out = torch.cat([first.unsqueeze(0), rows[:-1]])
        self._last = rows[-1]
        return out

    def _append(self, ids: Sequence[int], last_only: bool = False) -> torch.Tensor:
        rows = self._feed(ids, last_only)
        self._ids.extend(ids)
        return rows


@dataclass(frozen=True)
class TopK:
    """A next-token distribution known only in part, as a server reports it (remote backends).

    `ids` / `logprobs` are the k most likely tokens, most likely first (fewer when the
    server's answer could not be mapped to ids); `token` is the token that was generated
    or scored there, with its log-probability, and its rank when the server reports it.
    """

    k: int
    ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    token: int
    token_logprob: float
    token_rank: int | None = None
    token_rank_exact: bool = True  # False: token_rank is a lower bound

    def rank(self) -> tuple[int, bool]:
        """The token's rank and whether it is exact; outside the known top-k it is a lower bound (k + 1)."""
        if self.token_rank is not None:
            return self.token_rank, self.token_rank_exact
        above = sum(lp > self.token_logprob for lp in self.logprobs)
        return above + 1, self.token in self.ids


@dataclass(frozen=True)
class Step:
    """One generated token and what it was drawn from: float32 logits [V], or a server's TopK."""

    id: int
    logits: torch.Tensor | TopK


class Backend(Protocol):
    """One loaded model behind one interface, whatever serves it.

    What an adapter can do is declared here (the `can_*` flags, `score_chunk`), never worked
    out from which adapter it is (architecture §5).
    """

    name: str
    kind: str  # "hf", "gguf" or "remote": for display and records only
    tokenizer: Tokenizer
    chat_template: str | None
    context_length: int
    can_score: bool  # False: given tokens cannot be scored (llama.cpp's own server), only generated
    # generate_batch(prompt_ids, params, seeds): several samples of one prompt in lockstep (diversity mode)
    can_batch: bool
    # the engine samples from the model's full logits; False: the server samples (its rows are top-k only)
    samples_locally: bool
    # answer tokens a live run scores per call: 1 with a local KV cache; a server re-reads the context per call
    score_chunk: int

    def generate(self, prompt_ids: Sequence[int], params: DecodingParams) -> Iterator[Step]:
        """Yield tokens one at a time until the consumer stops iterating or the budget ends."""

    def scorer(self) -> Scorer:
        """A new incremental scorer with its own KV cache."""

    def embed(self, ids: Sequence[int]) -> torch.Tensor:
        """The mean over positions of the last hidden layer for `ids`: float32 [hidden]; or EmbeddingsUnavailable."""


class EmbeddingsUnavailable(AlignTermError):
    """This backend cannot give hidden states (a server): embedding measures are null, never invented."""


def resolve_kind(spec: ModelSpec) -> str:
    """Which adapter serves `spec`: the explicit --backend, or a guess from its form."""
    if spec.backend != "auto":
        if spec.backend not in BACKENDS:
            raise BadInput(f"unknown backend {spec.backend!r} (choose from {', '.join(BACKENDS)})")
        return spec.backend
    if spec.spec.startswith(("http://", "https://")):
        return "remote"
    if spec.spec.lower().endswith(".gguf"):
        return "gguf"
    return "hf"


def load_backend(spec: ModelSpec, progress: Callable[[str], None] | None = None) -> Backend:
    """Load the model named by `spec` with the adapter that serves it; `progress(text)` hears how far
    a download or a weight load is, where the adapter can tell (transformers)."""
    kind = resolve_kind(spec)
    if kind == "hf":
        from .hf import HFBackend

        return HFBackend.load(spec, progress)
    if kind == "gguf":
        from .gguf import GGUFBackend

        return GGUFBackend.load(spec)
    from .remote import RemoteBackend

    return RemoteBackend.load(spec)


def load_pair(base: ModelSpec, aligned: ModelSpec, progress: Callable[[str, str], None] | None = None) -> tuple[Backend, Backend]:
    """Load both models and check they share a vocabulary; `progress(step, detail)` hears each step."""
    b, a, _ = load_checked_pair(base, aligned, progress)
    return b, a


def load_checked_pair(base: ModelSpec, aligned: ModelSpec, progress: Callable[[str, str], None] | None = None):
    """`load_pair`, with the vocabulary the two share (engine/vocab.py: SharedVocab)."""
    from .vocab import shared_vocab

    say = progress or (lambda step, detail="": None)
    loaded = []
    for model, spec in (("base", base), ("aligned", aligned)):
        step = f"loading the {model} model…"
        say(step, spec.spec)
        loaded.append(load_backend(spec, lambda text, step=step: say(f"{step} {text}", "")))
    b, a = loaded
    say("checking the vocabularies match…", "")
    return b, a, shared_vocab(b, a)


def existing_path(spec: str) -> Path | None:
    """The local path `spec` names, or None for a hub id / URL."""
    p = Path(spec).expanduser()
    return p if p.exists() else None
