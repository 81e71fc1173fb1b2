"""CompareScreen: the default screen, base and aligned answers side by side, coloured by shift.

It composes the panes, the stats bar, the URIAL editor and the token inspector, and reacts
to what the model host (tui/model_host.py) reports: loading steps, a run's events drained
from the inbox, re-scores (architecture §2: widgets draw what events say). What it is
doing is one `CompareState`, held in a reactive that the status line draws.

At about 660 lines it is over the project's ~500-line guide: it is the app's one workflow
(load, run, stream, re-score, open a session, switch the lens, open and close panels), and
each part reads and sets the same few things (the result on screen, the panes, the state);
the model work is in the model host, saving in the session keeper, forks in tui/fork.py, drawing
in the widgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Container, Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Label

from alignterm.engine.events import SIDES, BareScores, NudgedToken, RunFinished, SideFinished, TokenEvent
from alignterm.formats.record import RUNAWAY_HINT

from ..conversation import History, rerun_hint, turn_of, without_history
from ..fork import Forks, forced_count
from ..lens import AlignedViews
from ..model_host import EventsWaiting, Loaded, LoadFailed, LoadStep, ModelHost, RescoreDone, RescoreFailed, RunFailed
from ..nudge_view import NudgeView
from ..widgets.answer_pane import PROMPT, AnswerPane
from ..widgets.footer import AppFooter
from ..widgets.inspector import TokenInspector
from ..widgets.legend import Legend
from ..widgets.query_input import QueryInput
from ..widgets.stats_bar import StatsBar
from ..widgets.status_line import CompareState, StatusLine
from ..widgets.urial_editor import UrialEditor
from .error import ErrorScreen

if TYPE_CHECKING:
    from alignterm.engine.compare import ComparisonRequest, Rescored
    from alignterm.engine.events import ComparisonResult
    from alignterm.sessions import Session

    from ..app import AlignTermApp

GPU_MEMORY_EVERY_S = 2.0


class CompareScreen(Screen[None]):
    """The comparison: query bar, both answers, inspector / editor, legend, stats bar, footer."""

    state: reactive[CompareState] = reactive(CompareState.READY, init=False)

    host: ModelHost  # the app makes it with this screen as the one its messages go to

    def __init__(self, app: AlignTermApp, urial: str, urial_text: str | None, initial_query: str) -> None:
        super().__init__()
        self._app = app
        self.initial_query = initial_query
        self.urial_label, self.urial_text = urial, urial_text
        self._base_urial_label = urial  # the prompt the base answer on screen was made with
        self.result: ComparisonResult | None = None
        self.rescored: Rescored | None = None  # the last re-score shown, for the current result
        self.aligned = AlignedViews()  # the aligned answer's two scorings and the lens (tui/lens.py)
        self.read_only: str | None = None  # why the session on screen cannot be run again
        self._pending_query: tuple[str, History] | None = None  # a query (and its history) typed while the models load
        self._runaway_noticed: ComparisonResult | None = None  # the result whose runaway base was notified
        self.nudge = NudgeView(self)  # the nudged answer in the base pane, and the URIAL ablation (tui/nudge_view.py)
        self.forks = Forks(self)  # a fork at a token, and the runs it came from (tui/fork.py)

    def compose(self) -> ComposeResult:
        with Horizontal(id="query-bar"):
            yield Label("Query ›", id="query-label")
            yield QueryInput(self._app.history, self.initial_query, id="query")
            yield StatusLine(id="status")
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

    @property
    def status_line(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    @property
    def running(self) -> bool:
        return self.host.running

    def on_mount(self) -> None:
        self.inspector.display = False
        self.editor.display = False
        self.pane("aligned").border_title = "Aligned"
        self.title_base_pane()
        self.stats.urial_label = self.urial_label
        self.apply_monochrome()
        self.query_input.focus()
        self.start(self._app.initial_session)

    def start(self, session: Session | None) -> None:
        """Open `session`, or load the models, or (given a loaded pair) wait for a query."""
        if session is not None:
            self.open_session(session)
        elif self.host.comparator is None:
            self._start_loading()
        else:
            from ..model_host import reserve_a_core_for_the_ui

            reserve_a_core_for_the_ui()
            self._set_placeholders(PROMPT)
            self._app.refresh_bindings()

    def _set_placeholders(self, text: str) -> None:
        for side in ("base", "aligned"):
            self.pane(side).placeholder = text

    def title_base_pane(self) -> None:
        label = self._base_urial_label
        self.pane("base").border_title = "Base (bare prompt)" if label == "none" else f"Base + URIAL ({label})"

    def at_rest(self) -> CompareState:
        """The state once work ends: what the result on screen is, or that the models are missing."""
        if self.read_only is not None:
            return CompareState.READ_ONLY
        if self.host.load_error is not None:
            return CompareState.LOAD_FAILED
        if self.host.comparator is None:
            return CompareState.LOADING if self.host.loading else CompareState.REPLAY
        if self.result is None:
            return CompareState.READY
        return CompareState.CANCELLED if self.result.cancelled else CompareState.DONE

    def watch_state(self, state: CompareState) -> None:
        self.status_line.result_cancelled = self.result is not None and self.result.cancelled
        self.status_line.state = state
        self._app.refresh_bindings()  # the footer's keys depend on the state (Esc only while it does something)

    # ---- loading ---------------------------------------------------------------------

    def _start_loading(self) -> None:
        self._set_placeholders("Loading the models…")
        self.host.start_loading()
        self.status_line.since = self.host.load_started
        self.state = CompareState.LOADING
        self._app.refresh_bindings()

    @on(LoadStep)
    def _load_step(self, message: LoadStep) -> None:
        if message.step.warning:  # worth more than a passing status line: it stays a while
            self.notify(message.step.text, title="Memory", severity="warning", timeout=20)
        self.status_line.detail = message.step.text
        side = message.step.side
        if side is not None and message.step.source:  # a model starts loading: its own pane says from where
            self.pane(side).placeholder = f"Loading the {side} model from {message.step.source}…"
            if side == "base":
                self.pane("aligned").placeholder = "Waiting: the aligned model loads after the base model."
            else:
                self.pane("base").placeholder = "Base model loaded; loading the aligned model…"

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if not self.host.loaded(message):
            return
        if message.comparator.vocab.notice:
            self.notify(message.comparator.vocab.notice, severity="warning", timeout=15)
        devices = message.comparator.base.devices | message.comparator.aligned.devices
        if any(d.startswith("cuda") for d in devices):  # torch's counters, read every few seconds
            self.set_interval(GPU_MEMORY_EVERY_S, lambda: self._show_gpu_memory(devices))
            self._show_gpu_memory(devices)
        self._set_placeholders(PROMPT)
        self.state = self.at_rest()
        self._app.refresh_bindings()
        if self._pending_query is not None:
            (query, history), self._pending_query = self._pending_query, None
            self.start_run(query, history=history)

    def _show_gpu_memory(self, devices: frozenset[str]) -> None:
        from alignterm.engine.devices import cuda_memory

        self.stats.gpu_memory = tuple(cuda_memory(devices))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        if not self.host.load_failed(message):
            return
        self._pending_query = None
        if self.result is not None:  # a replayed session stays on screen, read-only
            self.read_only = f"its models could not be loaded: {message.message}"
            self.state = CompareState.READ_ONLY
            self.notify(f"The session stays read-only: {self.read_only}", title="Session", severity="error", timeout=15)
            return
        self.state = CompareState.LOAD_FAILED
        self._set_placeholders("No models loaded: " + message.message)
        self._app.push_screen(ErrorScreen(
            "Could not load the models",
            message.message,
            "Check the --base / --aligned paths and restart alignterm. Help (F1), the "
            "URIAL editor (F2) and saved prompts still work; quit with ctrl+q.",
        ))

    # ---- running ---------------------------------------------------------------------

    @on(QueryInput.Submitted, "#query")
    def _query_submitted(self, event: QueryInput.Submitted) -> None:
        event.stop()
        self.start_run(event.value)

    def start_run(self, query: str | None = None, keep_aligned: ComparisonResult | None = None,
                  history: History = ()) -> None:
        """Run both models on `query` (default: the query box) after a conversation's `history`
        (tui/conversation.py), replacing any running run; with `keep_aligned` (a finished result
        for the query) only the base model answers again, after that result's history."""
        query = self.query_input.value if query is None else query
        history = keep_aligned.history if keep_aligned is not None else history
        if not query.strip():
            self.notify("Type a query first.", severity="warning")
            return
        if self.read_only is not None:
            self.notify(f"This session is read-only: {self.read_only}", title="Session", severity="warning")
            return
        if self.host.comparator is None:
            if self.host.load_error is not None:
                self.notify(f"No models loaded: {self.host.load_error}", severity="error")
                return
            self._pending_query = (query, history)
            if self.host.loader is None:  # a replayed session: its models load now
                self._start_loading()
            self.notify("The models are still loading; the run starts when they are ready.")
            return
        from alignterm.engine.compare import ComparisonRequest

        self.editor.flush()  # an edit still waiting for its debounce belongs to this run
        self._app.history.add(query)
        self.forks.reset()
        self.begin_run(ComparisonRequest(query=query, urial=self.urial_text, params=self.host.params,
                                         live=True, keep_aligned=keep_aligned, history=history), self.urial_label)

    def begin_run(self, request: ComparisonRequest, base_label: str) -> None:
        """Start `request` in the model host, the panes emptied for it (a run, a base re-run, a fork:
        tui/fork.py); `base_label` names the URIAL prompt of the base answer it makes."""
        keep_aligned = request.keep_aligned
        self.result = None
        self.rescored = None
        self._reset_view(base_label)
        self.status_line.turn = turn_of(request.history)
        run_bare = request.urial is None
        # a base re-run streams the kept answer re-scored under the new prompt; its bare scoring stands
        kept_bare = [] if keep_aligned is None or run_bare else list(keep_aligned.bare_tokens)
        self.aligned.start_run(run_bare, kept_bare)
        for side in SIDES:
            pane = self.pane(side)
            pane.clear()
            pane.set_forced(forced_count(request, side))
            pane.border_subtitle = "…"
            pane.placeholder = "waiting for the first token…"
        if kept_bare and self.aligned.showing("bare"):  # a base re-run keeps the aligned answer's bare scoring
            self.pane("aligned").set_tokens(kept_bare)
            self.stats.tally_many(kept_bare)
        self.editor.set_status("Edits re-score the aligned answer; ctrl+b re-runs the base model.")
        self.host.start_run(request)
        self.state = CompareState.RUNNING
        self._app.refresh_bindings()

    def _reset_view(self, base_label: str) -> None:
        """No nudged answer, token or tally on screen; the base pane and stats named for `base_label`."""
        self.nudge.reset()
        self._base_urial_label = base_label
        self.title_base_pane()
        self.inspector.show(None)
        self.stats.reset()
        self.stats.urial_label = self.urial_label
        self.stats.base_label = base_label

    @on(EventsWaiting)
    def _drain_inbox(self) -> None:
        """Show what the run produced since the last drain, a pane's new tokens in one go."""
        batch: dict[str, list[TokenEvent]] = {"aligned": [], "base": []}
        nudged: list[NudgedToken] = []  # a nudged run's tokens (tui/nudge_view.py)

        def flush() -> None:
            for side, tokens in batch.items():
                if tokens:
                    self.pane(side).extend(tokens)
                    self.stats.tally_many(tokens)
                    tokens.clear()
            self.nudge.flush(nudged)
            self.status_line.detail = f"{sum(len(self.pane(s).tokens) for s in ('aligned', 'base'))} tok"

        for event in self.host.take_events():
            if self.nudge.take(event, nudged):
                continue
            if isinstance(event, TokenEvent):
                if event.side == "aligned":
                    if self.aligned.streamed(event):
                        batch["aligned"].append(event)
                else:
                    batch["base"].append(event)
                continue
            if isinstance(event, BareScores):
                if self.aligned.bare_scored(event.tokens):
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

    def show_result(self, result: ComparisonResult) -> None:
        """Both answers, their measures and the summary, as a run ends or a session opens."""
        self.result = result
        self.status_line.turn = turn_of(result.history)
        self.aligned.show_result(result)
        for side in ("base", "aligned"):
            pane = self.pane(side)
            final = result.side(side)
            if side == "base" and list(pane.tokens) != final.tokens:  # the aligned pane: _show_lens, below
                pane.set_tokens(final.tokens)
            # a base answer cut at the token limit missed its stop string: said in the border (architecture §3 "runaway")
            runaway = side == "base" and final.finish_reason == "length"
            reason = "length · ran to the limit" if runaway else final.finish_reason or "cancelled"
            pane.border_subtitle = f"{reason} · {len(final.tokens)} tok"
            pane.set_class(runaway, "-runaway")
            pane.set_forced(final.forced)
            pane.placeholder = "(no answer)" if not result.cancelled else "(cancelled before the first token)"
            self.stats.set_speed(side, final.tokens_per_s)
        self.stats.set_summary(result.summary)
        self._show_lens()
        self.forks.decorate()
        if result.base.finish_reason == "length" and result is not self._runaway_noticed:
            self._runaway_noticed = result  # once per result: leaving the nudged view shows it again
            self.notify(RUNAWAY_HINT, title="Runaway base answer", severity="warning", timeout=15)

    def _run_finished(self, result: ComparisonResult) -> None:
        self.host.run_ended()
        self.show_result(result)
        keeper = self._app.keeper
        keeper.session = None
        self.state = self.at_rest()
        if keeper.leaving_on is not None:  # the run was cancelled by SIGHUP / SIGTERM: keep what it made
            keeper.save_and_leave()
            return
        if result.cancelled:
            self.notify("Cancelled: the partial answers are kept.", title="Run")
        else:
            if keeper.store is not None and (session := self.session_on_screen()) is not None:
                keeper.autosave(session)
            if self._base_urial_label != self.urial_label:
                self.start_rescore()  # the prompt was edited during the run
        self._app.refresh_bindings()

    def _run_failed(self, message: str) -> None:
        self.host.run_ended()
        for side in ("base", "aligned"):
            self.pane(side).border_subtitle = "failed"
            self.pane(side).placeholder = "(run failed)"
        self.notify(message, title="Run failed", severity="error", timeout=10)
        self.state = self.at_rest()
        self._app.refresh_bindings()

    @property
    def base_urial_label(self) -> str:
        """The URIAL prompt the base answer on screen was made with ("none": the bare prompt)."""
        return self._base_urial_label

    def show_again(self, result: ComparisonResult, rescored: Rescored | None, base_label: str) -> None:
        """A result shown before, as it was (going back from a fork, tui/fork.py): what runs is dropped."""
        self.drop_runs()
        self._reset_view(base_label)
        self.show_result(result)
        if rescored is not None:
            self.show_rescored(rescored)
        self.state = self.at_rest()
        self._app.refresh_bindings()

    def session_on_screen(self) -> Session | None:
        """The comparison on screen as a session (the keeper's, made once per result)."""
        if self.result is None:
            return None
        return self._app.keeper.session_for(self.result, *self.host.specs, self._base_urial_label)

    def record_on_screen(self) -> dict[str, Any] | None:
        """The comparison on screen as an `analyze` record (architecture §3), without top-k."""
        if self.result is None:
            return None
        from alignterm.formats.record import result_record

        base, aligned = self.host.specs
        urial = None if self.result.urial is None else self._base_urial_label
        return result_record(self.result, base_model=base.spec, aligned_model=aligned.spec, urial=urial)

    def show_prompts(self) -> None:
        """The prompts each model saw for the result on screen, their text decoded by the loaded tokenizers."""
        record, comparator = self.record_on_screen(), self.host.comparator
        if record is None:
            self.notify("No run yet: the prompts are shown once a run has made them.", title="Prompts")
            return
        if comparator is None:
            self.notify("Showing the prompts' text needs the models' tokenizers: Enter re-runs the session on them.",
                        title="Prompts", severity="warning")
            return
        from alignterm.formats.prompt_view import prompt_tokens, render_prompts

        from .prompts import PromptsScreen

        record["prompt_view"] = prompt_tokens(record, aligned=comparator.aligned.tokenizer, base=comparator.base.tokenizer)
        self._app.push_screen(PromptsScreen(render_prompts(record)))

    def drop_runs(self) -> None:
        """Cancel the run and forget any re-score: what they would deliver is no longer wanted."""
        self.host.drop()
        self.rescored = None

    def cancel(self) -> bool:
        """Escape during a run: cancel it at once (the partial answers arrive as its result)."""
        if not self.host.cancel_run():
            return False
        self.status_line.note = "cancelling…"
        return True

    def clear(self) -> None:
        self.drop_runs()
        self.nudge.reset()
        self.forks.reset()
        self.title_base_pane()
        self.result = None
        self.status_line.turn = 1  # the next Enter starts a new conversation
        self.aligned.clear()
        for side in ("base", "aligned"):
            self.pane(side).clear()
            self.pane(side).border_subtitle = ""
            self.pane(side).placeholder = PROMPT
        self.inspector.show(None)
        self.stats.reset()
        self.query_input.value = ""
        self.query_input.focus()
        self.state = self.at_rest()
        self._app.refresh_bindings()

    # ---- sessions --------------------------------------------------------------------

    def open_session(self, session: Session) -> None:
        """Show a saved comparison exactly as it was, with no model; a run re-runs it on its models."""
        self.drop_runs()
        self.nudge.reset()
        self.forks.reset()
        self._app.keeper.session = session
        result = session.result
        self.host.use_models(session.base, session.aligned)
        self.host.params = result.params
        missing = session.missing_models() if self.host.comparator is None else []
        self.read_only = f"{' and '.join(missing)} not found on this machine" if missing else None
        self.urial_text = result.urial
        self.urial_label = self._base_urial_label = session.urial_label if result.urial is not None else "none"
        self.editor.show_prompt(result.urial, self.urial_label)
        self.query_input.value = result.query
        self.title_base_pane()
        self.inspector.show(None)
        self.stats.reset()
        self.stats.urial_label = self.urial_label
        self.stats.base_label = self.urial_label
        self.show_result(result)
        self.state = self.at_rest()
        self._app.refresh_bindings()
        name = session.path.name if session.path is not None else "session"
        if self.read_only is not None:
            self.notify(f"Opened {name} read-only: its models ({self.read_only}) are needed to run it again.",
                        title="Session", severity="warning", timeout=15)
        else:
            self.notify(f"Opened {name}: replayed without a model. {rerun_hint(result)}", title="Session")

    # ---- URIAL edits -----------------------------------------------------------------

    @on(UrialEditor.PromptChanged)
    def _prompt_changed(self, event: UrialEditor.PromptChanged) -> None:
        self.urial_text = event.text
        self.urial_label = "none" if event.text is None else event.label
        self.stats.urial_label = self.urial_label
        if event.text is not None and self.aligned.lens == "bare":
            self.aligned.lens = "urial"  # an edited prompt is seen in its own lens (the bare one does not change)
            self._show_lens()
        if self._base_urial_label != self.urial_label:
            self.pane("base").border_subtitle = "old prompt · ctrl+b re-runs"
        if self.result is not None and not self.running:
            self.start_rescore()

    def start_rescore(self) -> None:
        if self.result is not None and self.host.comparator is None and not self.host.loading:
            self.editor.set_status("Re-scoring needs the models: Enter re-runs the session on them.")
        if self.result is None or self.host.comparator is None:
            return
        self.stats.rescoring = True
        self.editor.set_status("re-scoring the aligned answer…")
        self.host.start_rescore(self.result, self.urial_text)
        self.state = CompareState.RESCORING

    @on(RescoreDone)
    def _apply_rescore(self, message: RescoreDone) -> None:
        if not self.host.is_current_rescore(message.rescore_id):
            return
        self.show_rescored(message.rescored)
        self.state = self.at_rest()

    def show_rescored(self, rescored: Rescored) -> None:
        """The aligned answer re-scored under the edited URIAL prompt, in the lens, stats and editor."""
        self.rescored = rescored
        self.aligned.urial = list(rescored.tokens)
        self.stats.set_rescored(rescored.summary, rescored.bare, rescored.closure)
        self._show_lens()
        closure = "—" if rescored.closure is None else f"{rescored.closure:.2f}"
        self.editor.set_status(
            f"re-scored: aligned shifted {rescored.summary.share('shifted'):.1%} "
            f"(bare {rescored.bare.share('shifted'):.1%}) · closure {closure} · ctrl+b re-runs base"
        )

    @on(RescoreFailed)
    def _rescore_failed(self, message: RescoreFailed) -> None:
        if not self.host.is_current_rescore(message.rescore_id):
            return
        self.stats.rescoring = False
        self.editor.set_status(message.message, error=True)
        self.notify(message.message, title="Re-score failed", severity="error", timeout=10)
        self.state = self.at_rest()

    # ---- the lens ----------------------------------------------------------------------

    def _show_lens(self) -> None:
        """Put the lens's scoring of the aligned answer in its pane, the recovered tokens marked in the URIAL lens."""
        pane, lens = self.pane("aligned"), self.aligned.lens
        if self.running:  # the pane restarts from the view, and the run keeps filling it
            pane.set_tokens(self.aligned.shown)
            self.stats.reset(sides=("aligned",))
            self.stats.tally_many(self.aligned.shown)
        else:
            pane.recolor(self.aligned.shown)
        pane.set_recovered(self.aligned.recovered())
        self.stats.lens = lens
        self.query_one(Legend).lens = lens

    def toggle_lens(self) -> None:
        """The aligned answer under base + bare prompt (TDS) or under base + URIAL, recovered tokens marked."""
        self.aligned.lens = "urial" if self.aligned.lens == "bare" else "bare"
        self._show_lens()
        if self.aligned.lens == "urial" and self.urial_text is None:
            self.notify("The prompt is the bare one: both lenses are the same. Choose a URIAL prompt (F2).",
                        title="Lens", severity="warning")

    def apply_monochrome(self) -> None:
        monochrome = self._app.monochrome
        for side in ("base", "aligned"):
            self.pane(side).monochrome = monochrome
        for widget in (self.stats, self.query_one(Legend), self.inspector):
            widget.monochrome = monochrome
        self.stats._redraw()
        self.query_one(Legend).redraw()
        self.inspector.refresh_token()

    # ---- cursor, inspector and editor ----------------------------------------------------

    @on(AnswerPane.CursorMoved)
    def _cursor_moved(self, event: AnswerPane.CursorMoved) -> None:
        if self.inspector.display:
            self.inspector.show(event.token)

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        # Tab into a pane: the inspector shows that pane's token, not the other pane's
        if isinstance(event.widget, AnswerPane) and self.inspector.display:
            self.inspector.show(event.widget.cursor_token)

    def focused_pane(self) -> AnswerPane:
        focused = self.focused
        if isinstance(focused, AnswerPane):
            return focused
        aligned = self.pane("aligned")
        if aligned.cursor < 0 and self.pane("base").cursor >= 0:
            return self.pane("base")
        return aligned

    def show_panel(self, which: str) -> None:
        panel = self.inspector if which == "inspector" else self.editor
        other = self.editor if which == "inspector" else self.inspector
        if self._app.has_class("-short"):
            other.display = False  # on a short terminal the answers need the remaining rows
        panel.display = True
        self.panels_changed()

    def panels_changed(self) -> None:
        """A panel opened or closed: on a short, narrow terminal the panes then sit side by side
        (app.tcss), since stacked under a panel they would be bare borders."""
        self._app.set_class(bool(self.editor.display or self.inspector.display), "-panel")
        self._app.refresh_bindings()

    def close_panel(self) -> None:
        """Escape with no run: close the inspector, else the editor."""
        if self.inspector.display:
            self.inspector.display = False
        elif self.editor.display:
            self.editor.display = False
            self.query_input.focus()
        self.panels_changed()

    def toggle_editor(self) -> None:
        if self.editor.display:
            self.editor.display = False
            self.query_input.focus()
            self.panels_changed()
        else:
            self.show_panel("editor")
            self.editor.text_area.focus()

    def toggle_inspector(self) -> None:
        if self.inspector.display:
            self.inspector.display = False
            self.panels_changed()
            return
        self.show_panel("inspector")
        pane = self.focused_pane()
        if pane.tokens:
            pane.focus()  # focusing puts the cursor on the first visible token
        self.inspector.show(pane.cursor_token)

    def open_diversity(self) -> None:
        """F9: sample the query N times per side (Lake et al. 2024) on a screen of its own."""
        from .diversity import DiversityJob, DiversityScreen

        result, comparator = self.result, self.host.comparator
        query = self.query_input.value.strip() or (result.query if result is not None else "")
        if comparator is None:
            self.notify("Diversity needs the models, and none are loaded.", severity="warning")
        elif self.running:
            self.notify("A run is in progress: let it finish, or cancel it (Esc).", severity="warning")
        elif not query:
            self.notify("Type a query first.", severity="warning")
        else:
            job = DiversityJob(query, self.urial_text, self.urial_label, self.host.params)
            self._app.push_screen(DiversityScreen(self.host.sampler(), comparator.lock, job))
            note = without_history(result, "Diversity")
            if note is not None:
                self.notify(note, title="Diversity")
