"""The Backend protocol every model adapter implements (architecture §5).

A backend owns one model and its tokenizer. It can generate (one token at a time, each
with the full next-token logits it was drawn from) and it hands out incremental scorers
that keep a KV cache, so the tokens of the other model's answer are scored with one
cached step each, or one forward pass for a whole finished sequence.

This module imports no adapter: the value types are in engine/values.py and picking an
adapter for a spec is engine/loading.py.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from .errors import AlignTermError
from .token_text import lone_token_text
from .values import DecodingParams, Step, TopK

if TYPE_CHECKING:  # torch stays a lazy import: the TUI must paint before it loads
    import torch


class Tokenizer(Protocol):
    """The slice of a tokenizer the engine needs."""

    # read-only properties, so an adapter's narrower attribute (vocab_size: int) still implements them

    @property
    def vocab_size(self) -> int | None:
        """How many tokens it has (padded output rows excluded); None: a server, which does not tell."""

    @property
    def bos_id(self) -> int | None:
        """The BOS a prompt starts with; None where the tokenizer adds none."""

    @property
    def eos_ids(self) -> frozenset[int]:
        """Every id that ends an answer."""

    @property
    def lists_vocab(self) -> bool:
        """False where vocab() is unavailable (a server): vocabularies are compared by a probe."""

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

    def chat_ids(self, query: str, history: Sequence[tuple[str, str]] = ()) -> list[int]:
        """The prompt ids of `query`, after the earlier (user, assistant) turns of `history`, in the
        model's chat template, ready for the answer."""


class TokenizerBase:
    """What every adapter's tokenizer shares: BOS handling and the lone-token text table.

    An adapter supplies `_encode_plain(text)` (no special tokens added), `decode` and
    `_token_bytes(id)`.
    """

    vocab_size: int | None
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
            self._pieces[token_id] = lone_token_text(self._token_bytes(token_id)) if 0 <= token_id < (self.vocab_size or 0) else ""
        return self._pieces[token_id]

    @cached_property
    def _pieces(self) -> dict[int, str]:
        return {}


class Scorer(Protocol):
    """An incremental scorer over one growing context, with a KV cache."""

    def set_context(self, ids: Sequence[int]) -> None:
        """Make the context `ids`, reusing the longest cached common prefix."""

    def score(self, ids: Sequence[int]) -> torch.Tensor | list[TopK]:
        """Append `ids`; return float32 logits [len(ids), V] (a server: TopK rows), row t = the
        distribution that predicted ids[t]."""

    @property
    def next_logits(self) -> torch.Tensor | TopK:
        """Logits [V] (a server: a TopK) predicting the token after the context."""

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


class Backend(Protocol):
    """One loaded model behind one interface, whatever serves it.

    What an adapter can do is declared here (the `can_*` flags, `score_chunk`), never worked
    out from which adapter it is (architecture §5).
    """

    name: str
    kind: str  # "hf", "gguf" or "remote": for display and records only

    @property
    def tokenizer(self) -> Tokenizer:
        """Its tokenizer (read-only, so an adapter's own tokenizer class implements it)."""

    chat_template: str | None
    context_length: int
    can_score: bool  # False: given tokens cannot be scored (llama.cpp's own server), only generated
    can_batch: bool  # generate_batch works: several samples of one prompt in lockstep (diversity mode)
    # the engine samples from the model's full logits; False: the server samples (its rows are top-k only)
    samples_locally: bool
    # answer tokens a live run scores per call: 1 with a local KV cache; a server re-reads the context per call
    score_chunk: int
    # the torch devices holding its weights, for the GPU memory line (empty: torch holds none — llama.cpp, a server)
    devices: frozenset[str]

    def generate(self, prompt_ids: Sequence[int], params: DecodingParams) -> Generator[Step, None, None]:
        """Yield tokens one at a time until the consumer stops iterating or the budget ends; closing the
        generator ends the generation at once (a server's stream is closed)."""

    def generate_batch(self, prompt_ids: Sequence[int], params: DecodingParams,
                       seeds: Sequence[int]) -> Generator[list[int], None, None]:
        """One token per sample per step, sample r drawn with seed seeds[r]; only where `can_batch`
        (elsewhere it raises CannotBatch)."""

    def scorer(self) -> Scorer:
        """A new incremental scorer with its own KV cache."""

    def embed(self, ids: Sequence[int]) -> torch.Tensor:
        """The mean over positions of the last hidden layer for `ids`: float32 [hidden]; or EmbeddingsUnavailable."""


class CannotBatch(AlignTermError):
    """generate_batch on a backend that declares `can_batch` False: a caller's mistake."""


class OneSampleAtATime:
    """What an adapter that declares `can_batch` False shares: generate_batch refuses."""

    name: str
    can_batch = False

    def generate_batch(self, prompt_ids: Sequence[int], params: DecodingParams,
                       seeds: Sequence[int]) -> Generator[list[int], None, None]:
        raise CannotBatch(f"{self.name} draws one sample at a time (can_batch is False)")


class EmbeddingsUnavailable(AlignTermError):
    """This backend cannot give hidden states (a server): embedding measures are null, never invented."""
