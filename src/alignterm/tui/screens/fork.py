"""The fork dialog (f in an answer pane, tui/fork.py): the token to put at the cursor's position instead.

It lists both models' top-k at that position, as the inspector shows them (aligned first), each
with its probability, and has a box to type a token's text. Enter on a candidate or in the box
dismisses with the token ids to force there; a typed text the fork cannot use stays in the box with
a notice. Esc dismisses with None. The candidates come made (tui/fork.py): this draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from alignterm.engine.errors import BadInput

from ..palette import visible_whitespace
from .box import box_css, titled_box

if TYPE_CHECKING:
    from ..fork import Candidate


def candidate_text(candidate: Candidate) -> Text:
    """One candidate's row: model, rank, token, probability, and whether the answer has it now."""
    row = Text.assemble(
        (f"{candidate.model:<8}", "bold"),
        (f"{candidate.rank:>2}  ", "dim"),
        (f"{visible_whitespace(candidate.text):<18}", ""),
        (f" p {candidate.prob:.3f}", ""),
    )
    if candidate.current:
        row.append("  ← in the answer", style="italic")
    return row


class ForkScreen(ModalScreen["tuple[int, ...] | None"]):
    """Choose the token to fork with; dismisses with its ids (a typed text may be several), or None (Esc)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = box_css("ForkScreen", 72) + """
    ForkScreen OptionList { height: auto; max-height: 60vh; }  /* the typed-token box stays on a 20-row screen */
    ForkScreen .hint { color: $text-muted; }
    """

    def __init__(self, title: str, candidates: Sequence[Candidate], tokenize: Callable[[str], tuple[int, ...]]) -> None:
        """`tokenize` turns a typed text into the ids to force, raising BadInput (its message the notice) when it cannot."""
        super().__init__()
        self.title_text = title
        self.candidates = list(candidates)
        self.tokenize = tokenize

    def compose(self) -> ComposeResult:
        with titled_box(self.title_text):
            options = [Option(candidate_text(c), id=str(i)) for i, c in enumerate(self.candidates)]
            yield OptionList(*options, id="fork-candidates")
            yield Input(placeholder="or type a token's text (answer text, no BOS) and press Enter", id="fork-text",
                        compact=True)
            yield Static("Enter forks with the highlighted token · Tab to type one · Esc closes", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one("#fork-candidates", OptionList)
        if self.candidates:
            options.highlighted = 0
            options.focus()
        else:
            options.display = False  # no top-k known here (a server's tokens): typing is the way
            self.query_one("#fork-text", Input).focus()

    @on(OptionList.OptionSelected, "#fork-candidates")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss((self.candidates[int(event.option.id or 0)].id,))

    @on(Input.Submitted, "#fork-text")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            ids = self.tokenize(event.value)
        except BadInput as err:
            self.app.notify(str(err), title="Fork", severity="warning")
            return
        self.dismiss(ids)
