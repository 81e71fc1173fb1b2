"""Figure 11: loading a pair on a real 128k vocabulary (Llama 3's), against the raw libraries.

The pairs are the test suite's real-family models (tests/families/build.py: tiny weights on
Llama 3's tokenizer and chat template, built once into the test cache). What alignterm adds to
the raw load: the vocabulary check (each side's token texts), the chat template and, for a
GGUF, the trained context length read before the context is made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alignterm.engine.loading import load_pair
from alignterm.engine.values import ModelSpec

from .common import best_of, report

TARGET = 3.0


def run() -> None:
    import llama_cpp
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.families.build import build

    _, families = build(log=lambda line: None)
    llama3 = families["llama3"]
    _figure("GGUF", (llama3.gguf_base, llama3.gguf_aligned),
            lambda path: llama_cpp.Llama(str(path), n_ctx=1024, verbose=False))
    _figure("HF", (llama3.hf_base, llama3.hf_aligned),
            lambda path: (AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)))


def _figure(label: str, files: tuple[Path, Path], raw_load: Callable[[Path], object]) -> None:
    specs = [ModelSpec(str(path), device="cpu") for path in files]
    ours = best_of(lambda: load_pair(*specs))
    raw = best_of(lambda: [raw_load(path) for path in files])
    report(f"load a {label} pair, Llama 3's 128k vocabulary", ours, raw, f"< {TARGET:.0f}x", ok=ours / raw < TARGET)
