"""Figure 3: re-scoring the aligned answer after a URIAL edit in the last example, against a cold re-score.

A warm re-score crops the base model's KV cache back to where the edited prompt first
differs and feeds only the tail plus the answer; the cold one feeds the whole prompt.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.loading import load_pair
from alignterm.engine.prompts import load_urial
from alignterm.engine.values import DecodingParams, ModelSpec

from .common import random_llama, report

TARGET = 0.30
ANSWER_TOKENS = 256


def _edits(urial: str) -> tuple[str, str, str]:
    """The prompt, an edit in its last example, and an edit at its very start (forcing a cold pass)."""
    last = urial.rstrip().rfind("I hope this helps")
    assert last > 0, "the default URIAL prompt's last example ends with 'I hope this helps'"
    late = urial[:last] + "I really hope this helps" + urial[last + len("I hope this helps"):]
    early = urial.replace("# Instruction", "# Instructions", 1)
    return urial, late, early


def _longer(urial: str, copies: int) -> str:
    """The default prompt with its examples repeated: URIAL's own prompts are about 1,000 tokens."""
    head, sep, examples = urial.partition("# Query:")
    return head + sep + ("\n" + sep).join([examples] * copies)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(repeat: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # a random model: it answers the full 256 tokens without stopping early
        dirs = [random_llama(Path(tmp) / n, hidden=256, layers=6, intermediate=768, heads=4, seed=s, max_positions=2048)
                for n, s in (("base", 0), ("aligned", 1))]
        comparator = Comparator(*load_pair(ModelSpec(str(dirs[0]), device="cpu"), ModelSpec(str(dirs[1]), device="cpu")))
        for copies in (1, 3):
            _one(comparator, _longer(load_urial("default"), copies), repeat)


def _one(comparator: Comparator, prompt: str, repeat: int) -> None:
    urial, late, early = _edits(prompt)
    result = comparator.compare(
        ComparisonRequest("Tell me about Kasla.", urial, DecodingParams(max_new_tokens=ANSWER_TOKENS), live=False)
    )
    comparator.rescore_aligned(result, urial)
    warm, cold = [], []
    for _ in range(repeat):
        comparator.rescore_aligned(result, urial)  # the cache holds the unedited prompt, as in the app
        warm.append(_timed(lambda: comparator.rescore_aligned(result, late)))
        cold.append(_timed(lambda: comparator.rescore_aligned(result, early)))
    n, p = len(result.aligned.tokens), len(result.base.prompt_ids)
    ours, raw = sorted(warm)[repeat // 2], sorted(cold)[repeat // 2]
    report(f"3 re-score {n} tokens, {p}-token prompt, late edit", ours, raw, f"<= {TARGET:.2f}x",
           ok=ours / raw <= TARGET)
