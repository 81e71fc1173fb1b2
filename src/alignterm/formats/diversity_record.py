"""`analyze --samples` records: one JSON object per query, and the measure rows every view shows.

A record holds the query (and the input line's other keys), the models, the decoding
params the samples were drawn with, every side's samples (text, seed, tokens, finish
reason, hint) and `DiversityMeasures.as_dict()`. The pretty table and the HTML page both
read records, through `measure_rows`, so all views show the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..engine.samples import SAMPLE_SIDES as SIDES
from ..engine.samples import SamplesResult

SIDE_TITLES = {"aligned": "aligned", "base_urial": "base+URIAL", "base_hint": "base+URIAL+hint"}


def samples_record(result: SamplesResult, *, base_model: str, aligned_model: str, urial: str | None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Lines record of one query's samples and measures."""
    return {
        "query": result.request.query,
        **(extra or {}),
        "base_model": base_model,
        "aligned_model": aligned_model,
        "urial": urial,
        "params": asdict(result.params),
        "samples_per_side": result.request.n,
        "hint": result.request.hint,
        "embedder": result.embedder,
        "embedding_note": result.embedding_note,
        "cancelled": result.cancelled,
        "samples": {side: [{"text": s.text, "seed": s.seed, "n_tokens": s.n_tokens,
                            "finish_reason": s.finish_reason, **({"hint": s.hint} if s.hint is not None else {})}
                           for s in result.samples[side]] for side in SIDES},
        "measures": result.measures.as_dict(),
    }


def side_titles(record: dict[str, Any]) -> dict[str, str]:
    """Column titles; "URIAL" reads "bare" when the run had none."""
    if record.get("urial"):
        return dict(SIDE_TITLES)
    return {s: t.replace("URIAL", "bare") for s, t in SIDE_TITLES.items()}


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "—" if v is None else format(v, fmt)


def _pair(stats: dict | None) -> str:
    return "—" if stats is None else f"{stats['mean']:.3f}/{stats['max']:.3f}"


def measure_rows(record: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, one cell per side) for every measure of a record, in reading order."""
    m = record["measures"]
    rows: list[tuple[str, list[str]]] = []
    for key, name in (("jaccard", "Jaccard"), ("embedding", "hidden cosine"), ("sentence_embedding", "sentence cosine")):
        sim = m.get(key)
        if sim is None:
            if key == "embedding":
                rows.append((f"{name}: unavailable", ["—"] * len(SIDES)))
            continue
        rows.append((f"{name} within, mean/max", [_pair(sim["within"][s]) for s in SIDES]))
        rows.append((f"{name} vs aligned, mean/max",
                     ["—"] + [_pair(sim["across"][f"aligned~{s}"]) for s in SIDES[1:]]))
    sides = m["sides"]
    for n in (1, 2, 3):
        rows.append((f"distinct-{n}", [_num(sides[s][f"distinct_{n}"]) for s in SIDES]))
    rows.append(("distinct openings", [_num(sides[s]["distinct_prefix"], ".2f") for s in SIDES]))
    rows.append(("words, mean ± std", [
        "—" if sides[s]["length"] is None else f"{sides[s]['length']['mean']:.1f} ± {sides[s]['length']['std']:.1f}"
        for s in SIDES]))
    rows.append(("coverage of aligned words", ["—"] + [_num(m["coverage"][s]["mean"]) for s in SIDES[1:]]))
    return rows


def headline(record: dict[str, Any]) -> str:
    """Lake et al.'s comparison in one line (word Jaccard)."""
    h = record["measures"]["headline"]["jaccard"]
    return (f"similarity to aligned samples (word Jaccard): aligned {_num(h['aligned~aligned'])} · "
            f"base + hint {_num(h['base_hint~aligned'])} · base {_num(h['base_urial~aligned'])}")
