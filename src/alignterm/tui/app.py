"""AlignTermApp: base and aligned answers streaming side by side, coloured by token distribution shift.

The app is a consumer of the engine's event stream (architecture §2). Model work (loading, a
run, a re-score) happens off the UI thread; events come back with `call_from_thread` and
are handed to the widgets, which only display them. One lock serialises model work,
because a run and a re-score share the comparator's cached scorers.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.theme import Theme
from textual.widgets import Footer, Label, Static

from alignterm.config import Config, load_config, save_config
from alignterm.engine.errors import AlignTermError, failure_line
from alignterm.engine.events import BareScores, RunFinished, SideFinished, TokenEvent
from alignterm.engine.values import CancelToken, DecodingParams, ModelSpec
from alignterm.sessions import Session, SessionStore, load_session
from alignterm.themes import DEFAULT_THEME, ThemeFile, load_themes

from .commands import AlignTermCommands
from .history import QueryHistory
from .inbox import Inbox
from .palette import DEFAULT_PALETTE, ShiftPalette
from .persistence import SessionKeeping
from .screens.error import ErrorScreen
from .screens.help import HelpScreen, describe_bindings
from .widgets.answer_pane import AnswerPane
from .widgets.inspector import TokenInspector
from .widgets.legend import Legend
from .widgets.query_input import QueryInput
from .widgets.stats_bar import StatsBar
from .widgets.urial_editor import UrialEditor

if TYPE_CHECKING:
    from alignterm.engine.compare import Comparator, Rescored
    from alignterm.engine.events import ComparisonResult
    from alignterm.engine.samples import Sampler

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
NARROW_WIDTH = 70  # below this the two answer panes stack
SHORT_HEIGHT = 32  # below this the inspector and the editor take turns


@dataclass(frozen=True)
class RunFailed:
    """A run stopped with an error (travels through the inbox after the run's events)."""

    message: str


def reserve_a_core_for_the_ui() -> None:
    """Leave one CPU core to the UI thread when torch computes on the CPU.

    torch's CPU threads spin between operations; with one per core, the UI thread that
    takes each token from the worker waits behind them and a run slows many-fold (seen:
    26 s instead of 1.2 s on two cores). Only called once torch is imported.
    """
    torch = sys.modules.get("torch")
    cores = os.cpu_count() or 1
    if torch is not None and cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


def _demo_query(base: ModelSpec) -> str:
    """The demo query, when the base model is the bundled demo pair's."""
    try:
        from alignterm.engine import demo

        if Path(base.spec).expanduser().resolve() != demo.BASE_DIR.resolve():
            return ""
        queries = demo.demo_queries()
        return queries[0]["query"] if queries else ""
    except (ImportError, OSError, ValueError, KeyError):
        return ""  # no demo pair built yet: start with an empty query


class _Superseded(CancelToken):
    """A re-score's cancel token, cancelled as soon as a newer edit or run supersedes it."""

    def __init__(self, app: AlignTermApp, rescore_id: int) -> None:
        super().__init__()
        self._app, self._id = app, rescore_id

    @property
    def cancelled(self) -> bool:
        return super().cancelled or self._app._rescore_id != self._id


class AppFooter(Footer):
    """Textual's footer, without the watchers its recomposed keys leave behind.

    The footer recomposes whenever the keys on offer change (a run starts or ends), binding
    each new key to its `compact` reactive; Textual drops the watchers of removed keys only
    when `compact` changes, which it never does here, so keys piled up: about 1 MiB per run
    in a 500-run soak (docs/reliability.md).
    """

    async def recompose(self) -> None:
        await super().recompose()
        for watchers in getattr(self, "__watchers", {}).values():
            watchers[:] = [(node, callback) for node, callback in watchers if not node._closing]


def textual_theme(theme: ThemeFile) -> Theme:
    """The Textual theme of a theme file, its shift palette as CSS variables."""
    return Theme(name=theme.name, dark=theme.dark, variables=theme.css_variables(), **theme.app)


class AlignTermApp(SessionKeeping, App[int]):
    """The alignterm terminal app."""

    CSS_PATH = "app.tcss"
    TITLE = "alignterm"
    COMMANDS = App.COMMANDS | {AlignTermCommands}

    BINDINGS = [
        Binding("f5,ctrl+r", "run", "Run", tooltip="Run both models on the query (Enter in the query box)"),
        Binding("escape", "cancel", "Cancel",
                tooltip="Cancel the run at once, keeping the partial answers; else close the inspector / editor"),
        Binding("ctrl+b", "rerun_base", "Re-run base", show=False,
                tooltip="Re-run the base model with the current URIAL prompt (the aligned answer is kept)"),
        Binding("ctrl+l", "clear", "Clear", show=False, tooltip="Clear both answers, the stats and the query"),
        Binding("f2", "toggle_editor", "URIAL", tooltip="Show / hide the URIAL prompt editor (edits re-score the aligned answer)"),
        Binding("f3", "toggle_inspector", "Inspect", tooltip="Show / hide the token inspector (top-k of both models at the cursor)"),
        Binding("ctrl+t", "toggle_lens", "Lens",
                tooltip="Colour the aligned answer by its rank under base + bare prompt (the paper's TDS) or under "
                        "base + the URIAL prompt, with the tokens the prompt recovered marked"),
        Binding("f4", "toggle_monochrome", "Monochrome", show=False,
                tooltip="Monochrome mode: categories as plain / bold / reverse instead of colour"),
        Binding("f1,question_mark", "help", "Help", tooltip="This list of keys (? where it does not type into a text box)"),
        Binding("ctrl+s", "save_session", "Save as", show=False,
                tooltip="Save the comparison as a session file (.yaml), or a page (.html); in the URIAL editor it saves the prompt"),
        Binding("f6", "sessions", "Sessions", show=False, tooltip="Saved sessions: open (replays without a model), search, delete"),
        Binding("f7", "next_theme", "Theme", show=False, tooltip="Next theme (all themes: ctrl+p, \"Theme\")"),
        Binding("f8", "export_html", "Export HTML", show=False, tooltip="Export the comparison as one self-contained HTML page"),
        Binding("f9", "diversity", "Diversity", show=False,
                tooltip="Diversity: N samples per side for the query, their similarity and coverage"),
    ]

    def __init__(
        self,
        base: ModelSpec,
        aligned: ModelSpec,
        urial: str = "default",
        params: DecodingParams = DecodingParams(),
        query: str | None = None,
        *,
        top_k: int = 10,
        comparator: Comparator | None = None,
        history_file: Path | None = None,
        shift_palette: ShiftPalette = DEFAULT_PALETTE,
        monochrome: bool | None = None,
        session: Session | None = None,
        session_store: SessionStore | None = None,
        config_file: Path | None = None,
        themes_dir: Path | None = None,
    ) -> None:
        """`urial` is a bundled prompt name, a file path or "none"; `comparator` an already
        loaded pair (tests, embedding) that skips loading. `session` opens replayed, with no
        model loaded until a run needs one; `session_store` autosaves every finished run;
        `config_file` keeps the chosen theme; `themes_dir` holds the user's theme files."""
        self.shift_palette = shift_palette  # before App.__init__, which reads the CSS variables
        super().__init__()
        self.base_spec = base
        self.aligned_spec = aligned
        self.params = params
        self.top_k = top_k
        self.history = QueryHistory(history_file)
        self.initial_query = query if query is not None else _demo_query(base)
        self.comparator: Comparator | None = comparator
        self._sampler: tuple[Comparator, Sampler] | None = None  # diversity sampling, kept with its KV caches
        self.load_error: str | None = None
        self.load_step = ""
        self._load_started = time.monotonic()
        self._pending_query: str | None = None
        self.loader: threading.Thread | None = None
        self._inbox = Inbox(lambda: self.post_message(self.EventsWaiting()))
        self.received_tokens = {"aligned": 0, "base": 0}  # tokens the engine has yielded in this run
        self.result: ComparisonResult | None = None
        self.rescored: Rescored | None = None  # the last re-score shown, for the current result
        # The aligned answer scored two ways (docs/decisions.md, "the lens"): under base + bare
        # prompt (TDS) and under base + the URIAL prompt; `lens` says which one the pane shows.
        self.lens = "bare"
        self.aligned_views: dict[str, list[TokenEvent]] = {"bare": [], "urial": []}
        self._run_bare = False  # the run on screen used the bare prompt: both views are one
        self._run_id = 0
        self._run_cancel: CancelToken | None = None
        self._rescore_id = 0
        self._spin = 0
        self._signals: list[int] = []  # the signals whose handler this app installed
        self._autosave_to: tuple[Session, Path] | None = None  # the last autosave started, and its file
        self.leaving_on: int | None = None  # the signal (SIGHUP, SIGTERM) the app is leaving on
        self.saved_on_signal: Path | None = None  # where the comparison on screen was saved as it left
        self.monochrome = bool(os.environ.get("NO_COLOR")) if monochrome is None else monochrome
        self.urial_label, self.urial_text = self._initial_urial(urial)
        self._base_urial_label = self.urial_label  # the prompt the base answer on screen was made with
        self.session_store = session_store
        self.initial_session = session
        self.session: Session | None = None  # the comparison on screen, once saved or opened
        self.read_only: str | None = None  # why the session on screen cannot be run again
        self.config_file = config_file
        self.config, config_notice = load_config(config_file) if config_file is not None else (Config(), None)
        self.theme_files, self._notices = load_themes(themes_dir)
        if config_notice:
            self._notices.append(config_notice)
        for theme in self.theme_files.values():
            self.register_theme(textual_theme(theme))
        self.theme = DEFAULT_THEME  # on_mount applies the remembered one

    @property
    def available_themes(self) -> dict[str, Theme]:
        """alignterm's themes only: Textual's own have no shift palette (they would keep the dark one)."""
        ours = getattr(self, "theme_files", None)  # Textual asks during App.__init__, before they are read
        themes = super().available_themes
        return themes if ours is None else {name: theme for name, theme in themes.items() if name in ours}

    def _initial_urial(self, urial: str) -> tuple[str, str | None]:
        from alignterm.engine import prompts

        try:
            return urial, prompts.load_urial(urial)
        except AlignTermError as err:
            self._startup_notice = str(err)
            return "none", None

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return self.shift_palette.css_variables()

    # ---- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="query-bar"):
            yield Label("Query ›", id="query-label")
            yield QueryInput(self.history, self.initial_query, id="query")
            yield Static("", id="status")
        with Container(id="answers"):
            yield AnswerPane("base", id="base-pane")
            yield AnswerPane("aligned", id="aligned-pane")
        yield TokenInspector(id="inspector")
        yield UrialEditor(self.urial_label, self.urial_text, id="editor")
        yield Legend(id="legend")
        yield StatsBar(id="stats")
        yield AppFooter(compact=True)

    @property
    def query_input(self) -> QueryInput:
        return self.query_one("#query", QueryInput)

    @property
    def stats(self) -> StatsBar:
        return self.query_one("#stats", StatsBar)

    @property
    def inspector(self) -> TokenInspector:
        return self.query_one("#inspector", TokenInspector)

    @property
    def editor(self) -> UrialEditor:
        return self.query_one("#editor", UrialEditor)

    def pane(self, side: str) -> AnswerPane:
        return self.query_one(f"#{side}-pane", AnswerPane)

    def on_mount(self) -> None:
        self._choose_theme(self.config.theme or DEFAULT_THEME)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.inspector.display = False
        self.editor.display = False
        self.pane("aligned").border_title = "Aligned"
        self._title_base_pane()
        self.stats.set_urial_label(self.urial_label)
        self._apply_monochrome()
        self.query_input.focus()
        self.set_interval(0.1, self._tick)
        self._install_signal_handlers()
        if notice := getattr(self, "_startup_notice", None):
            self.notify(notice + " (using the bare prompt)", title="URIAL prompt", severity="error", timeout=10)
        for notice in self._notices:
            self.notify(notice, title="Settings", severity="warning", timeout=15)
        if self.initial_session is not None:
            self.open_session(self.initial_session)
        elif self.comparator is None:
            self._start_loading()
        else:
            reserve_a_core_for_the_ui()
            self._set_placeholders("Type a query and press Enter.")
        self._update_status()

    def on_resize(self, event: events.Resize) -> None:
        # on the app, not the screen: a modal may be on top when the terminal is resized
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        self.set_class(event.size.height < SHORT_HEIGHT, "-short")

    def _set_placeholders(self, text: str) -> None:
        for side in ("base", "aligned"):
            self.pane(side).placeholder = text

    def _title_base_pane(self) -> None:
        pane = self.pane("base")
        label = self._base_urial_label
        pane.border_title = "Base (bare prompt)" if label == "none" else f"Base + URIAL ({label})"

    # ---- loading ---------------------------------------------------------------------

    def _start_loading(self) -> None:
        self._set_placeholders("Loading the models…")
        self._load_started = time.monotonic()
        specs = (self.base_spec, self.aligned_spec)
        self.loader = threading.Thread(target=self._load_models, args=specs, name="alignterm-load", daemon=True)
        self.loader.start()
        self._update_status()

    def _load_models(self, base: ModelSpec, aligned: ModelSpec) -> None:
        """Load both models (a daemon thread, so quitting mid-load does not wait for it)."""
        # The engine's heavy modules (torch, transformers) are imported here, not at the
        # top of this file, so the first frame is drawn before they load.
        try:
            self._deliver(self._set_load_step, "importing torch…")
            from alignterm.engine.compare import Comparator

            comparator = Comparator.load(
                base,
                aligned,
                top_k=self.top_k,
                progress=lambda step, detail: self._deliver(self._set_load_step, step, detail),
            )
            reserve_a_core_for_the_ui()
        except AlignTermError as err:
            self._deliver(self._load_failed, str(err), (base, aligned))
        except MemoryError:
            self._deliver(self._load_failed, "out of memory while loading the models", (base, aligned))
        except Exception as err:  # never a traceback on screen: one line, and the log has the rest
            self._deliver(self._load_failed, f"{type(err).__name__}: {err}".splitlines()[0], (base, aligned))
        else:
            self._deliver(self._loaded, comparator, (base, aligned))

    def _deliver(self, callback: Callable, *args, **kwargs) -> bool:
        """Run `callback(*args, **kwargs)` on the UI thread; False when the app has gone."""
        try:
            self.call_from_thread(callback, *args, **kwargs)
            return True
        except RuntimeError:
            return False

    def _set_load_step(self, step: str, detail: str = "") -> None:
        self.load_step = step
        loading = next((side for side in ("base", "aligned") if step.startswith(f"loading the {side} model")), None)
        if detail and loading is not None:  # a model starts loading: its own pane says from where
            self.pane(loading).placeholder = f"Loading the {loading} model from {detail}…"
            if loading == "base":
                self.pane("aligned").placeholder = "Waiting: the aligned model loads after the base model."
            else:
                self.pane("base").placeholder = "Base model loaded; loading the aligned model…"
        self._update_status()

    def _loaded(self, comparator: Comparator, specs: tuple[ModelSpec, ModelSpec]) -> None:
        if specs != (self.base_spec, self.aligned_spec):
            return  # a session with other models was opened while these loaded
        self.comparator = comparator
        self.load_step = ""
        if comparator.vocab.notice:
            self.notify(comparator.vocab.notice, severity="warning", timeout=15)
        self._set_placeholders("Type a query and press Enter.")
        self._update_status()
        if self._pending_query is not None:
            query, self._pending_query = self._pending_query, None
            self.start_run(query)

    def _load_failed(self, message: str, specs: tuple[ModelSpec, ModelSpec]) -> None:
        if specs != (self.base_spec, self.aligned_spec):
            return
        self.load_error = message
        self.load_step = ""
        self._pending_query = None
        self._update_status()
        if self.result is not None:  # a replayed session stays on screen, read-only
            self.read_only = f"its models could not be loaded: {message}"
            self.notify(f"The session stays read-only: {self.read_only}", title="Session", severity="error", timeout=15)
            return
        self._set_placeholders("No models loaded: " + message)
        self.push_screen(
            ErrorScreen(
                "Could not load the models",
                message,
                "Check the --base / --aligned paths and restart alignterm. Help (F1), the "
                "URIAL editor (F2) and saved prompts still work; quit with ctrl+q.",
            )
        )

    # ---- status line -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._run_cancel is not None

    @property
    def loading(self) -> bool:
        return self.loader is not None and self.comparator is None and self.load_error is None

    def _tick(self) -> None:
        if self.running or self.loading:
            self._spin = (self._spin + 1) % len(SPINNER)
            self._update_status()

    def _update_status(self) -> None:
        status = self.query_one("#status", Static)
        spin = SPINNER[self._spin]
        if self.read_only is not None:
            text, cls = "read-only", "-error"
        elif self.load_error is not None:
            text, cls = "no models", "-error"
        elif self.loading:
            elapsed = time.monotonic() - self._load_started
            text, cls = f"{spin} {self.load_step or 'loading…'} {elapsed:.0f}s", "-busy"
        elif self.comparator is None:
            text, cls = "replay · Enter re-runs", ""
        elif self.running:
            n = sum(len(self.pane(s).tokens) for s in ("aligned", "base"))
            text, cls = f"{spin} running · {n} tok · Esc cancels", "-busy"
        elif self.result is not None and self.result.cancelled:
            text, cls = "cancelled", ""
        elif self.result is not None:
            text, cls = "done", ""
        else:
            text, cls = "ready", ""
        status.update(text)
        status.set_classes(cls)
        self.refresh_bindings()  # the footer's keys depend on the state (Esc only while it does something)

    # ---- running ---------------------------------------------------------------------

    @on(QueryInput.Submitted, "#query")
    def _query_submitted(self, event: QueryInput.Submitted) -> None:
        event.stop()
        self.start_run(event.value)

    def start_run(self, query: str | None = None, keep_aligned: ComparisonResult | None = None) -> None:
        """Run both models on `query` (default: the query box), replacing any running run;
        with `keep_aligned` (a finished result for the query) only the base model answers again."""
        query = self.query_input.value if query is None else query
        if not query.strip():
            self.notify("Type a query first.", severity="warning")
            return
        if self.read_only is not None:
            self.notify(f"This session is read-only: {self.read_only}", title="Session", severity="warning")
            return
        if self.comparator is None:
            if self.load_error is not None:
                self.notify(f"No models loaded: {self.load_error}", severity="error")
                return
            self._pending_query = query
            if self.loader is None:  # a replayed session: its models load now
                self._start_loading()
            self.notify("The models are still loading; the run starts when they are ready.")
            return
        from alignterm.engine.compare import ComparisonRequest

        self.editor.flush()  # an edit still waiting for its debounce belongs to this run
        if self._run_cancel is not None:
            self._run_cancel.cancel()
        self.history.add(query)
        self._run_id += 1
        self._run_cancel = CancelToken()
        self._rescore_id += 1  # a re-score of the old answer is no longer wanted
        self.result = None
        self.rescored = None
        self._base_urial_label = self.urial_label
        self._run_bare = self.urial_text is None
        # a base re-run streams the kept answer re-scored under the new prompt; its bare scoring stands
        kept_bare = [] if keep_aligned is None or self._run_bare else list(keep_aligned.bare_tokens)
        self.aligned_views = {"bare": kept_bare, "urial": []}
        self._title_base_pane()
        for side in ("base", "aligned"):
            pane = self.pane(side)
            pane.clear()
            pane.border_subtitle = "…"
            pane.placeholder = "waiting for the first token…"
        self.inspector.show(None)
        self.stats.reset()
        self.stats.set_urial_label(self.urial_label)
        self.stats.set_base_label(self.urial_label)
        if kept_bare and self._showing("bare"):  # a base re-run keeps the aligned answer's bare scoring
            self.pane("aligned").set_tokens(kept_bare)
            self.stats.tally_many(kept_bare)
        self.editor.set_status("Edits re-score the aligned answer; ctrl+b re-runs the base model.")
        request = ComparisonRequest(query=query, urial=self.urial_text, params=self.params, live=True,
                                    keep_aligned=keep_aligned)
        self._run_worker(request, self._run_cancel, self._run_id)
        self._update_status()

    class EventsWaiting(Message):
        """The inbox has events from a run (posted from the worker thread)."""

    @work(thread=True, exit_on_error=False, group="model")
    def _run_worker(self, request, cancel: CancelToken, run_id: int) -> None:
        received = self.received_tokens = {"aligned": 0, "base": 0}
        with self.comparator.lock:  # a previous run or a re-score may still be finishing
            try:
                for event in self.comparator.run(request, cancel):  # type: ignore[union-attr]
                    if isinstance(event, TokenEvent):
                        received[event.side] += 1
                    self._inbox.put((run_id, event), stop=lambda: cancel.cancelled)
            except AlignTermError as err:
                self._inbox.put((run_id, RunFailed(str(err))))
            except Exception as err:  # one line for the user, never a traceback
                self._inbox.put((run_id, RunFailed(failure_line(err))))

    @on(EventsWaiting)
    def _drain_inbox(self) -> None:
        """Show what the run produced since the last drain, a pane's new tokens in one go."""
        batch: dict[str, list[TokenEvent]] = {"aligned": [], "base": []}

        def flush() -> None:
            for side, tokens in batch.items():
                if tokens:
                    self.pane(side).extend(tokens)
                    self.stats.tally_many(tokens)
                    tokens.clear()

        for run_id, event in self._inbox.take_all():
            if run_id != self._run_id:
                continue  # a superseded run finishing
            if isinstance(event, TokenEvent):
                if event.side == "aligned":
                    self.aligned_views["urial"].append(event)
                    if self._run_bare:
                        self.aligned_views["bare"].append(event)
                    if not self._showing("bare"):
                        batch["aligned"].append(event)
                else:
                    batch["base"].append(event)
                continue
            if isinstance(event, BareScores):
                self.aligned_views["bare"].extend(event.tokens)
                if self._showing("bare"):
                    batch["aligned"].extend(event.tokens)
                continue
            flush()
            if isinstance(event, SideFinished):
                pane = self.pane(event.side)
                pane.border_subtitle = f"{event.reason} · {len(pane.tokens)} tok"
                self.stats.set_speed(event.side, event.tokens_per_s)
            elif isinstance(event, RunFinished):
                self._run_finished(event.result)
            elif isinstance(event, RunFailed):
                self._run_failed(event.message)
        flush()

    def _show_result(self, result: ComparisonResult) -> None:
        """Both answers, their measures and the summary, as a run ends or a session opens."""
        self.result = result
        self._run_bare = result.urial is None
        self.aligned_views = {"bare": list(result.bare_tokens), "urial": list(result.aligned.tokens)}
        for side in ("base", "aligned"):
            pane = self.pane(side)
            final = result.side(side)  # type: ignore[arg-type]
            if side == "base" and list(pane.tokens) != final.tokens:  # the aligned pane: _show_lens, below
                pane.set_tokens(final.tokens)
            pane.border_subtitle = f"{final.finish_reason or 'cancelled'} · {len(final.tokens)} tok"
            pane.placeholder = "(no answer)" if not result.cancelled else "(cancelled before the first token)"
            self.stats.set_speed(side, final.tokens_per_s)
        self.stats.set_summary(result.summary)
        self._show_lens()

    def _run_finished(self, result: ComparisonResult) -> None:
        self._run_cancel = None
        self._show_result(result)
        self.session = None
        if self.leaving_on is not None:  # the run was cancelled by SIGHUP / SIGTERM: keep what it made
            self._save_and_leave()
            return
        if result.cancelled:
            self.notify("Cancelled: the partial answers are kept.", title="Run")
        else:
            if self.session_store is not None:
                self.session = Session.now(result, self.base_spec, self.aligned_spec, self._base_urial_label)
                self._autosave_to = (self.session, self.session_store.new_path(self.session))
                self._autosave(*self._autosave_to)
            if self._base_urial_label != self.urial_label:
                self._start_rescore()  # the prompt was edited during the run
        self._update_status()

    # ---- themes ----------------------------------------------------------------------

    def _choose_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"Theme {name!r} is not available (see the notices); using {DEFAULT_THEME!r}.",
                        title="Theme", severity="warning", timeout=15)
            name = DEFAULT_THEME
        self.theme = name

    def _theme_changed(self, theme) -> None:
        """Redraw what colours itself from the theme, and remember the choice."""
        self._apply_monochrome()
        if self.config_file is not None and self.config.theme != theme.name:
            self.config.theme = theme.name
            if notice := save_config(self.config, self.config_file):
                self.notify(notice, title="Theme", severity="warning")

    def action_next_theme(self) -> None:
        names = list(self.theme_files)
        following = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.theme = following
        self.notify(f"Theme: {following}", title="Theme")

    def _run_failed(self, message: str) -> None:
        self._run_cancel = None
        for side in ("base", "aligned"):
            self.pane(side).border_subtitle = "failed"
            self.pane(side).placeholder = "(run failed)"
        self.notify(message, title="Run failed", severity="error", timeout=10)
        self._update_status()

    # ---- URIAL edits -----------------------------------------------------------------

    @on(UrialEditor.PromptChanged)
    def _prompt_changed(self, event: UrialEditor.PromptChanged) -> None:
        self.urial_text = event.text
        self.urial_label = "none" if event.text is None else event.label
        self.stats.set_urial_label(self.urial_label)
        if event.text is not None and self.lens == "bare":
            self.lens = "urial"  # an edited prompt is seen in its own lens (the bare one does not change)
            self._show_lens()
        if self._base_urial_label != self.urial_label:
            self.pane("base").border_subtitle = "old prompt · ctrl+b re-runs"
        if self.result is not None and not self.running:
            self._start_rescore()

    def _start_rescore(self) -> None:
        if self.result is not None and self.comparator is None and not self.loading:
            self.editor.set_status("Re-scoring needs the models: Enter re-runs the session on them.")
        if self.result is None or self.comparator is None:
            return
        self._rescore_id += 1
        self.stats.set_rescoring(True)
        self.editor.set_status("re-scoring the aligned answer…")
        self._rescore_worker(self.result, self.urial_text, self._rescore_id)

    @work(thread=True, exit_on_error=False, group="rescore")
    def _rescore_worker(self, result: ComparisonResult, urial: str | None, rescore_id: int) -> None:
        with self.comparator.lock:
            stop = _Superseded(self, rescore_id)
            if stop.cancelled:
                return  # superseded while it waited for the models
            try:
                rescored = self.comparator.rescore_aligned(result, urial, stop)  # type: ignore[union-attr]
            except AlignTermError as err:
                self._deliver(self._rescore_failed, rescore_id, str(err))
            except Exception as err:
                self._deliver(self._rescore_failed, rescore_id, f"{type(err).__name__}: {err}".splitlines()[0])
            else:
                if rescored is not None:  # None: stopped half way for a newer edit
                    self._deliver(self._apply_rescore, rescore_id, rescored)

    def _apply_rescore(self, rescore_id: int, rescored: Rescored) -> None:
        if rescore_id != self._rescore_id:
            return
        self.rescored = rescored
        self.aligned_views["urial"] = list(rescored.tokens)
        self.stats.set_rescored(rescored.summary, rescored.bare, rescored.closure)
        self._show_lens()
        closure = "—" if rescored.closure is None else f"{rescored.closure:.2f}"
        self.editor.set_status(
            f"re-scored: aligned shifted {rescored.summary.share('shifted'):.1%} "
            f"(bare {rescored.bare.share('shifted'):.1%}) · closure {closure} · ctrl+b re-runs base"
        )

    def _rescore_failed(self, rescore_id: int, message: str) -> None:
        if rescore_id != self._rescore_id:
            return
        self.stats.set_rescoring(False)
        self.editor.set_status(message, error=True)
        self.notify(message, title="Re-score failed", severity="error", timeout=10)

    def urial_names(self) -> list[str]:
        from alignterm.engine import prompts

        return prompts.bundled_urial_names()

    def use_urial(self, name: str) -> None:
        """Load a bundled URIAL prompt (opens the editor so the change is visible)."""
        self._show_panel("editor")
        self.editor.load(name)

    # ---- cursor and inspector --------------------------------------------------------

    @on(AnswerPane.CursorMoved)
    def _cursor_moved(self, event: AnswerPane.CursorMoved) -> None:
        if self.inspector.display:
            self.inspector.show(event.token)

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        # Tab into a pane: the inspector shows that pane's token, not the other pane's
        if isinstance(event.widget, AnswerPane) and self.inspector.display:
            self.inspector.show(event.widget.cursor_token)

    def _focused_pane(self) -> AnswerPane:
        focused = self.focused
        if isinstance(focused, AnswerPane):
            return focused
        aligned = self.pane("aligned")
        if aligned.cursor < 0 and self.pane("base").cursor >= 0:
            return self.pane("base")
        return aligned

    def _show_panel(self, which: str) -> None:
        panel = self.inspector if which == "inspector" else self.editor
        other = self.editor if which == "inspector" else self.inspector
        if self.has_class("-short"):
            other.display = False  # on a short terminal the answers need the remaining rows
        panel.display = True
        self._panels_changed()

    def _panels_changed(self) -> None:
        """A panel opened or closed: on a short, narrow terminal the panes then sit side by side
        (app.tcss), since stacked under a panel they would be bare borders."""
        self.set_class(bool(self.editor.display or self.inspector.display), "-panel")
        self.refresh_bindings()

    # ---- actions ---------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide keys from the footer where they would do nothing."""
        if action == "cancel":
            return self.running or self.inspector.display or self.editor.display
        return True

    def action_run(self) -> None:
        self.start_run()

    def action_cancel(self) -> None:
        """Escape: cancel a run at once; otherwise close the inspector, then the editor."""
        if self._run_cancel is not None:
            self._run_cancel.cancel()
            self.query_one("#status", Static).update("cancelling…")
        elif self.inspector.display:
            self.inspector.display = False
        elif self.editor.display:
            self.editor.display = False
            self.query_input.focus()
        self._panels_changed()

    def action_rerun_base(self) -> None:
        """Re-run the base model with the current URIAL prompt, keeping the aligned answer."""
        result = self.result
        if result is None or result.cancelled or (self.comparator is not None and not self.comparator.base.can_score):
            self.start_run(result.query if result is not None else None)  # nothing to keep: both sides
        else:
            self.start_run(result.query, keep_aligned=result)

    def _drop_runs(self) -> None:
        """Cancel the run and forget any re-score: what they would deliver is no longer wanted."""
        if self._run_cancel is not None:
            self._run_cancel.cancel()
        self._run_id += 1
        self._run_cancel = None
        self._rescore_id += 1
        self.rescored = None

    def action_clear(self) -> None:
        self._drop_runs()
        self.result = None
        self.aligned_views = {"bare": [], "urial": []}
        for side in ("base", "aligned"):
            self.pane(side).clear()
            self.pane(side).border_subtitle = ""
            self.pane(side).placeholder = "Type a query and press Enter."
        self.inspector.show(None)
        self.stats.reset()
        self.query_input.value = ""
        self.query_input.focus()
        self._update_status()

    def action_toggle_editor(self) -> None:
        self.call_after_refresh(self.refresh_bindings)
        if self.editor.display:
            self.editor.display = False
            self.query_input.focus()
            self._panels_changed()
        else:
            self._show_panel("editor")
            self.editor.text_area.focus()

    def action_toggle_inspector(self) -> None:
        self.call_after_refresh(self.refresh_bindings)
        if self.inspector.display:
            self.inspector.display = False
            self._panels_changed()
            return
        self._show_panel("inspector")
        pane = self._focused_pane()
        if pane.cursor < 0 and pane.tokens:
            pane.focus()  # focusing puts the cursor on the first visible token
        elif pane.tokens:
            pane.focus()
        self.inspector.show(pane.cursor_token)

    def action_next_shifted(self) -> None:
        pane = self._focused_pane()
        pane.focus()
        pane.action_next_shifted()

    def _showing(self, view: str) -> bool:
        """Whether the aligned pane shows `view` ("bare" or "urial"); a bare run's two views are one."""
        return self.lens == view or self._run_bare

    def _show_lens(self) -> None:
        """Put the lens's scoring of the aligned answer in its pane, the recovered tokens marked in the URIAL lens."""
        from alignterm.engine.shift import recovered

        views = self.aligned_views
        pane = self.pane("aligned")
        if self.running:  # the pane restarts from the view, and the run keeps filling it
            pane.set_tokens(views[self.lens])
            self.stats.reset(sides=("aligned",))
            self.stats.tally_many(pane.tokens)
        else:
            pane.recolor(views[self.lens])
        pane.set_recovered(recovered(views["bare"], views["urial"]) if self.lens == "urial" else [])
        self.stats.set_lens(self.lens)
        legend = self.query_one(Legend)
        legend.lens = self.lens
        legend.redraw()

    def action_toggle_lens(self) -> None:
        """ctrl+t: the aligned answer under base + bare prompt (TDS) or under base + URIAL, recovered tokens marked."""
        self.lens = "urial" if self.lens == "bare" else "bare"
        self._show_lens()
        if self.lens == "urial" and self.urial_text is None:
            self.notify("The prompt is the bare one: both lenses are the same. Choose a URIAL prompt (F2).",
                        title="Lens", severity="warning")

    def action_toggle_monochrome(self) -> None:
        self.monochrome = not self.monochrome
        self._apply_monochrome()
        self.notify("Monochrome mode: categories shown as plain / bold / reverse." if self.monochrome else "Colour mode.")

    def _apply_monochrome(self) -> None:
        for side in ("base", "aligned"):
            self.pane(side).monochrome = self.monochrome
        for widget in (self.stats, self.query_one(Legend), self.inspector):
            widget.monochrome = self.monochrome
        self.stats._redraw()
        self.query_one(Legend).redraw()
        self.inspector.refresh_token()

    def action_save_prompt(self) -> None:
        self._show_panel("editor")
        self.editor.action_save()

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Every binding, by where it applies, read from the classes that define them."""
        return [
            ("Anywhere", describe_bindings(self, [
                *App.BINDINGS, *self.BINDINGS,
                Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Command palette"),
                Binding("tab", "focus_next", "Next area (query, answers, editor)"),
                Binding("shift+tab", "focus_previous", "Previous area"),
            ])),
            ("Query box", [("enter", "Run the query"), *describe_bindings(self, QueryInput.BINDINGS)]),
            ("Answer panes (token cursor)", [("click", "Put the cursor on a token"), *describe_bindings(self, AnswerPane.BINDINGS)]),
            ("URIAL editor", describe_bindings(self, UrialEditor.BINDINGS)),
        ]

    def action_diversity(self) -> None:
        """F9: sample the query N times per side (Lake et al. 2024) on a screen of its own."""
        from alignterm.engine.samples import Sampler

        from .screens.diversity import DiversityJob, DiversityScreen

        query = self.query_input.value.strip() or (self.result.query if self.result is not None else "")
        if self.comparator is None:
            self.notify("Diversity needs the models, and none are loaded.", severity="warning")
        elif self.running:
            self.notify("A run is in progress: let it finish, or cancel it (Esc).", severity="warning")
        elif not query:
            self.notify("Type a query first.", severity="warning")
        else:
            if self._sampler is None or self._sampler[0] is not self.comparator:
                self._sampler = (self.comparator, Sampler(self.comparator.base, self.comparator.aligned))
            job = DiversityJob(query, self.urial_text, self.urial_label, self.params)
            self.push_screen(DiversityScreen(self._sampler[1], self.comparator.lock, job))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.help_sections()))

    def on_unmount(self) -> None:
        # a run ends at the next token once cancelled, so leaving does not wait for the model
        self._remove_signal_handlers()
        self._inbox.close()
        if self._run_cancel is not None:
            self._run_cancel.cancel()
        self._rescore_id += 1


def run_app(
    base: ModelSpec,
    aligned: ModelSpec,
    urial: str = "default",
    params: DecodingParams = DecodingParams(),
    query: str | None = None,
    session: str | Path | None = None,
    **options,
) -> int:
    """Run the app in the terminal until the user quits; the process exit code.

    `session` is a session file to open (SessionError, a BadInput, if it cannot be read).
    """
    import platformdirs

    from alignterm.config import config_path
    from alignterm.themes import user_dir

    options.setdefault("history_file", platformdirs.user_data_path("alignterm") / "history.jsonl")
    options.setdefault("session_store", SessionStore())
    options.setdefault("config_file", config_path())
    options.setdefault("themes_dir", user_dir())
    if session is not None:
        options["session"] = load_session(session)
    app = AlignTermApp(base, aligned, urial, params, query, **options)
    app.run()
    code = app.return_code or 0
    if app.loader is not None and app.loader.is_alive():
        # Quit while the models were still loading: the loader thread is inside torch,
        # and letting the interpreter finalise under it can abort the process. Nothing
        # is left to save, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
