"""ErrorScreen: a failure the user must read (the models did not load), with what to do next.

The message is the engine error's one line; no traceback. Closing it leaves the app
usable: help, the URIAL editor and the command palette still work, and the app says that
running needs models.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .box import box_css, titled_box


class ErrorScreen(ModalScreen[None]):
    """A titled message box; Escape, Enter or the button closes it."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    DEFAULT_CSS = box_css("ErrorScreen", 72, "$error") + """
    ErrorScreen #error-message { margin: 1 0; }
    ErrorScreen #error-hint { color: $text-muted; }
    ErrorScreen Button { margin-top: 1; }
    """

    def __init__(self, title: str, message: str, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.hint = hint

    def compose(self) -> ComposeResult:
        with titled_box(self.title_text):
            yield Static(self.message, id="error-message", markup=False)
            if self.hint:
                yield Static(self.hint, id="error-hint", markup=False)
            yield Button("Close", id="error-close", variant="error", compact=True)

    def on_button_pressed(self) -> None:
        self.dismiss()
