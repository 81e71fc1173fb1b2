"""UrialEditor: the base model's URIAL prompt, editable, chosen from the bundled ones or a file.

Typing is debounced: only when the text has rested for DEBOUNCE_S does the editor post
PromptChanged, and the app then re-scores the finished aligned answer under the new
prompt. Choosing or loading a prompt posts at once. An empty editor means the bare
prompt (no URIAL), the paper's TDS setting.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Input, Select, Static, TextArea

from alignterm.atomic import atomic_write
from alignterm.engine import prompts
from alignterm.engine.errors import AlignTermError

DEBOUNCE_S = 0.6
# TextArea's own F5 / F6 / F7 (select word / line / all) shadow keys the app offers anywhere
# (run again, sessions, theme): in the editor they selected text the next keystroke replaced.
_APP_KEYS = {"f5", "f6", "f7"}


class PromptTextArea(TextArea, inherit_bindings=False):
    """The prompt's TextArea, without the bindings that shadow the app's keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        replace(b, key=",".join(k for k in b.key.split(",") if k not in _APP_KEYS))
        for b in TextArea.BINDINGS
        if isinstance(b, Binding) and set(b.key.split(",")) - _APP_KEYS  # TextArea's are all Bindings
    ]


class UrialEditor(Vertical):
    """Prompt chooser, file load/save and the TextArea holding the URIAL prompt."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", tooltip="Save the prompt to the file path"),
        Binding("ctrl+o", "focus_path", "File", tooltip="Type a prompt file path to load or save"),
    ]

    DEFAULT_CSS = """
    UrialEditor {
        height: 1fr;
        border: round $primary;
        border-title-color: $text;
        padding: 0 0;
    }
    UrialEditor > #urial-bar { height: 1; }
    UrialEditor #urial-choice { width: 18; }
    UrialEditor #urial-path { width: 1fr; }
    UrialEditor Button { min-width: 6; margin: 0 0 0 1; }
    UrialEditor > #urial-text { height: 1fr; border: none; padding: 0 1; }
    UrialEditor > #urial-status { height: 1; padding: 0 1; color: $text-muted; }
    UrialEditor > #urial-status.-error { color: $error; }
    """

    class PromptChanged(Message):
        """The prompt to use changed: `text` None means the bare prompt."""

        def __init__(self, text: str | None, label: str) -> None:
            super().__init__()
            self.text = text
            self.label = label

    def __init__(self, name_or_path: str, text: str | None, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.label = name_or_path
        self._initial_text = text or ""
        self._loaded_text = self._initial_text  # text as last chosen/loaded (not typed)
        self._debounce: Timer | None = None
        self.border_title = "URIAL prompt (base model)"

    def compose(self) -> ComposeResult:
        names = prompts.bundled_urial_names()
        options = [(n, n) for n in names]
        value = self.label if self.label in names else Select.BLANK
        with Horizontal(id="urial-bar"):
            yield Select(options, value=value, prompt="file", id="urial-choice", compact=True, allow_blank=True)
            yield Input(
                value="" if self.label in names else self.label,
                placeholder="prompt file path (Enter loads)",
                id="urial-path",
                compact=True,
            )
            yield Button("Load", id="urial-load", compact=True)
            yield Button("Save", id="urial-save", compact=True)
        yield PromptTextArea(self._initial_text, id="urial-text", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        yield Static("Edits re-score the aligned answer; ctrl+b re-runs the base model.", id="urial-status")

    # ---- the prompt ------------------------------------------------------------------

    @property
    def text_area(self) -> TextArea:
        return self.query_one("#urial-text", TextArea)

    @property
    def prompt_text(self) -> str | None:
        """The prompt as it stands now; None for the bare prompt (an empty editor)."""
        text = self.text_area.text
        return text if text.strip() else None

    def set_status(self, message: str, *, error: bool = False) -> None:
        status = self.query_one("#urial-status", Static)
        status.update(message)
        status.set_class(error, "-error")

    def show_prompt(self, text: str | None, label: str, status: str = "") -> None:
        """Show a prompt without announcing it (a replayed session's: nothing to re-score)."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self.label = label
        self._loaded_text = text or ""
        self.text_area.load_text(self._loaded_text)
        choice = self.query_one("#urial-choice", Select)
        if label in prompts.bundled_urial_names():  # the selector names the prompt shown
            choice.value = label
            self.query_one("#urial-path", Input).value = ""
        else:
            choice.clear()
        self.set_status(status or f"The session's prompt ({label}).")

    def _set_text(self, text: str | None, label: str) -> None:
        """Show a chosen or loaded prompt and announce it at once (no debounce)."""
        self.show_prompt(text, label, f"Loaded {label}.")
        self.post_message(self.PromptChanged(text, label))

    def load(self, name_or_path: str) -> bool:
        """Load a bundled prompt by name or a prompt file; False (and a message) if it fails."""
        try:
            text = prompts.load_urial(name_or_path)
        except AlignTermError as err:
            self.set_status(str(err), error=True)
            self.app.notify(str(err), title="URIAL prompt", severity="error")
            return False
        self._set_text(text, name_or_path)
        return True

    @on(Select.Changed, "#urial-choice")
    def _chosen(self, event: Select.Changed) -> None:
        if event.value is Select.BLANK or event.value == self.label:
            return
        self.load(str(event.value))

    @on(Input.Submitted, "#urial-path")
    @on(Button.Pressed, "#urial-load")
    def _load_path(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        path = self.query_one("#urial-path", Input).value.strip()
        if not path:
            self.set_status("Type a prompt file path first.", error=True)
            return
        if self.load(path):
            self.query_one("#urial-choice", Select).clear()

    @on(Button.Pressed, "#urial-save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        path_text = self.query_one("#urial-path", Input).value.strip()
        if not path_text:
            self.set_status("Type a file path to save to, then Save.", error=True)
            self.query_one("#urial-path", Input).focus()
            return
        path = Path(path_text).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as f:
                f.write(self.text_area.text)
        except OSError as err:
            self.set_status(f"cannot save {path}: {err.strerror or err}", error=True)
            self.app.notify(f"cannot save {path}: {err.strerror or err}", title="URIAL prompt", severity="error")
            return
        self.label = path_text
        self._loaded_text = self.text_area.text
        self.set_status(f"Saved {path}.")
        self.app.notify(f"Saved {path}", title="URIAL prompt")

    def action_focus_path(self) -> None:
        self.query_one("#urial-path", Input).focus()

    @on(TextArea.Changed, "#urial-text")
    def _typed(self, event: TextArea.Changed) -> None:
        if self.text_area.text == self._loaded_text and self._debounce is None:
            return  # the change was ours (load_text), already announced
        if self._debounce is not None:
            self._debounce.stop()
        self.set_status("editing…")
        self._debounce = self.set_timer(DEBOUNCE_S, self._announce_edit)

    def _announce_edit(self) -> None:
        self._debounce = None
        text = self.prompt_text
        if text is not None:
            try:
                prompts.check_urial(text, "the edited prompt")
            except AlignTermError as err:
                self.set_status(str(err), error=True)
                return
        label = self.label if self.text_area.text == self._loaded_text else f"{self.label}*"
        self.post_message(self.PromptChanged(text, label))

    def flush(self) -> None:
        """Announce a pending edit now (before a run starts, so the run uses it)."""
        if self._debounce is not None:
            self._debounce.stop()
            self._announce_edit()
