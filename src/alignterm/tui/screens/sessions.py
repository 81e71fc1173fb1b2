"""The session browser (list, search by query or prompt, open, delete with confirmation) and the save-as box."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from alignterm.display import visible
from alignterm.sessions import SessionStore, StoredSession

from .box import box_css, titled_box


def _box_css(screen: str, width: int) -> str:
    return box_css(screen, width) + f"""
    {screen} .hint {{ color: $text-muted; }}
    {screen} .error {{ color: $error; }}
    {screen} Horizontal {{ height: auto; margin-top: 1; }}
    {screen} Button {{ margin-right: 1; }}
    """


class ConfirmScreen(ModalScreen[bool]):
    """A yes / no question: y or Enter confirms, n or Escape declines."""

    BINDINGS = [Binding("y,enter", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]
    DEFAULT_CSS = _box_css("ConfirmScreen", 64)

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with titled_box(self.title_text):
            yield Static(self.question, markup=False)
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


PROMPT_WIDTH = 10  # the prompt column: bundled names fit; a long file name is cut


def _prompt_column(prompt: str) -> str:
    """The prompt's name, cut or padded to the column (a file name may be long or odd)."""
    name = visible(" ".join(prompt.split())) or "—"
    if len(name) > PROMPT_WIDTH:
        name = name[: PROMPT_WIDTH - 1] + "…"
    return f"{name:<{PROMPT_WIDTH}}"


def _label(entry: StoredSession) -> str:
    if entry.error is not None:
        return f"{entry.path.name}  (cannot open: {entry.error})"
    when = entry.created[:16].replace("T", " ")
    shifted = "   —  " if entry.shifted is None else f"{entry.shifted:6.1%}"
    query = visible(" ".join(entry.query.split()))
    if entry.turn > 1:  # a conversation's later turn
        query = f"turn {entry.turn} · {query}"
    return f"{when}  {shifted} shifted  {_prompt_column(entry.prompt)}  {query}"


class SessionBrowser(ModalScreen["Path | None"]):
    """The store's sessions, newest first, each with its URIAL prompt; dismisses with the path to open, or None."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        # priority: ctrl+d would otherwise delete a character in the search box
        Binding("ctrl+d", "delete", "Delete", priority=True, tooltip="Delete the highlighted session (asks first)"),
        Binding("delete", "delete", "Delete", show=False),
    ]
    DEFAULT_CSS = _box_css("SessionBrowser", 110) + """
    SessionBrowser OptionList { height: auto; max-height: 24; margin-top: 1; }
    """

    def __init__(self, store: SessionStore) -> None:
        super().__init__()
        self.store = store
        self.entries: list[StoredSession] = []

    def compose(self) -> ComposeResult:
        with titled_box("Sessions"):
            yield Input(placeholder="search the queries and prompts", id="session-search", compact=True)
            yield OptionList(id="session-list")
            yield Static(f"Enter opens · ctrl+d deletes (asks first) · Esc closes · {self.store.root}",
                         classes="hint", markup=False)

    @property
    def option_list(self) -> OptionList:
        return self.query_one("#session-list", OptionList)

    def on_mount(self) -> None:
        self.refresh_list()
        self.query_one("#session-search", Input).focus()

    def refresh_list(self) -> None:
        search = self.query_one("#session-search", Input).value.strip()
        self.entries = self.store.entries(search)
        options = self.option_list
        options.clear_options()
        if self.entries:
            options.add_options(Option(_label(e), id=str(i)) for i, e in enumerate(self.entries))
            options.highlighted = 0
        else:
            options.add_option(Option("no sessions match" if search else "no saved sessions yet: run a query",
                                      disabled=True))

    @on(Input.Changed, "#session-search")
    def _search(self) -> None:
        self.refresh_list()

    @on(Input.Submitted, "#session-search")
    def _open_highlighted(self) -> None:
        self._open(self.option_list.highlighted)

    @on(OptionList.OptionSelected, "#session-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._open(event.option_index)

    def _open(self, index: int | None) -> None:
        if index is not None and index < len(self.entries):
            self.dismiss(self.entries[index].path)

    def action_delete(self) -> None:
        index = self.option_list.highlighted
        if index is None or index >= len(self.entries):
            return
        entry = self.entries[index]

        def answered(yes: bool | None) -> None:
            if yes:
                self.store.delete(entry.path)
                self.app.notify(f"Deleted {entry.path.name}", title="Sessions")
                self.refresh_list()

        self.app.push_screen(ConfirmScreen("Delete session", f"Delete {entry.path.name}?\n{_label(entry)}"), answered)


class SaveAsScreen(ModalScreen["Path | None"]):
    """A file path to save to; asks before replacing a file. Dismisses with the path, or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = _box_css("SaveAsScreen", 90)

    def __init__(self, title: str, default: Path, hint: str) -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.hint = hint

    def compose(self) -> ComposeResult:
        with titled_box(self.title_text):
            yield Input(str(self.default), id="save-path", compact=True)
            yield Static(self.hint, id="save-hint", classes="hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        hint = self.query_one("#save-hint", Static)
        if not text:
            hint.update("Type a file path.")
            return
        path = Path(text).expanduser()
        if not path.parent.is_dir():
            hint.update(f"Folder {path.parent} does not exist.")
            hint.set_class(True, "error")
            return
        if path.is_dir():
            hint.update(f"{path} is a folder: add a file name.")
            hint.set_class(True, "error")
            return
        if not path.exists():
            self.dismiss(path)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(path)

        self.app.push_screen(ConfirmScreen("Replace file", f"{path} exists. Replace it?"), answered)
