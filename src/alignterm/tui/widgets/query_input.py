"""QueryInput: the one-line query box, with shell-like history on up / down."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from ..history import QueryHistory


class QueryInput(Input):
    """Enter runs the query (the app handles Input.Submitted); ctrl+j asks it as a follow-up, the
    next turn of the conversation on screen (tui/conversation.py); up / down browse past queries."""

    BINDINGS = [
        # ctrl+j, not alt+enter: a terminal (and tmux) sends alt+enter as ESC + CR, which reaches
        # the app as a plain Enter, and that would start a fresh conversation instead
        Binding("ctrl+j", "app.follow_up", "Follow up", show=False,
                tooltip="Follow up: run the query as the next turn of the conversation on screen "
                        "(after its query and the aligned answer; Enter starts a new conversation)"),
        Binding("up", "history_previous", "Previous query", show=False),
        Binding("down", "history_next", "Next query", show=False),
    ]

    def __init__(self, history: QueryHistory, value: str = "", *, id: str | None = None) -> None:
        super().__init__(value=value, placeholder="Ask both models something, then Enter", id=id, compact=True)
        self.history = history

    def _show(self, value: str | None) -> None:
        if value is not None:
            self.value = value
            self.cursor_position = len(value)

    def action_copy(self) -> None:
        """ctrl+c: copy the selection and say so; with nothing selected, say how to quit (never silent)."""
        text = self.selected_text
        if not text:
            self.app.action_help_quit()
            return
        self.app.copy_to_clipboard(text)
        self.app.notify(f"Copied {len(text)} characters of the query. ctrl+q quits; Esc cancels a run.", title="Copied")

    def action_history_previous(self) -> None:
        self._show(self.history.previous(self.value))

    def action_history_next(self) -> None:
        self._show(self.history.next())
