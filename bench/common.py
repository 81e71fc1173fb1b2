"""Shared pieces of the benchmarks: timing, reporting, and models built on the spot."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS: list[dict] = []


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The median wall time of `repeat` calls after one warm-up call (seconds)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def report(name: str, ours: float, raw: float | None = None, target: str = "", unit: str = "s",
           ok: bool | None = None) -> None:
    """One line per figure: ours, the raw library's, their ratio, the target and whether it is met."""
    parts = [f"{name:<46}", f"ours {ours:9.4f} {unit}"]
    ratio = None
    if raw is not None:
        ratio = ours / raw if raw else float("inf")
        parts += [f"raw {raw:9.4f} {unit}", f"ratio {ratio:5.2f}x"]
    if target:
        parts.append(f"target {target}")
    if ok is not None:
        parts.append("MET" if ok else "MISSED")
    print("  ".join(parts), flush=True)
    RESULTS.append({"name": name, "ours": ours, "raw": raw, "ratio": ratio, "unit": unit, "target": target, "ok": ok})


def machine() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def save(path: Path) -> None:
    path.write_text(json.dumps(RESULTS, indent=1))


def random_llama(folder: Path, *, hidden: int, layers: int, intermediate: int, heads: int, vocab: int | None = None,
                 max_positions: int = 1024, seed: int = 0) -> Path:
    """A randomly initialised Llama with the demo pair's tokenizer (vocab padded to `vocab` rows)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from alignterm.engine.demo import ALIGNED_DIR

    tok = AutoTokenizer.from_pretrained(ALIGNED_DIR)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab or len(tok), hidden_size=hidden, intermediate_size=intermediate,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                      max_position_embeddings=max_positions, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
