"""URIAL ablation (issue #20) on the demo pair: the cached ablation against each variant scored cold.

Both start from a fresh comparator (empty caches). The ablation scores every variant on its one
base scorer, in an order where the next prompt re-feeds only the examples past the common
prefix, and reads the aligned answer under the aligned model once; the cold side re-scores each
variant on a fresh comparator, so it feeds every prompt whole and re-reads the aligned answer
once per variant, as separate re-scores would.
"""

from __future__ import annotations

import statistics
import time

from alignterm.engine.ablation import ablate, variants
from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR
from alignterm.engine.prompts import load_urial
from alignterm.engine.values import DecodingParams, ModelSpec

from .common import report

QUERY = "Where was Drarre from?"


def run(repeat: int = 5) -> None:
    comparator = Comparator.load(ModelSpec(str(BASE_DIR), device="cpu"), ModelSpec(str(ALIGNED_DIR), device="cpu"))
    urial = load_urial("default")
    result = comparator.compare(ComparisonRequest(QUERY, urial, DecodingParams(max_new_tokens=128), live=False))
    chosen = variants(urial)

    def fresh() -> Comparator:
        return Comparator(comparator.base, comparator.aligned, vocab=comparator.vocab)

    def cached() -> None:
        ablate(fresh(), result)

    def cold() -> None:
        for v in chosen:
            fresh().rescore_aligned(result, v.urial)

    cached(), cold()  # warm-up
    ours, raw = [], []
    for _ in range(repeat):  # interleaved, so a busy machine slows both alike
        ours.append(_timed(cached))
        raw.append(_timed(cold))
    n, p = len(result.aligned.tokens), len(result.base.prompt_ids)
    report(f"ablation: {len(chosen)} variants, {n} tokens, {p}-token prompt", statistics.median(ours),
           statistics.median(raw))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
