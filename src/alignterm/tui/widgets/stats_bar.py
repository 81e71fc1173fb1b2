"""StatsBar: per side token count, category shares, tokens/s and a sparkline of shifts; the closure.

The rows follow the answer panes: Base first, then Aligned, then the closure line. The
shifted colour marks shifted tokens only: a share of 0 and a sparkline bucket without
shifts are drawn muted, so a red mark always means there is a shift.

While a run streams, the counts are the engine's tally (engine/tally.py) of the TokenEvents
shown so far; when the run ends they are replaced by the engine's Summary (the numbers the
CLI reports), and after a URIAL edit by the re-scored summary. While the base pane shows the
nudged answer (tui/nudge_view.py) the Base row says so, with the engine's NudgeSummary: the
aligned model's share of its tokens. Nothing here measures anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from alignterm.engine.devices import DeviceMemory
from alignterm.engine.events import CATEGORIES, NudgeSummary, SideSummary, Summary, TokenEvent
from alignterm.engine.tally import SideTally

from ...display import sparkline
from ..palette import category_style

MUTED = "dim"  # no shift: nothing to draw the eye to


@dataclass
class SideRow:
    """One side's row: the engine's streaming tally until the run's summary replaces it, and the speed."""

    tally: SideTally = field(default_factory=SideTally)
    tokens_per_s: float | None = None
    summary: SideSummary | None = None

    @property
    def shown(self) -> SideTally | SideSummary:
        """The counts drawn: the summary once there is one (both read alike, engine/tally.py)."""
        return self.summary if self.summary is not None else self.tally


class StatsBar(Static):
    """Three lines: base side, aligned side (the panes' order), URIAL closure."""

    DEFAULT_CSS = """
    StatsBar {
        height: 3;
        padding: 0 1;
        background: $panel;
        color: $text;
    }
    """

    # What the bar is told, each redrawn when it changes (_redraw, watching them from on_mount);
    # the counts come in through the methods that follow, which redraw themselves.
    urial_label: reactive[str] = reactive("default", init=False)  # the prompt the aligned answer is (re-)scored under
    base_label: reactive[str] = reactive("default", init=False)  # the prompt the base answer on screen was made with
    lens: reactive[str] = reactive("bare", init=False)  # which scoring the Aligned row shows (the app's lens)
    monochrome: reactive[bool] = reactive(False, init=False)
    rescoring: reactive[bool] = reactive(False, init=False)
    gpu_memory: reactive[tuple[DeviceMemory, ...]] = reactive((), init=False)  # on CUDA only: the models' GPUs
    nudged: reactive[tuple[float, NudgeSummary] | None] = reactive(None, init=False)  # (γ, summary): the base pane's nudged answer

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.sides: dict[str, SideRow] = {"aligned": SideRow(), "base": SideRow()}
        self.aligned_bare: SideSummary | None = None
        self.closure: float | None = None

    def on_mount(self) -> None:
        for name in ("urial_label", "base_label", "lens", "monochrome", "rescoring", "gpu_memory", "nudged"):
            self.watch(self, name, self._redraw, init=False)
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    # ---- updates from the app ------------------------------------------------------

    def reset(self, *, sides: tuple[str, ...] = ("aligned", "base")) -> None:
        for side in sides:
            self.sides[side] = SideRow()
        if "aligned" in sides:
            self.aligned_bare = None
            self.closure = None
        self._redraw()

    def tally_many(self, tokens: Iterable[TokenEvent]) -> None:
        """Count streamed tokens (the engine's tally) until the run's summary replaces the tallies."""
        for token in tokens:
            self.sides[token.side].tally.add(token)
        self._redraw()

    def set_speed(self, side: str, tokens_per_s: float) -> None:
        self.sides[side].tokens_per_s = tokens_per_s
        self._redraw()

    def set_summary(self, summary: Summary, *, sides: tuple[str, ...] = ("aligned", "base")) -> None:
        for side in sides:
            self.sides[side].summary = getattr(summary, side)
        if "aligned" in sides:
            self.aligned_bare = summary.aligned_bare
            self.closure = summary.closure
        self._redraw()

    def set_rescored(self, aligned: SideSummary, bare: SideSummary | None, closure: float | None) -> None:
        self.sides["aligned"].summary = aligned
        self.aligned_bare = bare
        self.closure = closure
        self.set_reactive(StatsBar.rescoring, False)  # drawn just below, with the new numbers
        self._redraw()

    def _aligned_stats(self) -> SideRow:
        """The Aligned row's numbers in the lens shown: the bare prompt's summary in the bare lens."""
        stats = self.sides["aligned"]
        if self.lens == "bare" and self.aligned_bare is not None and stats.summary is not None:
            return SideRow(stats.tally, stats.tokens_per_s, self.aligned_bare)
        return stats

    # ---- drawing -------------------------------------------------------------------

    def _style(self, category: str) -> str:
        return category_style(self.app, category, self.monochrome)

    def _shifted_style(self, count: int) -> str:
        """The shifted colour where there is a shift; muted where there is none."""
        return self._style("shifted") if count > 0 else MUTED

    def _share_style(self, counts: SideTally | SideSummary, category: str) -> str:
        return self._shifted_style(counts.shifted) if category == "shifted" else self._style(category)

    def _sparkline(self, buckets: tuple[int, ...], width: int) -> Text:
        """The sparkline with each bucket in the shifted colour only if it holds a shift."""
        spark = Text()
        for char, value in zip(sparkline(list(buckets)[:width]), buckets):
            spark.append(char, style=self._shifted_style(value))
        return spark

    def _nudged_line(self, gamma: float, summary: NudgeSummary) -> Text:
        """The Base row while the base pane shows the nudged answer: not the base answer's counts."""
        line = Text.assemble((f"{'Nudged':<11}", "bold"), f"{summary.n:>4} tok ", f" γ {gamma:.2f}  aligned wrote ")
        line.append(f"{summary.aligned_share * 100:.1f}%", style="bold")
        line.append(f" ({summary.aligned} tok)")
        return line

    def _side_line(self, label: str, side: str, width: int) -> Text:
        if side == "base" and self.nudged is not None:
            return self._nudged_line(*self.nudged)
        stats = self._aligned_stats() if side == "aligned" else self.sides[side]
        counts = stats.shown
        line = Text.assemble((f"{label:<11}", "bold"), f"{counts.n:>4} tok ")
        if not counts.n:
            line.append("—", style="dim")
            return line
        if not counts.scored:
            line.append(" not scored: the other model's server cannot score given tokens", style="dim")
            return line
        for cat, letter in zip(CATEGORIES, "UMS"):
            line.append(" ")
            line.append(f"{letter} {counts.share(cat) * 100:4.1f}%", style=self._share_style(counts, cat))
        if stats.tokens_per_s is not None:
            line.append(f"  {stats.tokens_per_s:5.1f} tok/s")
        if stats.summary is not None and stats.summary.shifted_by_bucket:
            room = max(0, width - line.cell_len - 3)
            spark = self._sparkline(stats.summary.shifted_by_bucket, room)
            if spark:
                line.append("  ")
                line.append_text(spark)
        return line

    def _closure_line(self) -> Text:
        line = Text()
        if self.base_label != self.urial_label:  # the editor's prompt is not yet the base answer's
            line.append(f"base answer: {'bare' if self.base_label == 'none' else 'URIAL ' + self.base_label}"
                        " (ctrl+b re-runs)  ", style="italic")
        if self.urial_label == "none":
            line.append("bare prompt (no URIAL)", style="bold")
            line.append("  closure needs a URIAL prompt", style="dim")
            return line
        line.append(f"URIAL {self.urial_label}", style="bold")
        line.append("  closure ")  # first, so a narrow terminal still shows it
        line.append("—" if self.closure is None else f"{self.closure:.2f}", style="bold")
        line.append("  lens ")
        line.append("bare" if self.lens == "bare" else "URIAL", style="bold reverse")
        line.append(" ^t")
        aligned = self.sides["aligned"].summary
        if self.rescoring:
            line.append("  re-scoring…", style="italic")
        elif aligned is not None and self.aligned_bare is not None:
            line.append("  shifted: bare ")
            line.append(f"{self.aligned_bare.share('shifted') * 100:.1f}%",
                        style=self._shifted_style(self.aligned_bare.shifted))
            line.append(" → URIAL ")
            line.append(f"{aligned.share('shifted') * 100:.1f}%", style=self._shifted_style(aligned.shifted))
        for gpu in self.gpu_memory:
            line.append(f"  {gpu.device} {gpu.used / 1e9:.1f}/{gpu.total / 1e9:.0f} GB", style="dim")
        return line

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        width = self.content_region.width or 80
        # one row per line whatever the width: a wrapped row would push the closure out of the bar
        self.update(Text("\n", no_wrap=True, overflow="ellipsis").join([
            self._side_line("Base+URIAL" if self.base_label != "none" else "Base", "base", width),
            self._side_line("Aligned", "aligned", width),
            self._closure_line(),
        ]))

    def plain_lines(self) -> list[str]:
        """The bar's text as shown, base row first (for tests and screen readers)."""
        return [str(t) for t in (
            self._side_line("Base", "base", 200),
            self._side_line("Aligned", "aligned", 200),
            self._closure_line(),
        )]
