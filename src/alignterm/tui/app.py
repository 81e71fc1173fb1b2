"""AlignTermApp: base and aligned answers streaming side by side, coloured by token distribution shift.

The app is thin (architecture §2): it holds the themes, the key bindings and the settings,
starts the default screen and hands work to three parts: the comparison screen
(tui/screens/compare.py) draws and reacts, the model host (tui/model_host.py) loads the
models and runs them off the UI thread, and the session keeper (tui/persistence.py) saves.
Key bindings live here, not on the screen, so that they still work under a modal (the
load-failure screen says F1 and F2 do).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme
from textual.widget import AwaitMount

from alignterm.config import Config, load_config, save_config
from alignterm.engine.errors import AlignTermError
from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.sessions import Session, SessionStore, load_session
from alignterm.themes import DEFAULT_THEME, load_themes

from .commands import AlignTermCommands
from .history import QueryHistory
from .model_host import ModelHost, demo_query, reserve_a_core_for_the_ui  # noqa: F401  (bench/soak.py and tests import it from here)
from .palette import DEFAULT_PALETTE, ShiftPalette, textual_theme
from .persistence import SessionKeeper
from .screens.compare import CompareScreen
from .screens.help import HelpScreen, app_help_sections
from .widgets.answer_pane import AnswerPane
from .widgets.inspector import TokenInspector
from .widgets.query_input import QueryInput
from .widgets.stats_bar import StatsBar
from .widgets.urial_editor import UrialEditor

if TYPE_CHECKING:
    from alignterm.engine.compare import Comparator, Rescored
    from alignterm.engine.events import ComparisonResult

NARROW_WIDTH = 70  # below this the two answer panes stack
SHORT_HEIGHT = 32  # below this the inspector and the editor take turns


class AlignTermApp(App[int]):
    """The alignterm terminal app."""

    CSS_PATH = "app.tcss"
    TITLE = "alignterm"
    COMMANDS = App.COMMANDS | {AlignTermCommands}

    BINDINGS = [
        Binding("f5,ctrl+r", "run", "Run", tooltip="Run both models on the query (Enter in the query box)"),
        Binding("escape", "cancel", "Cancel",
                tooltip="Cancel the run at once, keeping the partial answers; else close the inspector / editor; "
                        "else back from a fork to the run it came from"),
        Binding("ctrl+b", "rerun_base", "Re-run base", show=False,
                tooltip="Re-run the base model with the current URIAL prompt (the aligned answer is kept)"),
        Binding("ctrl+l", "clear", "Clear", show=False,
                tooltip="Clear both answers, the stats and the query; the next run starts a new conversation"),
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
        Binding("ctrl+n", "toggle_nudge", "Nudge", show=False,
                tooltip="Show the nudged answer (the base model, the aligned one writing the words where the base's "
                        "top-1 probability is below γ) in place of the base answer, or the base answer again"),
        Binding("ctrl+f", "show_prompts", "Prompts", show=False,
                tooltip="Show the prompts each model saw for the run on screen: text with special tokens, and ids"),
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
        self.history = QueryHistory(history_file)
        self.monochrome = bool(os.environ.get("NO_COLOR")) if monochrome is None else monochrome
        self.initial_session = session
        self._startup_notice: str | None = None
        urial_label, urial_text = self._initial_urial(urial)
        self.config_file = config_file
        self.config, config_notice = load_config(config_file) if config_file is not None else (Config(), None)
        self.theme_files, self._notices = load_themes(themes_dir)
        if config_notice:
            self._notices.append(config_notice)
        for theme in self.theme_files.values():
            self.register_theme(textual_theme(theme))
        self.theme = DEFAULT_THEME  # on_mount applies the remembered one
        self.compare = CompareScreen(self, urial_label, urial_text, query if query is not None else demo_query(base))
        self.host = self.compare.host = ModelHost(self.compare, base, aligned, params, top_k, comparator)
        self.keeper = SessionKeeper(self, session_store, self.theme_files, self.compare.session_on_screen,
                                    self.host.cancel_run, self.compare.open_session)

    def _initial_urial(self, urial: str) -> tuple[str, str | None]:
        from alignterm.engine import prompts

        try:
            return urial, prompts.load_urial(urial)
        except AlignTermError as err:
            self._startup_notice = str(err)
            return "none", None

    @property
    def available_themes(self) -> dict[str, Theme]:
        """alignterm's themes only: Textual's own have no shift palette (they would keep the dark one)."""
        ours = getattr(self, "theme_files", None)  # Textual asks during App.__init__, before they are read
        themes = super().available_themes
        return themes if ours is None else {name: theme for name, theme in themes.items() if name in ours}

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return self.shift_palette.css_variables()

    def get_default_screen(self) -> Screen:
        return self.compare

    async def on_mount(self) -> None:
        # The default screen composes in its own task: wait for it, so that its widgets are
        # there when the app reports ready (tests, snapshots) and when the theme is applied.
        await AwaitMount(self.compare, [self.compare])
        self._choose_theme(self.config.theme or DEFAULT_THEME)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.keeper.install_signal_handlers()
        if self._startup_notice:
            self.notify(self._startup_notice + " (using the bare prompt)", title="URIAL prompt", severity="error",
                        timeout=10)
        for notice in self._notices:
            self.notify(notice, title="Settings", severity="warning", timeout=15)

    def on_resize(self, event: events.Resize) -> None:
        # on the app, not the screen: a modal may be on top when the terminal is resized
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        self.set_class(event.size.height < SHORT_HEIGHT, "-short")

    def on_unmount(self) -> None:
        # a run ends at the next token once cancelled, so leaving does not wait for the model
        self.keeper.remove_signal_handlers()
        self.host.close()

    # ---- what tests, benchmarks and embedders read (the comparison screen's) ---------------

    @property
    def result(self) -> ComparisonResult | None:
        return self.compare.result

    @property
    def rescored(self) -> Rescored | None:
        return self.compare.rescored

    @property
    def running(self) -> bool:
        return self.host.running

    @property
    def lens(self) -> str:
        return self.compare.aligned.lens

    @property
    def urial_text(self) -> str | None:
        return self.compare.urial_text

    @property
    def comparator(self) -> Comparator | None:
        return self.host.comparator

    @property
    def load_error(self) -> str | None:
        return self.host.load_error

    @property
    def loader(self):  # the loading thread, if loading started
        return self.host.loader

    @property
    def session(self) -> Session | None:
        return self.keeper.session

    @property
    def saved_on_signal(self) -> Path | None:
        return self.keeper.saved_on_signal

    @property
    def query_input(self) -> QueryInput:
        return self.compare.query_input

    @property
    def stats(self) -> StatsBar:
        return self.compare.stats

    @property
    def inspector(self) -> TokenInspector:
        return self.compare.inspector

    @property
    def editor(self) -> UrialEditor:
        return self.compare.editor

    def pane(self, side: str) -> AnswerPane:
        return self.compare.pane(side)

    def start_run(self, query: str | None = None, keep_aligned: ComparisonResult | None = None,
                  history: tuple[tuple[str, str], ...] = ()) -> None:
        self.compare.start_run(query, keep_aligned, history)

    def open_session(self, session: Session) -> None:
        self.compare.open_session(session)

    # ---- themes ----------------------------------------------------------------------

    def _choose_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"Theme {name!r} is not available (see the notices); using {DEFAULT_THEME!r}.",
                        title="Theme", severity="warning", timeout=15)
            name = DEFAULT_THEME
        self.theme = name

    def _theme_changed(self, theme: Theme) -> None:
        """Redraw what colours itself from the theme, and remember the choice."""
        self.compare.apply_monochrome()
        if self.config_file is not None and self.config.theme != theme.name:
            self.config.theme = theme.name
            if notice := save_config(self.config, self.config_file):
                self.notify(notice, title="Theme", severity="warning")

    def action_next_theme(self) -> None:
        names = list(self.theme_files)
        following = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.theme = following
        self.notify(f"Theme: {following}", title="Theme")

    # ---- actions (the keys above; the comparison screen does the work) ----------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide keys from the footer where they would do nothing."""
        if action == "cancel":
            return self.running or self.inspector.display or self.editor.display or bool(self.compare.forks.parents)
        return True

    def action_run(self) -> None:
        self.compare.start_run()

    def action_cancel(self) -> None:
        """Escape: cancel a run at once; otherwise close the inspector, then the editor; then back from a fork."""
        if self.compare.cancel():
            self.compare.panels_changed()
        elif self.inspector.display or self.editor.display or not self.compare.forks.back(quiet=True):
            self.compare.close_panel()

    def action_fork(self) -> None:
        """Fork at the token under the cursor: another token there, and the model answers on (tui/fork.py)."""
        self.compare.forks.open()

    def action_fork_back(self) -> None:
        """Back to the run the fork on screen came from, as it was."""
        self.compare.forks.back()

    def action_rerun_base(self) -> None:
        """Re-run the base model with the current URIAL prompt, keeping the aligned answer."""
        result, comparator = self.result, self.comparator
        if result is None or result.cancelled or (comparator is not None and not comparator.base.can_score):
            # nothing to keep: both sides, after the same turns of the conversation
            self.start_run(result.query if result is not None else None, history=result.history if result else ())
        else:
            self.start_run(result.query, keep_aligned=result)

    def action_clear(self) -> None:
        self.compare.clear()

    def action_follow_up(self) -> None:
        """ctrl+j in the query box: its query as the next turn of the conversation on screen."""
        from .conversation import follow_up

        follow_up(self.compare)

    def action_toggle_editor(self) -> None:
        self.call_after_refresh(self.refresh_bindings)
        self.compare.toggle_editor()

    def action_toggle_inspector(self) -> None:
        self.call_after_refresh(self.refresh_bindings)
        self.compare.toggle_inspector()

    def action_next_shifted(self) -> None:
        pane = self.compare.focused_pane()
        pane.focus()
        pane.action_next_shifted()

    def action_toggle_lens(self) -> None:
        self.compare.toggle_lens()

    def action_toggle_monochrome(self) -> None:
        self.monochrome = not self.monochrome
        self.compare.apply_monochrome()
        self.notify("Monochrome mode: categories shown as plain / bold / reverse." if self.monochrome else "Colour mode.")

    def action_save_prompt(self) -> None:
        self.compare.show_panel("editor")
        self.editor.action_save()

    def action_save_session(self) -> None:
        self.keeper.save_as_dialog()

    def action_export_html(self) -> None:
        self.keeper.export_dialog()

    def action_sessions(self) -> None:
        self.keeper.browse()

    def urial_names(self) -> list[str]:
        from alignterm.engine import prompts

        return prompts.bundled_urial_names()

    def use_urial(self, name: str) -> None:
        """Load a bundled URIAL prompt (opens the editor so the change is visible)."""
        self.compare.show_panel("editor")
        self.editor.load(name)

    def action_toggle_nudge(self) -> None:
        self.compare.nudge.toggle()

    def action_set_gamma(self) -> None:
        """Ask for γ; the nudged answer runs again at it."""
        from .screens.nudge import GammaScreen

        self.push_screen(GammaScreen(self.compare.nudge.gamma), self.compare.nudge.set_gamma)

    def action_step_gamma(self, step: float) -> None:
        self.compare.nudge.step_gamma(step)

    def action_urial_ablation(self) -> None:
        self.compare.nudge.start_ablation()

    def action_copy(self, what: str) -> None:
        """Copy the focused answer, the token at the cursor or the comparison as Markdown (tui/copying.py)."""
        from .copying import copy

        copy(self.compare, what)

    def action_show_prompts(self) -> None:
        self.compare.show_prompts()

    def action_diversity(self) -> None:
        self.compare.open_diversity()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(app_help_sections(self, [*App.BINDINGS, *self.BINDINGS])))


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
