"""Legend: what the colours (or, in monochrome mode, the text styles) of the tokens mean."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from alignterm.engine.events import CATEGORIES

from ..palette import CATEGORY_RANKS, category_style, chooser_style, shift_colour


class Legend(Static):
    """One line: the three categories with their base ranks, and the top-1 underline."""

    DEFAULT_CSS = """
    Legend {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    monochrome: reactive[bool] = reactive(False, init=False)
    lens: reactive[str] = reactive("bare", init=False)  # the app's lens: the URIAL one adds the recovered-token mark
    nudged: reactive[bool] = reactive(False, init=False)  # the base pane shows the nudged answer: its mark comes first

    def on_mount(self) -> None:
        self.watch(self, "monochrome", self.redraw, init=False)
        self.watch(self, "lens", self.redraw, init=False)
        self.watch(self, "nudged", self.redraw, init=False)
        self.redraw()

    def redraw(self) -> None:
        line = Text()
        if self.nudged:  # the ranks make room for it on 80 columns
            line.append("aligned wrote", style=chooser_style(self.app, "aligned", self.monochrome))
            line.append("   ")
        for cat in CATEGORIES:
            style = category_style(self.app, cat, self.monochrome, bold=True)
            line.append(cat, style=style or "default")
            line.append("   " if self.nudged else f" {CATEGORY_RANKS[cat]}   ")
        line.append("top-1 differs", style="underline")
        if self.lens == "urial":
            shifted = shift_colour(self.app, "shifted")
            line.append("   ")
            line.append("recovered", style="italic" if self.monochrome or not shifted else f"on {shifted}")
        width = self.content_region.width or 80
        for note in ("   F4: colour off" if not self.monochrome else "   F4: colour on", "  · ranks under the other model"):
            if line.cell_len + len(note) <= width:
                line.append(note, style="dim")
        self.update(line)

    def on_resize(self) -> None:
        self.redraw()
