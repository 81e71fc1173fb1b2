"""DiversityScreen (F9): N sampled answers per side for the query, and how alike they are.

Lake et al. (2024): aligned samples are alike, base samples diverse; a base model given
in-context examples plus a short semantic hint answers as close to the aligned model as
the aligned model's samples are to each other. The headline line puts those two numbers
side by side; the table has each side's own diversity; the list below holds every sample
with its similarity to the aligned samples. The engine (`engine.samples.Sampler`) draws
and measures; this screen only shows what it returns, and runs it in a thread worker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, ProgressBar, Static

from alignterm.display import visible
from alignterm.engine.diversity import mean_to_first
from alignterm.engine.errors import AlignTermError
from alignterm.engine.samples import SAMPLE_SIDES as SIDES
from alignterm.engine.samples import Sample, Sampler, SamplesResult, SamplingRequest
from alignterm.engine.values import CancelToken, DecodingParams
from alignterm.formats.diversity_record import side_titles

DEFAULT_SAMPLES = 4
MAX_SAMPLES = 32  # the similarity matrix and the list stay readable
PREVIEW_CHARS = 240


@dataclass(frozen=True)
class DiversityJob:
    """What the screen samples: the app's query, URIAL prompt and decoding parameters."""

    query: str
    urial: str | None
    urial_label: str
    params: DecodingParams


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class DiversityScreen(Screen[None]):
    """Sample, measure, show; Escape cancels a sampling run, or closes the screen."""

    BINDINGS = [
        Binding("escape", "close", "Close / cancel", tooltip="Cancel the sampling, else back to the comparison"),
        Binding("f5,ctrl+r", "sample", "Sample", tooltip="Draw N samples per side (Enter in a box)"),
    ]

    DEFAULT_CSS = """
    DiversityScreen { layout: vertical; }
    DiversityScreen #div-title { padding: 0 1; background: $panel; text-style: bold; }
    DiversityScreen #div-controls { height: 3; padding: 0 1; }
    DiversityScreen #div-controls Label { padding: 1 1 0 0; }
    DiversityScreen #div-n { width: 10; }
    DiversityScreen #div-hint { width: 1fr; }
    DiversityScreen #div-progress { padding: 0 1; height: 1; }
    DiversityScreen #div-headline { padding: 0 1; height: auto; }
    DiversityScreen #div-table { height: auto; max-height: 6; margin: 0 1; }
    DiversityScreen #div-samples { height: 1fr; padding: 0 1; }
    DiversityScreen .div-sample { margin-bottom: 1; }
    """

    def __init__(self, sampler: Sampler, lock: threading.Lock, job: DiversityJob) -> None:
        super().__init__()
        self.sampler = sampler
        # the engine's Comparator.lock: samples and comparisons take turns on the models (not
        # `lock`, which is Textual's own lock of every widget)
        self.model_lock = lock
        self.job = job
        self.result: SamplesResult | None = None
        self.samples: list[Sample] = []
        self._cancel: CancelToken | None = None
        self.titles = side_titles({"urial": job.urial})  # "base+bare" when there is no URIAL prompt

    # ---- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        prompt = "bare prompt" if self.job.urial is None else f"URIAL {self.job.urial_label}"
        yield Static(Text(f"Diversity · {visible(self.job.query)} · {prompt}", no_wrap=True, overflow="ellipsis"),
                     id="div-title")
        with Horizontal(id="div-controls"):
            yield Label("samples per side")
            yield Input(str(DEFAULT_SAMPLES), type="integer", id="div-n")
            yield Label(" hint")
            yield Input(placeholder="empty: the salient words of each aligned sample", id="div-hint")
        yield ProgressBar(id="div-progress", show_eta=False)
        yield Static(id="div-headline")
        yield DataTable(id="div-table", cursor_type="none", zebra_stripes=True)
        yield VerticalScroll(id="div-samples")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#div-table", DataTable)
        table.add_columns("side", "samples", "words", "distinct-1", "distinct-2", "distinct openings",
                          "Jaccard within", "Jaccard ~ aligned", "coverage of aligned")
        self.query_one("#div-headline", Static).update(
            "Enter (or F5) draws N samples per side: aligned · base + URIAL · base + URIAL + a hint.")
        self.query_one("#div-n", Input).focus()

    # ---- running ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._cancel is not None

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_sample()

    def action_sample(self) -> None:
        if self.running:
            return
        try:
            n = int(self.query_one("#div-n", Input).value)
        except ValueError:
            n = 0
        if not 2 <= n <= MAX_SAMPLES:  # similarity within a side needs a pair
            self.notify(f"Samples per side: a number from 2 to {MAX_SAMPLES}.", severity="warning")
            return
        hint = self.query_one("#div-hint", Input).value.strip() or None
        request = SamplingRequest(self.job.query, n, self.job.urial, self.job.params, hint=hint)
        self.samples = []
        self.query_one("#div-samples", VerticalScroll).remove_children()
        self.query_one("#div-progress", ProgressBar).update(total=n * len(SIDES), progress=0)
        self.query_one("#div-headline", Static).update(Text("sampling… (Esc cancels)", style="italic"))
        self._cancel = CancelToken()
        self._sample_worker(request, self._cancel)

    def action_close(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
            self.query_one("#div-headline", Static).update(Text("cancelling…", style="italic"))
            return
        self.dismiss()

    @work(thread=True, exit_on_error=False, group="diversity")
    def _sample_worker(self, request: SamplingRequest, cancel: CancelToken) -> None:
        try:
            with self.model_lock:
                result = self.sampler.run(request, cancel, progress=self._progress)
        except AlignTermError as err:
            self._deliver(self._failed, str(err))
        except Exception as err:  # a bug must not take the app down: say it in one line
            self._deliver(self._failed, f"{type(err).__name__}: {err}".splitlines()[0])
        else:
            self._deliver(self._finished, result)

    def _deliver(self, callback, *args) -> None:
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:  # the app has gone
            pass

    def _progress(self, done: int, total: int, sample: Sample) -> None:
        self._deliver(self._add_sample, done, sample)

    def _add_sample(self, done: int, sample: Sample) -> None:
        self.samples.append(sample)
        self.query_one("#div-progress", ProgressBar).update(progress=done)
        self.query_one("#div-samples", VerticalScroll).mount(
            Static(self._sample_text(sample, None), classes="div-sample"))

    def _failed(self, message: str) -> None:
        self._cancel = None
        self.query_one("#div-headline", Static).update(Text(message, style="bold red"))
        self.notify(message, title="Diversity", severity="error")

    def _finished(self, result: SamplesResult) -> None:
        self._cancel = None
        self.result = result
        self._show_headline(result)
        self._show_table(result)
        self._show_samples(result)
        if result.cancelled:
            self.notify("Sampling cancelled: the measures are over the samples drawn so far.")

    # ---- showing ---------------------------------------------------------------------

    def headline(self, result: SamplesResult) -> Group:
        """The paper's comparison, one row per similarity measure: aligned ~ aligned next to
        base + hint ~ aligned (and base + URIAL ~ aligned, without the hint)."""
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        for _ in range(3):
            table.add_column(justify="right", no_wrap=True)
        table.add_row("", Text("aligned~aligned", style="dim"), Text("base+hint~aligned", style="bold"),
                      Text("base+URIAL~aligned", style="dim"))
        for name, measure in (("word Jaccard", "jaccard"), ("hidden-state cosine", "embedding"),
                              ("sentence embedding", "sentence_embedding")):
            h = result.measures.headline(measure)
            if all(v is None for v in h.values()):
                continue
            table.add_row(Text(name, style="bold"), _fmt(h["aligned~aligned"]),
                          Text(_fmt(h["base_hint~aligned"]), style="bold"), _fmt(h["base_urial~aligned"]))
        notes = []
        if result.embedding_note:
            notes.append(result.embedding_note)
        notes.append(f"temperature {result.params.temperature:g}, top-p {result.params.top_p:g}, "
                      f"seeds from {result.params.seed}")
        return Group(table, Text("\n".join(notes), style="dim"))

    def _show_headline(self, result: SamplesResult) -> None:
        self.query_one("#div-headline", Static).update(self.headline(result))

    def _show_table(self, result: SamplesResult) -> None:
        table = self.query_one("#div-table", DataTable)
        table.clear()
        m = result.measures
        for side in SIDES:
            stats = m.sides[side]
            within = m.jaccard.within.get(side)
            to_aligned = None if side == "aligned" else m.jaccard.across.get(f"aligned~{side}")
            table.add_row(
                self.titles[side], str(len(result.samples[side])),
                _fmt(stats.length.mean if stats.length else None, 1),
                _fmt(stats.distinct_1), _fmt(stats.distinct_2), _fmt(stats.distinct_prefix),
                "—" if within is None else f"{within.mean:.2f} (max {within.max:.2f})",
                "—" if to_aligned is None else f"{to_aligned.mean:.2f}",
                "—" if side == "aligned" else _fmt(m.coverage_mean(side)),
            )

    def _show_samples(self, result: SamplesResult) -> None:
        box = self.query_one("#div-samples", VerticalScroll)
        box.remove_children()
        # each sample's mean Jaccard with the aligned samples (the engine's, itself left out)
        to_aligned = mean_to_first(result.measures.jaccard.matrix, len(result.samples["aligned"]))
        samples = [sample for side in SIDES for sample in result.samples[side]]
        widgets = [Static(self._sample_text(sample, mean), classes="div-sample")
                   for sample, mean in zip(samples, to_aligned)]
        box.mount_all(widgets)

    def _sample_text(self, sample: Sample, to_aligned: float | None) -> Text:
        text = Text()
        text.append(f"{self.titles[sample.side]} #{sample.index + 1}", style="bold")
        text.append(f"  {sample.n_tokens} tokens ({sample.finish_reason})", style="dim")
        if to_aligned is not None:
            text.append(f"  ~ aligned {to_aligned:.2f}")
        if sample.hint:
            text.append(f"\nhint: {visible(sample.hint)}", style="italic")
        body = visible(sample.text.strip())
        text.append("\n" + (body if len(body) <= PREVIEW_CHARS else body[:PREVIEW_CHARS] + "…"))
        return text
