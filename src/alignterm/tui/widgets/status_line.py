"""The status line at the right of the query bar: what the comparison screen is doing.

The screen's work is one `CompareState`; this widget holds it in a reactive and draws it,
with a spinner, the load step and its elapsed time while loading, and the token count
while running (architecture §2: widgets draw what they are told); in a conversation it
says which turn is on screen or running ("turn 2 · done").
"""

from __future__ import annotations

import time
from enum import Enum, auto

from textual.reactive import reactive
from textual.widget import Widget

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class CompareState(Enum):
    """What the comparison screen is doing; the status line says it (STATUS)."""

    LOADING = auto()  # the models load
    LOAD_FAILED = auto()
    READ_ONLY = auto()  # an opened session whose models are missing or failed to load
    REPLAY = auto()  # an opened session, no model loaded (yet)
    READY = auto()  # models loaded, nothing run
    RUNNING = auto()
    RESCORING = auto()  # the finished aligned answer is re-scored under an edited URIAL prompt
    DONE = auto()
    CANCELLED = auto()


# The status line of each state at rest (LOADING and RUNNING draw a spinner and progress).
# A re-score shows its progress in the editor and the stats bar; the line keeps saying what
# the result on screen is.
STATUS = {
    CompareState.LOAD_FAILED: "no models",
    CompareState.READ_ONLY: "read-only",
    CompareState.REPLAY: "replay · Enter re-runs",
    CompareState.READY: "ready",
    CompareState.RESCORING: "done",
    CompareState.DONE: "done",
    CompareState.CANCELLED: "cancelled",
}
BUSY = (CompareState.LOADING, CompareState.RUNNING)
NO_MODELS = (CompareState.LOADING, CompareState.LOAD_FAILED, CompareState.READ_ONLY, CompareState.REPLAY)


class StatusLine(Widget):
    """The screen's state in words; `detail` is the load step (LOADING) or the token count (RUNNING).
    Every reactive here redraws the line (`render`) and re-measures it (its width is its text's);
    the state also sets its colour class."""

    state: reactive[CompareState] = reactive(CompareState.READY, init=False, layout=True)
    detail: reactive[str] = reactive("", init=False, layout=True)
    result_cancelled: reactive[bool] = reactive(False, init=False, layout=True)  # RESCORING a cancelled run's answer
    note: reactive[str] = reactive("", init=False, layout=True)  # a passing word ("cancelling…") until the state changes
    turn: reactive[int] = reactive(1, init=False, layout=True)  # a conversation's turn (tui/conversation.py)
    _spin: reactive[int] = reactive(0, init=False, layout=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.since = time.monotonic()  # when the load started (LOADING's elapsed time)

    def on_mount(self) -> None:
        self.set_interval(0.1, self._tick)

    def _tick(self) -> None:
        if self.state in BUSY:
            self._spin = (self._spin + 1) % len(SPINNER)

    def watch_state(self, state: CompareState) -> None:
        self.note = ""
        self.set_classes("-busy" if state in BUSY else "-error" if state in (CompareState.LOAD_FAILED,
                                                                             CompareState.READ_ONLY) else "")

    def render(self) -> str:
        text = self._text()
        return f"turn {self.turn} · {text}" if self.turn > 1 and text else text

    def _text(self) -> str:
        state, spin = self.state, SPINNER[self._spin]
        if self.note:
            return self.note
        if state is CompareState.LOADING:
            return f"{spin} {self.detail or 'loading…'} {time.monotonic() - self.since:.0f}s"
        if state is CompareState.RUNNING:
            return f"{spin} running · {self.detail} · Esc cancels"
        if state is CompareState.RESCORING and self.result_cancelled:
            return STATUS[CompareState.CANCELLED]
        return STATUS.get(state, "")
