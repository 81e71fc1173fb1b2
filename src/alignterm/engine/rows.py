"""One model's next-token distributions along an answer, whatever serves it (architecture §5).

A local model gives full logits [T, V]; a server gives its top-k per position (`TopK`,
engine/values.py). `Rows` holds either, so a run, a re-score and the measures
(engine/measure.py) handle one type; which form it holds is a property of the rows
(`full`), never of which adapter made them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import shift
from .values import Step, TopK

if TYPE_CHECKING:
    import torch


class Rows:
    """T next-token distributions, row t = the one that predicted the answer's token t: `full`
    logits [T, V] (float32), or, from a server, `topk` rows only (ranks past k are bounds, KL is
    unknown)."""

    __slots__ = ("full", "topk")

    def __init__(self, full: torch.Tensor | None = None, topk: Sequence[TopK] = ()) -> None:
        self.full = full
        self.topk = list(topk)

    @classmethod
    def of(cls, rows: torch.Tensor | Sequence[TopK]) -> Rows:
        """What a scorer's `score` returns: a tensor [T, V], or a server's TopK rows."""
        if isinstance(rows, Sequence):
            return cls(topk=rows)
        return cls(full=rows)

    @classmethod
    def of_row(cls, row: torch.Tensor | TopK) -> Rows:
        """One row: logits [V] or a TopK (a scorer's `next_logits`)."""
        if isinstance(row, TopK):
            return cls(topk=[row])
        return cls(full=row.unsqueeze(0))

    @classmethod
    def of_steps(cls, steps: Sequence[Step]) -> Rows:
        """The rows generated steps were drawn from."""
        import torch

        logits = [s.logits for s in steps]
        topk = [r for r in logits if isinstance(r, TopK)]
        if topk:
            return cls(topk=topk)
        return cls(full=torch.stack([r for r in logits if not isinstance(r, TopK)]))

    @classmethod
    def cat(cls, parts: Sequence[Rows]) -> Rows:
        """Consecutive rows as one (all parts of one model, so of one form)."""
        import torch

        if parts and parts[0].full is not None:
            return cls(full=torch.cat([p.full for p in parts if p.full is not None]))
        return cls(topk=[row for p in parts for row in p.topk])

    def __len__(self) -> int:
        return self.full.shape[0] if self.full is not None else len(self.topk)

    def as_topk(self, ids: Sequence[int], k: int) -> list[TopK]:
        """These rows as TopK rows for the tokens `ids` (full rows: their top k, with exact ranks), to
        pair with a server's top-k."""
        if self.full is None:
            return self.topk
        import torch

        logits = self.full
        ids_t = torch.tensor(list(ids), device=logits.device)
        lp = torch.log_softmax(logits.float(), -1)
        top = lp.topk(min(k, lp.shape[-1]), dim=-1)
        chosen = lp.gather(-1, ids_t[:, None])[:, 0].tolist()
        rows = zip(ids, chosen, shift.ranks(logits, ids_t).tolist(), top.indices.tolist(), top.values.tolist())
        return [TopK(k, tuple(ti), tuple(tv), tid, c, r) for tid, c, r, ti, tv in rows]
