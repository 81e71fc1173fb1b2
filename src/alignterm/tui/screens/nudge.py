"""The dialogs of issue #20's views (tui/nudge_view.py): γ for nudged decoding, and the URIAL ablation table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from alignterm.engine.errors import BadInput
from alignterm.engine.nudge import check_gamma

from .box import box_css, titled_box

if TYPE_CHECKING:
    from alignterm.engine.ablation import Ablation

ABLATION_COLUMNS = ("variant", "examples", "shifted", "closure", "recovered")


class GammaScreen(ModalScreen["float | None"]):
    """γ typed as a number in [0, 1]; dismisses with it, or None (Esc)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = box_css("GammaScreen", 60) + "GammaScreen .error { color: $error; }"

    def __init__(self, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma

    def compose(self) -> ComposeResult:
        with titled_box("Nudge: set γ"):
            yield Input(f"{self.gamma:.2f}", id="gamma", compact=True)
            yield Static("The aligned model writes where the base's top-1 probability is below γ (0 to 1).",
                         id="gamma-hint")

    def on_mount(self) -> None:
        self.query_one("#gamma", Input).focus()

    @on(Input.Submitted, "#gamma")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(check_gamma(float(event.value)))
        except (ValueError, BadInput):
            hint = self.query_one("#gamma-hint", Static)
            hint.update(f"γ must be a number from 0 to 1 (got {event.value.strip()!r}).")
            hint.set_class(True, "error")


def ablation_rows(ablation: Ablation) -> list[tuple[str, str, str, str, str]]:
    """The table's rows, one per variant in the engine's order (full first, bare last), as text."""
    rows = []
    for score in ablation.scores:
        shifted = score.shifted_share
        rows.append((
            score.name,
            ", ".join(map(str, score.examples)) or "—",
            "—" if shifted is None else f"{shifted * 100:.1f}%",
            "—" if score.closure is None else f"{score.closure:.2f}",
            str(len(score.recovered)),
        ))
    return rows


class AblationScreen(ModalScreen["tuple[int, ...] | None"]):
    """The URIAL ablation of the comparison on screen; Enter on a row dismisses with the answer
    positions that variant recovered (marked in the aligned pane), Esc with None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = box_css("AblationScreen", 76) + """
    AblationScreen DataTable { height: auto; max-height: 16; }
    AblationScreen .hint { color: $text-muted; }
    """

    def __init__(self, ablation: Ablation) -> None:
        super().__init__()
        self.ablation = ablation

    def compose(self) -> ComposeResult:
        with titled_box("URIAL ablation: the aligned answer under parts of the prompt"):
            yield DataTable(id="ablation", cursor_type="row", zebra_stripes=True)
            examples = "  ".join(f"{k}: {q}" for k, q in enumerate(self.ablation.example_queries, start=1))
            yield Static(f"Examples  {examples}", id="ablation-examples", markup=False)
            yield Static("Enter marks the row's recovered tokens in the aligned pane · Esc closes", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*ABLATION_COLUMNS)
        table.add_rows(ablation_rows(self.ablation))
        table.focus()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(self.ablation.scores[event.cursor_row].recovered)
