"""A streaming tally of one side's tokens: counts by category, shares, mean KL.

While a run streams, the app's stats bar shows this tally of the tokens released so far;
when the run ends the engine's `SideSummary` (shift.py, the numbers the CLI reports)
replaces it. The two have the same reading interface (`n`, `scored`, a count per category
as an attribute, `share`, `mean_kl`) so a display draws either without knowing which
(architecture §2: widgets draw, the engine counts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .events import Category, TokenEvent


@dataclass
class SideTally:
    """The tokens of one side seen so far; shares are of the scored ones, as in SideSummary."""

    n: int = 0
    unshifted: int = 0
    marginal: int = 0
    shifted: int = 0
    unscored: int = 0  # tokens the other model could not score (shift None)
    kl_sum: float = 0.0
    kl_n: int = 0  # tokens with a KL (None where only a server's top-k is known)

    def add(self, token: TokenEvent) -> None:
        self.n += 1
        if token.shift is None:
            self.unscored += 1
        else:
            setattr(self, token.shift, getattr(self, token.shift) + 1)
        if token.kl is not None:
            self.kl_sum += token.kl
            self.kl_n += 1

    def add_many(self, tokens: Iterable[TokenEvent]) -> None:
        for token in tokens:
            self.add(token)

    @property
    def scored(self) -> int:
        return self.n - self.unscored

    def share(self, category: Category) -> float:
        """Fraction of the scored tokens in `category` (0.0 when none was scored)."""
        count: int = getattr(self, category)
        return count / self.scored if self.scored else 0.0

    @property
    def mean_kl(self) -> float | None:
        """Mean KL(P_aligned ‖ P_base) in nats over the tokens that have one."""
        return self.kl_sum / self.kl_n if self.kl_n else None
