"""Token events from two models' rows along one answer: the per-token measures of architecture §1.

`measure` is the one entry point: the answer's tokens, their rows under their own model and,
where it can score given tokens, under the other model (engine/rows.py). Where both rows are
full logits every measure is exact over the vocabulary the pair shares; where either model is a
server's top-k, ranks past k are lower bounds and KL is unknown; where the other model cannot
score at all, every cross-model measure is None. A token the pair does not share
(engine/vocab.py) gets no measure under the other model: unavailable, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from . import shift
from .events import Side, TokenEvent, TopEntry
from .rows import Rows
from .vocab import SharedVocab

if TYPE_CHECKING:
    import torch


class _Measured(NamedTuple):
    """One token's measures, before they become a TokenEvent."""

    logprob: float
    top: list[tuple[int, float]]  # (id, logprob) under the own model
    other_logprob: float | None = None
    other_rank: int | None = None
    rank_exact: bool = True
    kl: float | None = None
    other_top: list[tuple[int, float]] = []


def measure(side: Side, start: int, ids: Sequence[int], texts: Sequence[str], own: Rows, other: Rows | None,
            vocab: SharedVocab, top_k: int) -> list[TokenEvent]:
    """Token events for `ids` (positions start..) with their `texts`: `own` rows are the answering
    model's, `other` the other model's along the same answer (None: it cannot score given tokens)."""
    if other is not None and own.full is not None and other.full is not None:
        measured = _full(side, ids, own.full, other.full, vocab, top_k)
    else:
        measured = _top_k(ids, own, other, top_k)
    own_piece, other_piece = vocab.pieces[side], vocab.pieces[_other(side)]
    events = []
    for i, (tid, text, m) in enumerate(zip(ids, texts, measured)):
        if not vocab.shared(tid) or m.other_rank is None:
            m = m._replace(other_logprob=None, other_rank=None, kl=None, other_top=[])
        events.append(TokenEvent(
            side=side,
            position=start + i,
            id=tid,
            text=text,
            logprob=m.logprob,
            other_logprob=m.other_logprob,
            other_rank=m.other_rank,
            shift=shift.category(m.other_rank) if m.other_rank is not None else None,
            kl=m.kl,
            top=tuple(TopEntry(a, own_piece(a), b) for a, b in m.top),
            other_top=tuple(TopEntry(a, other_piece(a), b) for a, b in m.other_top),
            rank_exact=m.rank_exact,
        ))
    return events


def _other(side: Side) -> Side:
    return "base" if side == "aligned" else "aligned"


def _full(side: Side, ids: Sequence[int], own: torch.Tensor, other: torch.Tensor, vocab: SharedVocab,
          top_k: int) -> list[_Measured]:
    """Every measure, exact: both models' full logits [T, V]."""
    import torch

    # Output layers may be padded past the tokenizers: a model's own measures are over its
    # tokens, the cross-model ones (rank, KL) over the ids both models share.
    own, other = own[..., : vocab.sizes[side]], other[..., : vocab.sizes[_other(side)]].to(own.device)
    width = min(own.shape[-1], other.shape[-1], vocab.size)
    ids_own = torch.tensor(list(ids), device=own.device)
    ids_t = ids_own.clamp(max=width - 1)  # a foreign id has no measure under the other model: nulled in measure
    own_lp = torch.log_softmax(own, -1)
    other_lp = torch.log_softmax(other, -1)
    shared_own, shared_other = own[..., :width], other[..., :width]
    ranks = shift.ranks(shared_other, ids_t)
    # KL(P_align || P_base) on both sides: for the base side "other" is the aligned model
    kl = (shift.kl_divergence(shared_own, shared_other) if side == "aligned"
          else shift.kl_divergence(shared_other, shared_own))
    own_top = own_lp.topk(min(top_k, own_lp.shape[-1]), dim=-1)
    other_top = other_lp.topk(min(top_k, other_lp.shape[-1]), dim=-1)
    columns = zip(
        own_lp.gather(-1, ids_own[:, None])[:, 0].tolist(),
        own_top.indices.tolist(),
        own_top.values.tolist(),
        other_lp.gather(-1, ids_t[:, None])[:, 0].tolist(),
        ranks.tolist(),
        kl.tolist(),
        other_top.indices.tolist(),
        other_top.values.tolist(),
    )
    return [_Measured(lp, list(zip(ti, tv)), olp, rank, True, d, list(zip(oi, ov)))
            for lp, ti, tv, olp, rank, d, oi, ov in columns]


def _top_k(ids: Sequence[int], own: Rows, other: Rows | None, top_k: int) -> list[_Measured]:
    """Measures where either model is known only by a server's top-k (ranks beyond k are bounds,
    KL is None), or where the other model cannot score (`other` None: its measures are None)."""
    mine = own.as_topk(ids, top_k)
    if other is None:
        return [_Measured(m.token_logprob, list(zip(m.ids[:top_k], m.logprobs))) for m in mine]
    measured = []
    for m, theirs in zip(mine, other.as_topk(ids, top_k)):
        rank, exact = theirs.rank()
        measured.append(_Measured(m.token_logprob, list(zip(m.ids[:top_k], m.logprobs)), theirs.token_logprob,
                                  rank, exact, None, list(zip(theirs.ids[:top_k], theirs.logprobs))))
    return measured
