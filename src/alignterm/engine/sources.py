"""Where a model spec points: a server URL, a GGUF file, a local folder or a hub id.

One set of rules for the loader (engine/loading.py), the transformers adapter, the analyze
records and the sessions' "is that model still here" check, so they never disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BadInput
from .values import BACKENDS, ModelSpec

# "org/name" or "name": what a hub id looks like; anything else is meant as a local path
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def existing_path(spec: str) -> Path | None:
    """The local path `spec` names, or None for a hub id / URL."""
    p = Path(spec).expanduser()
    return p if p.exists() else None


def model_name(spec: ModelSpec) -> str:
    """The spec as given; a local path resolved, so any tool can load the same weights (analyze records)."""
    path = existing_path(spec.spec)
    return str(path.resolve()) if path is not None else spec.spec


def looks_like_hub_id(spec: str) -> bool:
    """True when `spec`, not being an existing path, is meant as a hub id ("org/name" or "name")."""
    return not spec.startswith((".", "/", "~")) and _HUB_ID.match(spec) is not None


def resolve_kind(spec: ModelSpec) -> str:
    """Which adapter serves `spec`: the explicit --backend, or a guess from its form."""
    if spec.backend != "auto":
        if spec.backend not in BACKENDS:
            raise BadInput(f"unknown backend {spec.backend!r} (choose from {', '.join(BACKENDS)})")
        return spec.backend
    if is_url(spec.spec):
        return "remote"
    if spec.spec.lower().endswith(".gguf"):
        return "gguf"
    return "hf"
