"""HelpScreen (`?` / F1): every key binding of the app, read from the bindings themselves.

The table is built from the BINDINGS of the classes that define the app's keys, so it
cannot drift from what the keys actually do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HelpSection = tuple[str, Sequence[tuple[str, str]]]

# Textual's own bindings that come without a description
UNDESCRIBED = {"help_quit": "Say how to quit (ctrl+q quits)"}


def describe_bindings(app, bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, description) rows, one per action, its keys joined ("F1 / ?")."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in Binding.make_bindings(bindings):
        text = binding.tooltip or binding.description or UNDESCRIBED.get(binding.action, binding.action)
        keys, text = rows.setdefault(binding.action, ([], text))
        display = app.get_key_display(binding)
        if display not in keys:
            keys.append(display)
    return [(" / ".join(keys), text) for keys, text in rows.values()]


def app_help_sections(app: App, app_bindings: Iterable[BindingType]) -> list[HelpSection]:
    """Every binding of the app, by where it applies, read from the classes that define them."""
    from ..widgets.answer_pane import AnswerPane
    from ..widgets.query_input import QueryInput
    from ..widgets.urial_editor import UrialEditor

    return [
        ("Anywhere", describe_bindings(app, [
            *app_bindings,
            Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette"),
            Binding("tab", "focus_next", "Next area (query, answers, editor)"),
            Binding("shift+tab", "focus_previous", "Previous area"),
        ])),
        ("Query box", [("enter", "Run the query"), *describe_bindings(app, QueryInput.BINDINGS)]),
        ("Answer panes (token cursor)", [("click", "Put the cursor on a token"),
                                         *describe_bindings(app, AnswerPane.BINDINGS)]),
        ("URIAL editor", describe_bindings(app, UrialEditor.BINDINGS)),
    ]


class HelpScreen(ModalScreen[None]):
    """A scrollable list of the keys, by where they apply."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close help")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 100%;
        height: auto; max-height: 100%;
        border: round $accent;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    """

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll()
        scroll.border_title = "alignterm keys"
        scroll.border_subtitle = "Esc closes"
        with scroll:
            yield Static(self.render_table(), id="help-table")

    def render_table(self) -> Group:
        width = max(len(keys) for _, rows in self.sections for keys, _ in rows)
        parts: list[RenderableType] = []
        for title, rows in self.sections:
            table = Table.grid(padding=(0, 2))
            table.add_column(no_wrap=True, style="bold", width=width)
            table.add_column()
            for keys, text in rows:
                table.add_row(keys, text)
            parts += [Text(title, style="bold underline"), table]
        return Group(*parts)

    def plain_text(self) -> str:
        """Every row as text (what a test or a screen reader reads)."""
        return "\n".join(f"{keys}  {text}" for _, rows in self.sections for keys, text in rows)
