"""The query-set figures of the URIAL paper's TDS analysis (architecture §1, §3), pooled over
every comparison of an `analyze` run.

Three **lenses** read the same runs: the aligned answer under base + bare prompt (`bare`, the
paper's TDS), the aligned answer under base + URIAL (`urial`, only when the run used a URIAL
prompt) and the base answer under the aligned model (`reverse`: what alignment suppresses).
Per lens: the category shares, mean KL, a rank histogram, the shifted and marginal share at
each answer position (with the number of answers that long) and the most often shifted
tokens; per query a row with its shares and closure; and the pooled closure. With `analyze
--nudge`, also the nudged answers' figures (engine/nudge.py): the aligned model's share of their
tokens, where it wrote them, and their similarity to the two answers. Writers only draw these
figures; nothing here knows about output formats.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from .events import CATEGORIES, Category, ComparisonResult, NudgeResult, NudgeSummary, TokenEvent
from .shift import closure_of
from .tally import SideTally

Lens = Literal["bare", "urial", "reverse"]
# base first, as everywhere the two sides are shown (docs/decisions.md, first-run UI choices)
LENSES: tuple[Lens, Lens, Lens] = ("reverse", "urial", "bare")
LENS_TITLES: dict[Lens, str] = {
    "reverse": "base | aligned",
    "urial": "aligned | base+URIAL",
    "bare": "aligned | base bare",
}
# The rank histogram's bins: (label, lowest rank, highest rank or None for no bound).
RANK_BINS: tuple[tuple[str, int, int | None], ...] = (
    ("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4-10", 4, 10), ("11-100", 11, 100), (">100", 101, None),
)
TOP_N = 10


def lens_tokens(result: ComparisonResult, lens: Lens) -> list[TokenEvent] | None:
    """The tokens one lens reads from a comparison; None for `urial` in a bare-prompt run."""
    if lens == "bare":
        return result.bare_tokens
    if lens == "urial":
        return result.aligned.tokens if result.urial is not None else None
    return result.base.tokens


def rank_bin(rank: int) -> int:
    """The index in RANK_BINS of the bin holding `rank`."""
    return next(i for i, (_, low, high) in enumerate(RANK_BINS) if rank >= low and (high is None or rank <= high))


@dataclass(frozen=True)
class PositionPoint:
    """One answer position pooled over the queries: how many answers had a scored token there, and
    how many of those tokens were shifted or marginal."""

    position: int
    answers: int
    shifted: int
    marginal: int

    def share(self, category: Category) -> float:
        return (self.shifted if category == "shifted" else self.marginal) / self.answers if self.answers else 0.0


@dataclass(frozen=True)
class TokenRow:
    """A token text that was shifted: how often, out of how many scored occurrences, and its mean
    rank and mean KL over the shifted occurrences (the rank is a lower bound where `rank_exact`
    is False: a server's top-k did not hold the token)."""

    text: str
    shifted: int
    occurrences: int
    mean_rank: float
    mean_kl: float | None
    rank_exact: bool

    @property
    def shifted_share(self) -> float:
        return self.shifted / self.occurrences


@dataclass(frozen=True)
class LensFigures:
    """Everything one lens shows over the query set."""

    answers: int
    n: int
    unscored: int
    counts: dict[Category, int]
    mean_kl: float | None
    ranks: tuple[int, ...]  # scored tokens per RANK_BINS bin, ranks known exactly
    rank_bounds: int  # scored tokens whose rank is only a lower bound (beyond a server's top-k)
    curve: tuple[PositionPoint, ...]
    top: tuple[TokenRow, ...]

    @property
    def scored(self) -> int:
        return self.n - self.unscored

    def share(self, category: Category) -> float:
        return self.counts[category] / self.scored if self.scored else 0.0


@dataclass(frozen=True)
class QueryRow:
    """One query of the set: its shifted share per lens and its closure."""

    index: int
    id: Any  # the input line's "id", as given
    query: str
    tokens: dict[str, int]  # answer length per side
    shifted: dict[Lens, float | None]  # shifted share per lens; None where the lens is absent or unscored
    closure: float | None
    nudged: NudgeSummary | None = None  # its nudged answer's summary (analyze --nudge)


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


@dataclass(frozen=True)
class NudgeFigures:
    """The nudged answers over the query set (one per query, all at one γ): the mean per answer of
    the aligned model's token share and of the word-Jaccard similarities, and per answer position
    how many answers reach it and in how many the aligned model chose that token."""

    gamma: float
    answers: int
    tokens: int
    aligned: int
    mean_aligned_share: float | None
    mean_similarity_aligned: float | None
    mean_similarity_base: float | None
    reaching: tuple[int, ...]  # index: answer position
    aligned_at: tuple[int, ...]


@dataclass(frozen=True)
class Aggregate:
    """The query-set report: the figures of each lens present, per-query rows, pooled closure, and
    the nudged answers' figures (None without --nudge)."""

    lenses: dict[Lens, LensFigures]
    queries: tuple[QueryRow, ...]
    closure: float | None
    nudged: NudgeFigures | None = None


class LensTally:
    """One lens's figures accumulated answer by answer (a long query set is never held in memory:
    only the shifted tokens are kept, for the top-token table)."""

    def __init__(self) -> None:
        self.answers = self.bounds = 0
        self.tally = SideTally()  # counts by category and mean KL, as the app's stats bar keeps them
        self.ranks = [0] * len(RANK_BINS)
        self.at: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.seen: Counter[str] = Counter()
        self.shifted: dict[str, list[TokenEvent]] = defaultdict(list)

    def add(self, tokens: Iterable[TokenEvent]) -> None:
        """One more answer's tokens."""
        self.answers += 1
        for t in tokens:
            self.tally.add(t)
            if t.shift is None or t.other_rank is None:
                continue
            if t.rank_exact:
                self.ranks[rank_bin(t.other_rank)] += 1
            else:
                self.bounds += 1
            point = self.at[t.position]
            point[0] += 1
            point[1] += t.shift == "shifted"
            point[2] += t.shift == "marginal"
            self.seen[t.text] += 1
            if t.shift == "shifted":
                self.shifted[t.text].append(t)

    def figures(self, top_n: int = TOP_N) -> LensFigures:
        top = sorted(self.shifted.items(), key=lambda kv: -len(kv[1]))[:top_n]  # stable: first-shifted order on ties
        return LensFigures(
            answers=self.answers,
            n=self.tally.n,
            unscored=self.tally.unscored,
            counts={c: getattr(self.tally, c) for c in CATEGORIES},
            mean_kl=self.tally.mean_kl,
            ranks=tuple(self.ranks),
            rank_bounds=self.bounds,
            curve=tuple(PositionPoint(pos, *self.at[pos]) for pos in sorted(self.at)),
            top=tuple(_token_row(text, shifted, self.seen[text]) for text, shifted in top),
        )


def _token_row(text: str, shifted: list[TokenEvent], occurrences: int) -> TokenRow:
    kls = [t.kl for t in shifted if t.kl is not None]
    return TokenRow(
        text=text,
        shifted=len(shifted),
        occurrences=occurrences,
        mean_rank=sum(t.other_rank or 0 for t in shifted) / len(shifted),
        mean_kl=sum(kls) / len(kls) if kls else None,
        rank_exact=all(t.rank_exact for t in shifted),
    )


def _shifted_share(tokens: Sequence[TokenEvent] | None) -> float | None:
    if tokens is None:
        return None
    scored = [t for t in tokens if t.shift is not None]
    return sum(t.shift == "shifted" for t in scored) / len(scored) if scored else None


class Report:
    """The query-set report, fed one comparison at a time (`add`), read with `aggregate()`."""

    def __init__(self) -> None:
        self._lenses: dict[Lens, LensTally] = {}
        self._rows: list[QueryRow] = []
        self._gamma: float | None = None
        self._reaching: list[int] = []  # per nudged answer position: answers that long, and aligned tokens there
        self._aligned_at: list[int] = []

    def add(self, result: ComparisonResult, query_id: Any = None) -> None:
        """One more query's comparison; `query_id` is the query's own id from its input line, if any."""
        for lens in LENSES:
            tokens = lens_tokens(result, lens)
            if tokens is not None:
                self._lenses.setdefault(lens, LensTally()).add(tokens)
        self._rows.append(QueryRow(
            index=len(self._rows),
            id=query_id,
            query=result.query,
            tokens={"base": len(result.base.tokens), "aligned": len(result.aligned.tokens)},
            shifted={lens: _shifted_share(lens_tokens(result, lens)) for lens in LENSES},
            closure=result.summary.closure,
        ))

    def add_nudge(self, result: NudgeResult) -> None:
        """The nudged answer of the query last added (its comparison first, with `add`)."""
        self._gamma = result.gamma
        self._rows[-1] = replace(self._rows[-1], nudged=result.summary)
        n = result.summary.n
        grow = n - len(self._reaching)
        if grow > 0:
            self._reaching += [0] * grow
            self._aligned_at += [0] * grow
        for i in range(n):
            self._reaching[i] += 1
        for i in result.summary.aligned_positions:
            self._aligned_at[i] += 1

    def aggregate(self) -> Aggregate:
        lenses = {lens: tally.figures() for lens, tally in self._lenses.items()}
        closure = None
        if "urial" in lenses:
            bare, urial = lenses["bare"], lenses["urial"]
            closure = closure_of(bare.share("shifted") if bare.scored else None,
                                 urial.share("shifted") if urial.scored else None)
        return Aggregate(lenses=lenses, queries=tuple(self._rows), closure=closure, nudged=self._nudge_figures())

    def _nudge_figures(self) -> NudgeFigures | None:
        nudged = [row.nudged for row in self._rows if row.nudged is not None]
        if self._gamma is None:
            return None
        return NudgeFigures(
            gamma=self._gamma,
            answers=len(nudged),
            tokens=sum(s.n for s in nudged),
            aligned=sum(s.aligned for s in nudged),
            mean_aligned_share=_mean([s.aligned_share if s.n else None for s in nudged]),
            mean_similarity_aligned=_mean([s.similarity_aligned for s in nudged]),
            mean_similarity_base=_mean([s.similarity_base for s in nudged]),
            reaching=tuple(self._reaching),
            aligned_at=tuple(self._aligned_at),
        )
