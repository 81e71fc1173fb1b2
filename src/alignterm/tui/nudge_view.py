"""NudgeView: issue #20 in the app: the nudged answer in the base pane (ctrl+n), γ, and the URIAL ablation.

A controller for the comparison screen, as `lens.py` is for the lens (docs/decisions.md,
"Nudged decoding" and "URIAL ablation", "In the app"). The model host runs both as runs
(cancellable with Esc, replaced by any other run); this class starts them, takes their events
from the screen's inbox drain and tells the widgets what to draw: the base pane the nudged
tokens (drawn by who chose them), the stats bar the engine's NudgeSummary, the ablation
dialog the engine's Ablation. It measures nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alignterm.engine.errors import AlignTermError
from alignterm.engine.events import NudgedToken, NudgeFinished, NudgeResult
from alignterm.engine.nudge import DEFAULT_GAMMA, summarize_nudge

from .conversation import without_history
from .model_host import AblationDone, RunFailed
from .widgets.answer_pane import PROMPT
from .widgets.legend import Legend
from .widgets.status_line import CompareState

if TYPE_CHECKING:
    from alignterm.engine.ablation import Ablation

    from .screens.compare import CompareScreen


class NudgeView:
    """Whether the base pane shows the nudged answer, at which γ, and the nudge or ablation running."""

    def __init__(self, screen: CompareScreen) -> None:
        self.screen = screen
        self.on = False  # the base pane shows the nudged answer
        self.gamma = DEFAULT_GAMMA
        self.tokens: list[NudgedToken] = []
        self.result: NudgeResult | None = None
        self.busy: str | None = None  # "nudge" or "ablation": the host's run is one of ours
        self.ablation: Ablation | None = None  # the last ablation shown

    # ---- the nudged view ---------------------------------------------------------------

    def toggle(self) -> None:
        """ctrl+n: the nudged answer for the current query in place of the base answer, or back."""
        if self.on:
            self.leave()
        else:
            self.start()

    def set_gamma(self, gamma: float | None) -> None:
        """A new γ (None: unchanged): the nudged side runs again at it; the comparison stays."""
        if gamma is None:
            return
        self.gamma = gamma
        self.start()

    def step_gamma(self, step: float) -> None:
        self.set_gamma(round(min(1.0, max(0.0, self.gamma + step)), 2))

    def _refused(self) -> str | None:
        """Why nothing can start now (None: it can)."""
        screen = self.screen
        if screen.host.comparator is None:
            return "This needs the models, and none are loaded."
        # a nudged run of ours is replaced (a new γ); any other work is let finish
        if (screen.running and self.busy != "nudge") or screen.state is CompareState.RESCORING:
            return "The models are busy: let the run finish, or cancel it (Esc)."
        return None

    def start(self) -> None:
        """Run the nudged answer for the query box's query (else the result's) at γ."""
        screen = self.screen
        result = screen.result
        typed = screen.query_input.value  # as a run takes it, unstripped: the same prompt as the comparison's
        query = typed if typed.strip() else (result.query if result is not None else "")
        why = self._refused() or (None if query.strip() else "Type a query first.")
        if why is not None:
            screen.notify(why, title="Nudge", severity="warning")
            return
        # the comparison of the same query gives the summary's similarities to its two answers
        reference = result if result is not None and result.query == query and not result.cancelled else None
        try:
            screen.host.start_nudge(query, screen.urial_text, self.gamma, reference)
        except AlignTermError as err:
            screen.notify(str(err), title="Nudge", severity="error", timeout=10)
            return
        self.on, self.busy, self.tokens, self.result = True, "nudge", [], None
        note = without_history(result, "The nudged answer")
        if note is not None:
            screen.notify(note, title="Nudge")
        screen.query_one(Legend).nudged = True
        pane = screen.pane("base")
        pane.clear()
        pane.placeholder = "waiting for the first nudged token…"
        pane.border_title = f"Nudged (γ = {self.gamma:.2f})"
        pane.border_subtitle = "…"
        screen.inspector.show(None)
        self._show_summary()
        screen.state = CompareState.RUNNING

    def leave(self) -> None:
        """Back to the base answer (a nudged run still going is dropped)."""
        screen = self.screen
        if self.busy == "nudge":
            screen.host.drop()
        self.reset()
        pane = screen.pane("base")
        screen.title_base_pane()
        if screen.result is not None:
            screen.show_result(screen.result)
        else:
            pane.clear()
            pane.border_subtitle = ""
            pane.placeholder = PROMPT
        screen.inspector.show(pane.cursor_token)
        screen.state = screen.at_rest()

    def reset(self) -> None:
        """Forget the nudged answer (a new run, a cleared screen, an opened session)."""
        self.on, self.busy, self.tokens, self.result = False, None, [], None
        self.screen.stats.nudged = None
        self.screen.query_one(Legend).nudged = False

    def _show_summary(self) -> None:
        """The stats bar's Nudged row: the engine's summary of the tokens so far, or of the result."""
        summary = self.result.summary if self.result is not None else summarize_nudge(self.tokens, "", None)
        self.screen.stats.nudged = (self.gamma, summary)
        share = f"aligned {summary.aligned_share:.0%} · {summary.n} tok"
        if self.result is not None:
            share = f"{self.result.finish_reason or 'cancelled'} · {share}"
        self.screen.pane("base").border_subtitle = share

    # ---- the host's events -----------------------------------------------------------

    def take(self, event: object, pending: list[NudgedToken]) -> bool:
        """Handle `event` if it is ours (nudged tokens are gathered in `pending` for `flush`)."""
        if isinstance(event, NudgedToken):
            pending.append(event)
        elif isinstance(event, NudgeFinished):
            self.flush(pending)
            self._finished(event.result)
        elif isinstance(event, AblationDone):
            self._ablated(event.ablation)
        elif isinstance(event, RunFailed) and self.busy is not None:
            self._failed(event.message)
        else:
            return False
        return True

    def flush(self, pending: list[NudgedToken]) -> None:
        """Draw the nudged tokens taken since the last flush."""
        if pending and self.busy == "nudge":
            self.tokens += pending
            self.screen.pane("base").extend(pending)
            self._show_summary()
        pending.clear()

    def _finished(self, result: NudgeResult) -> None:
        screen = self.screen
        screen.host.run_ended()
        self.busy, self.result = None, result
        pane = screen.pane("base")
        if list(pane.tokens) != result.tokens:
            pane.set_tokens(result.tokens)
        pane.placeholder = "(cancelled before the first token)" if result.cancelled else "(no answer)"
        self._show_summary()
        screen.state = screen.at_rest()
        if result.cancelled:
            screen.notify("Cancelled: the partial nudged answer is kept.", title="Nudge")

    def _failed(self, message: str) -> None:
        screen = self.screen
        screen.host.run_ended()
        if self.busy == "nudge":
            screen.pane("base").border_subtitle = "failed"
        title = "Nudge" if self.busy == "nudge" else "URIAL ablation"
        self.busy = None
        screen.notify(message, title=title, severity="error", timeout=10)
        screen.state = screen.at_rest()

    # ---- the URIAL ablation ------------------------------------------------------------

    def start_ablation(self) -> None:
        """Score the finished aligned answer under each part of the run's URIAL prompt (engine/ablation.py)."""
        screen = self.screen
        result = screen.result
        if result is None or result.cancelled:
            why: str | None = "The URIAL ablation takes a finished comparison apart: run a query first."
        elif result.urial is None:
            why = "The comparison used the bare prompt: there is no URIAL prompt to ablate. Choose one (F2) and run."
        else:
            why = self._refused()
        if why is not None:
            screen.notify(why, title="URIAL ablation", severity="warning")
            return
        assert result is not None
        screen.host.start_ablation(result)
        self.busy = "ablation"
        screen.state = CompareState.RUNNING
        screen.status_line.detail = "URIAL ablation"

    def _ablated(self, ablation: Ablation | None) -> None:
        from .screens.nudge import AblationScreen

        screen = self.screen
        screen.host.run_ended()
        self.busy = None
        screen.state = screen.at_rest()
        if ablation is None:
            screen.notify("URIAL ablation cancelled.", title="URIAL ablation")
            return
        self.ablation = ablation
        screen.app.push_screen(AblationScreen(ablation), self._mark_recovered)

    def _mark_recovered(self, positions: tuple[int, ...] | None) -> None:
        """Mark a variant's recovered tokens in the aligned pane (the lens's marks come back with the lens)."""
        if positions is None:
            return
        pane = self.screen.pane("aligned")
        chosen = set(positions)
        pane.set_recovered([t.position in chosen for t in pane.tokens])
