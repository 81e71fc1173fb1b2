"""A comparison result as the JSON object of architecture §3 (one line of `analyze` output)."""

from __future__ import annotations

from typing import Any

from ..engine.ablation import Ablation
from ..engine.aggregate import LENS_TITLES, RANK_BINS, Aggregate, LensFigures, NudgeFigures
from ..engine.events import (
    CATEGORIES,
    ComparisonResult,
    NudgeResult,
    NudgeSummary,
    SideResult,
    SideSummary,
    TokenEvent,
    TopEntry,
)


def _top(entries: tuple[TopEntry, ...]) -> list[dict[str, Any]]:
    return [{"id": e.id, "text": e.text, "logprob": e.logprob} for e in entries]


def token_record(t: TokenEvent, top_k: int) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": t.id,
        "text": t.text,
        "logprob": t.logprob,
        "other_rank": t.other_rank,
        "other_logprob": t.other_logprob,
        "shift": t.shift,
        "kl": t.kl,
    }
    if not t.rank_exact:  # a server's top-k did not hold the token: other_rank is the bound k + 1
        rec["other_rank_exact"] = False
    if top_k:
        rec["top"] = _top(t.top[:top_k])
        rec["other_top"] = _top(t.other_top[:top_k])
    return rec


RUNAWAY_HINT = ("the base model ran to the token limit without closing its answer: shorten the query, "
                "raise --max-new-tokens, or fix the URIAL prompt's format")


def side_record(side: SideResult, top_k: int, *, base: bool = False) -> dict[str, Any]:
    """One side of architecture §3; a `base` side also says whether it ran away (hit the token limit
    before its stop string or end of sequence), with a hint when it did."""
    rec: dict[str, Any] = {
        "prompt_ids": side.prompt_ids,
        "text": side.text,
        "finish_reason": side.finish_reason,
        "tokens": [token_record(t, top_k) for t in side.tokens],
    }
    if side.forced:  # a fork: its first tokens were forced (a "force" field of the query line)
        rec["forced"] = side.forced
    if base:
        rec["runaway"] = side.finish_reason == "length"
        if rec["runaway"]:
            rec["hint"] = RUNAWAY_HINT
    return rec


def summary_record(s: SideSummary) -> dict[str, Any]:
    return {
        **s.counts(),
        "shares": {c: s.share(c) for c in CATEGORIES},
        "shifted_by_position": {"bucket_size": s.bucket_size, "shifted": list(s.shifted_by_bucket),
                                "tokens": list(s.tokens_by_bucket)},
        "top_shifted": [[text, n] for text, n in s.top_shifted],
        "mean_kl": s.mean_kl,
    }


def exactness(result: ComparisonResult) -> dict[str, bool]:
    """Which measures are exact: all of them over a full vocabulary; with a server's top-k, ranks
    beyond k are bounds (their category is still exact: shifted) and KL is unavailable; `scored`
    is False when a model could not score the other's tokens at all (their measures are null)."""
    tokens = [*result.aligned.tokens, *result.base.tokens]
    scored = [t for t in tokens if t.scored]
    return {
        "other_rank": all(t.rank_exact for t in scored),
        "shift": all(t.rank_exact or (t.other_rank is not None and t.other_rank > 3) for t in scored),
        "kl": all(t.kl is not None for t in tokens),
        "scored": len(scored) == len(tokens),
    }


def result_record(
    result: ComparisonResult,
    *,
    base_model: str,
    aligned_model: str,
    urial: str | None,
    top_k: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The architecture §3 object; `extra` carries the input line's other keys (e.g. "id")."""
    summary: dict[str, Any] = {
        "aligned": summary_record(result.summary.aligned),
        "base": summary_record(result.summary.base),
    }
    if result.summary.aligned_bare is not None:
        summary["aligned_bare"] = summary_record(result.summary.aligned_bare)
        summary["closure"] = result.summary.closure
    record: dict[str, Any] = dict(extra or {})
    record.update(
        {
            "query": result.query,
            "base_model": base_model,
            "aligned_model": aligned_model,
            "urial": urial,
            "params": {
                "max_new_tokens": result.params.max_new_tokens,
                "temperature": result.params.temperature,
                "top_p": result.params.top_p,
                "repetition_penalty": result.params.repetition_penalty,
                "seed": result.params.seed,
            },
            "aligned": side_record(result.aligned, top_k),
            "base": side_record(result.base, top_k, base=True),
            "summary": summary,
            "exact": exactness(result),
        }
    )
    if result.history:  # a conversation's later turn: the turns before it, as both prompts hold them
        record["history"] = [{"user": user, "assistant": answer} for user, answer in result.history]
    if result.aligned_bare is not None:  # architecture §3: closure can be recomputed from the output alone
        record["aligned_bare"] = {"prompt_ids": result.bare_prompt_ids,
                                  "tokens": [token_record(t, top_k) for t in result.aligned_bare]}
    return record


def turn_prefix(record: dict[str, Any]) -> str:
    """What a view puts before a record's query: its turn, for a conversation's record."""
    return f"Turn {record['turn']} · " if "turn" in record else ""


def ablation_record(ablation: Ablation) -> dict[str, Any]:
    """`analyze --urial-ablation`'s block of a query's record: each example's query, then per variant
    the examples it holds, its counts and shifted share, its closure and the positions it recovered."""
    return {
        "examples": [{"number": k, "query": q} for k, q in enumerate(ablation.example_queries, 1)],
        "variants": [{"name": s.name, "examples": list(s.examples), **s.summary.counts(),
                      "shifted_share": s.shifted_share, "closure": s.closure, "recovered": list(s.recovered)}
                     for s in ablation.scores],
    }
def nudge_summary_record(s: NudgeSummary) -> dict[str, Any]:
    return {"n": s.n, "aligned": s.aligned, "aligned_share": s.aligned_share,
            "aligned_positions": list(s.aligned_positions),
            "similarity": {"aligned": s.similarity_aligned, "base": s.similarity_base}}


def nudge_record(result: NudgeResult, top_k: int = 0) -> dict[str, Any]:
    """A query's nudged answer (`analyze --nudge`, the record's "nudged" block): γ, the answer and
    every token with who chose it and the base's top-1 probability there (and, with `top_k`, the
    base's top-k and the aligned model's where it was consulted), and the summary."""
    tokens = []
    for t in result.tokens:
        rec: dict[str, Any] = {"id": t.id, "text": t.text, "chosen_by": t.chosen_by, "base_top1": t.base_top1}
        if top_k:
            rec["top"] = _top(t.top[:top_k])
            rec["aligned_top"] = _top(t.aligned_top[:top_k])
        tokens.append(rec)
    return {"gamma": result.gamma, "prompt_ids": result.prompt_ids, "text": result.text,
            "finish_reason": result.finish_reason, "tokens": tokens, "summary": nudge_summary_record(result.summary)}


def nudge_figures_record(f: NudgeFigures) -> dict[str, Any]:
    return {"gamma": f.gamma, "answers": f.answers, "tokens": f.tokens, "aligned": f.aligned,
            "mean_aligned_share": f.mean_aligned_share,
            "mean_similarity": {"aligned": f.mean_similarity_aligned, "base": f.mean_similarity_base},
            "by_position": {"answers": list(f.reaching), "aligned": list(f.aligned_at)}}


def lens_record(f: LensFigures) -> dict[str, Any]:
    return {
        "answers": f.answers,
        "n": f.n,
        "unscored": f.unscored,
        **{c: f.counts[c] for c in CATEGORIES},
        "shares": {c: f.share(c) for c in CATEGORIES},
        "mean_kl": f.mean_kl,
        "rank_histogram": {"bins": [label for label, _, _ in RANK_BINS], "tokens": list(f.ranks),
                           "rank_bounds": f.rank_bounds},
        "by_position": {"position": [p.position for p in f.curve], "answers": [p.answers for p in f.curve],
                        "shifted": [p.shifted for p in f.curve], "marginal": [p.marginal for p in f.curve]},
        "top_shifted": [{"text": r.text, "shifted": r.shifted, "occurrences": r.occurrences,
                         "shifted_share": r.shifted_share, "mean_rank": r.mean_rank, "mean_kl": r.mean_kl,
                         "rank_exact": r.rank_exact} for r in f.top],
    }


def aggregate_record(agg: Aggregate, **run: Any) -> dict[str, Any]:
    """The query-set report as one JSON object (`analyze --summary`; read by the pretty and HTML
    writers): `run` carries the models, the prompt's name and the parameters."""
    record = {
        "type": "summary",
        **run,
        "queries": len(agg.queries),
        "closure": agg.closure,
        "lenses": {lens: {"title": LENS_TITLES[lens], **lens_record(f)} for lens, f in agg.lenses.items()},
        "per_query": [{"index": q.index, "id": q.id, "query": q.query, "tokens": q.tokens, "shifted": q.shifted,
                       "closure": q.closure,
                       **({} if q.nudged is None else {"nudged": nudge_summary_record(q.nudged)})}
                      for q in agg.queries],
    }
    if agg.nudged is not None:
        record["nudged"] = nudge_figures_record(agg.nudged)
    return record
