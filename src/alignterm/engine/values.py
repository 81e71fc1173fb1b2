"""The value types every layer passes around: what to load, how to decode, how to stop a run,
and one generated token with the distribution it was drawn from.

They live apart from the adapter protocol (engine/backend.py) and the loading (engine/loading.py),
so events, sessions and the CLI can name them without importing either (architecture §2).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch stays a lazy import: the TUI must paint before it loads
    import torch

BACKENDS = ("auto", "hf", "gguf", "remote")
QUANTIZE = ("8bit", "4bit")  # --quantize: bitsandbytes on the HF path (CUDA only)
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSpec:
    """How to load one model: what the user typed plus the loading options."""

    spec: str
    backend: str = "auto"
    device: str = "auto"  # engine/devices.py: auto, cpu, mps, cuda, cuda:N or gpus
    dtype: str = "auto"
    quantize: str | None = None  # HF: "8bit" or "4bit" (bitsandbytes); None = the dtype's full weights
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
    """One generated token and what it was drawn from: float32 logits [V], or a server's TopK
    (engine/rows.py reads both as one row type)."""

    id: int
    logits: torch.Tensor | TopK
