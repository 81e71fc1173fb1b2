"""AlignedViews: the aligned answer scored two ways, and which of them its pane shows (the lens).

docs/decisions.md, "the lens": the aligned tokens under base + the bare prompt (the
paper's TDS) and under base + the URIAL prompt. A run streams the URIAL scoring token by
token and the bare one in `BareScores` chunks; in a run on the bare prompt the two are one.
In the URIAL lens the tokens the prompt recovered are marked (engine.shift.recovered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignterm.engine.events import ComparisonResult, TokenEvent


class AlignedViews:
    """Both scorings of the aligned answer on screen, and the lens ("bare" or "urial")."""

    def __init__(self) -> None:
        self.lens = "bare"
        self.bare: list[TokenEvent] = []
        self.urial: list[TokenEvent] = []
        self.run_bare = False  # the run on screen used the bare prompt: both views are one

    def showing(self, view: str) -> bool:
        """Whether the pane shows `view` ("bare" or "urial"); a bare run's two views are one."""
        return self.lens == view or self.run_bare

    @property
    def shown(self) -> list[TokenEvent]:
        return self.bare if self.lens == "bare" else self.urial

    def start_run(self, run_bare: bool, kept_bare: list[TokenEvent]) -> None:
        """A run starts (`kept_bare`: the bare scoring a base re-run keeps)."""
        self.run_bare, self.bare, self.urial = run_bare, kept_bare, []

    def show_result(self, result: ComparisonResult) -> None:
        self.run_bare = result.urial is None
        self.bare, self.urial = list(result.bare_tokens), list(result.aligned.tokens)

    def clear(self) -> None:
        self.bare, self.urial = [], []

    def streamed(self, token: TokenEvent) -> bool:
        """An aligned token of the run; whether the pane shows it now (else it comes with the bare scores)."""
        self.urial.append(token)
        if self.run_bare:
            self.bare.append(token)
        return not self.showing("bare")

    def bare_scored(self, tokens: tuple[TokenEvent, ...] | list[TokenEvent]) -> bool:
        """Bare-prompt scores of aligned tokens; whether the pane shows them now."""
        self.bare.extend(tokens)
        return self.showing("bare")

    def recovered(self) -> list[bool]:
        """Per token, whether the URIAL prompt recovered it (marked in the URIAL lens only)."""
        from alignterm.engine.shift import recovered

        return recovered(self.bare, self.urial) if self.lens == "urial" else []
