"""The prompts each model saw for the comparison on screen (ctrl+f): text with special tokens
shown, and ids; the base prompt's URIAL part and query part told apart (formats/prompt_view.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .box import box_css, titled_box

if TYPE_CHECKING:
    from rich.console import RenderableType


class PromptsScreen(ModalScreen[None]):
    """The rendered prompts, scrolled with the arrows / PgUp / PgDn; Esc closes."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = box_css("PromptsScreen", 100) + """
    PromptsScreen VerticalScroll { height: auto; max-height: 100%; }
    PromptsScreen > Vertical { border-subtitle-color: $text-muted; }
    """

    def __init__(self, prompts: RenderableType) -> None:
        super().__init__()
        self.prompts = prompts

    def compose(self) -> ComposeResult:
        box = titled_box("The prompts the models saw")
        # in the border, where a prompt longer than the screen cannot push it out of sight
        box.border_subtitle = "special tokens highlighted · ↵ a newline · Esc closes"
        with box, VerticalScroll(id="prompts-scroll"):
            yield Static(self.prompts, id="prompts")

    def on_mount(self) -> None:
        self.query_one("#prompts-scroll").focus()
