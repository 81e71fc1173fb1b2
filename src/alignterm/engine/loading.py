"""Loading a model, or a pair, with the adapter that serves it (architecture §5).

The only engine module that knows every adapter: it imports each one lazily, when a spec
asks for it, so the protocol module (engine/backend.py) imports none and torch,
llama-cpp-python and httpx load only when needed.
"""

from __future__ import annotations

from collections.abc import Callable

from .backend import Backend
from .errors import BadInput
from .events import LoadingStep, PairProgress, Side
from .memory import Placement, check_fit
from .sources import resolve_kind
from .values import ModelSpec
from .vocab import SharedVocab, shared_vocab


def load_backend(spec: ModelSpec, progress: Callable[[str], None] | None = None) -> Backend:
    """Load the model named by `spec` with the adapter that serves it; `progress(text)` hears how far
    a download or a weight load is, where the adapter can tell (transformers)."""
    return _LOADERS[resolve_kind(spec)](spec, progress)


def _load_hf(spec: ModelSpec, progress: Callable[[str], None] | None) -> Backend:
    from .hf import HFBackend

    return HFBackend.load(spec, progress)


def _load_gguf(spec: ModelSpec, progress: Callable[[str], None] | None) -> Backend:
    from .gguf import GGUFBackend

    return GGUFBackend.load(spec, progress)


def _load_remote(spec: ModelSpec, progress: Callable[[str], None] | None) -> Backend:
    from .remote import RemoteBackend

    return RemoteBackend.load(spec)


# every adapter by the name --backend gives it (engine/values.py: BACKENDS); a new backend is a new entry
_LOADERS: dict[str, Callable[[ModelSpec, Callable[[str], None] | None], Backend]] = {
    "hf": _load_hf, "gguf": _load_gguf, "remote": _load_remote,
}


def _place_hf(spec: ModelSpec, side: Side) -> Placement | None:
    from .hf import HFBackend

    return HFBackend.placement(spec, side)


# the adapters that can tell, before loading, where a model goes and how much memory it takes there
_PLACERS: dict[str, Callable[[ModelSpec, Side], Placement | None]] = {"hf": _place_hf}


def check_memory(base: ModelSpec, aligned: ModelSpec, say: PairProgress) -> None:
    """Refuse, before any weight is read, a pair that cannot fit in memory where it is to load
    (engine/memory.py); warn through `say` where it barely fits."""
    placements = []
    sides: tuple[tuple[Side, ModelSpec], ...] = (("base", base), ("aligned", aligned))
    for side, spec in sides:
        kind = resolve_kind(spec)
        if spec.quantize is not None and kind != "hf":
            raise BadInput(f"--quantize is for Hugging Face model folders; {spec.spec} is served by the {kind} "
                           "backend (a GGUF file comes quantized; a server quantizes on its side)")
        placer = _PLACERS.get(kind)
        placement = placer(spec, side) if placer else None
        if placement is not None:
            placements.append(placement)
    for warning in check_fit(placements):
        say(LoadingStep(warning, warning=True))


def load_pair(base: ModelSpec, aligned: ModelSpec, progress: PairProgress | None = None) -> tuple[Backend, Backend]:
    """Load both models and check they share a vocabulary; `progress` hears each step."""
    b, a, _ = load_checked_pair(base, aligned, progress)
    return b, a


def _load_side(side: Side, spec: ModelSpec, say: PairProgress) -> Backend:
    """One side of the pair, its adapter's progress heard as that side's loading step."""
    start = f"loading the {side} model…"
    say(LoadingStep(start, side, spec.spec))

    def hear(text: str) -> None:
        say(LoadingStep(f"{start} {text}", side))

    return load_backend(spec, hear)


def load_checked_pair(base: ModelSpec, aligned: ModelSpec,
                      progress: PairProgress | None = None) -> tuple[Backend, Backend, SharedVocab]:
    """`load_pair`, with the vocabulary the two share (engine/vocab.py: SharedVocab)."""
    def quiet(step: LoadingStep) -> None:
        pass

    say = progress or quiet
    check_memory(base, aligned, say)
    b = _load_side("base", base, say)
    a = _load_side("aligned", aligned, say)
    say(LoadingStep("checking the vocabularies match…"))
    return b, a, shared_vocab(b, a)
