"""Loading a model, or a pair, with the adapter that serves it (architecture §5).

The only engine module that knows every adapter: it imports each one lazily, when a spec
asks for it, so the protocol module (engine/backend.py) imports none and torch,
llama-cpp-python and httpx load only when needed.
"""

from __future__ import annotations

from collections.abc import Callable

from .backend import Backend
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

    return GGUFBackend.load(spec)


def _load_remote(spec: ModelSpec, progress: Callable[[str], None] | None) -> Backend:
    from .remote import RemoteBackend

    return RemoteBackend.load(spec)


# every adapter by the name --backend gives it (engine/values.py: BACKENDS); a new backend is a new entry
_LOADERS: dict[str, Callable[[ModelSpec, Callable[[str], None] | None], Backend]] = {
    "hf": _load_hf, "gguf": _load_gguf, "remote": _load_remote,
}


def load_pair(base: ModelSpec, aligned: ModelSpec, progress: Callable[[str, str], None] | None = None) -> tuple[Backend, Backend]:
    """Load both models and check they share a vocabulary; `progress(step, detail)` hears each step."""
    b, a, _ = load_checked_pair(base, aligned, progress)
    return b, a


def _prefixed(say: Callable[[str, str], None], step: str) -> Callable[[str], None]:
    """An adapter's progress text, heard as part of `step`."""
    def hear(text: str) -> None:
        say(f"{step} {text}", "")

    return hear


def load_checked_pair(base: ModelSpec, aligned: ModelSpec,
                      progress: Callable[[str, str], None] | None = None) -> tuple[Backend, Backend, SharedVocab]:
    """`load_pair`, with the vocabulary the two share (engine/vocab.py: SharedVocab)."""
    def quiet(step: str, detail: str = "") -> None:
        pass

    say = progress or quiet
    loaded = []
    for model, spec in (("base", base), ("aligned", aligned)):
        step = f"loading the {model} model…"
        say(step, spec.spec)
        loaded.append(load_backend(spec, _prefixed(say, step)))
    b, a = loaded
    say("checking the vocabularies match…", "")
    return b, a, shared_vocab(b, a)
