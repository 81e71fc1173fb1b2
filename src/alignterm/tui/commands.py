"""The command palette's alignterm commands (ctrl+p): every action, and each bundled URIAL prompt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import AlignTermApp

Command = tuple[str, str, Callable[[], object]]


def app_commands(app: AlignTermApp) -> Iterator[Command]:
    """(title, help, callback) for each command the palette offers."""
    yield "Run query", "Run both models on the query (Enter / F5)", app.action_run
    yield "Cancel run", "Stop the running generation, keeping the partial answers (Esc)", app.action_cancel
    yield ("Re-run base model", "The base model answers again under the current URIAL prompt; the aligned answer is kept (ctrl+b)",
           app.action_rerun_base)
    yield "Clear answers", "Empty both panes, the stats and the query; a new conversation follows (ctrl+l)", app.action_clear
    yield ("Follow up: continue the conversation",
           "Run the query box's query as the next turn, after the query and the aligned answer on screen "
           "(ctrl+j in the query box)", app.action_follow_up)
    yield "Toggle URIAL editor", "Show or hide the base model's URIAL prompt editor (F2)", app.action_toggle_editor
    yield "Toggle token inspector", "Show or hide the measures of the token under the cursor (F3)", app.action_toggle_inspector
    yield ("Switch lens (bare prompt / URIAL)",
           "Colour the aligned answer by its rank under base + bare prompt (TDS) or base + URIAL, recovered tokens marked (ctrl+t)",
           app.action_toggle_lens)
    yield "Toggle monochrome mode", "Show categories by bold / reverse instead of colour (F4)", app.action_toggle_monochrome
    yield "Next shifted or marginal token", "Put the cursor on the next shifted or marginal aligned token", app.action_next_shifted
    yield "Save URIAL prompt", "Save the editor's prompt to the file path in the editor (ctrl+s in the editor)", app.action_save_prompt
    yield "Save session as", "Save the comparison as a session file, or .html for a page (ctrl+s)", app.action_save_session
    yield "Open session", "Browse, search, open or delete saved sessions (F6)", app.action_sessions
    yield "Export HTML", "Write the comparison as one self-contained HTML page (F8)", app.action_export_html
    yield "Diversity", "Sample the query N times per side: similarity, distinct-n, coverage (F9)", app.action_diversity
    yield ("Nudge: show the nudged answer",
           "The base model answers, the aligned one writing the words where the base is unsure (top-1 p < γ); "
           "again: the base answer (ctrl+n)", app.action_toggle_nudge)
    yield "Nudge: set γ…", "Type γ in [0, 1]; the nudged answer runs again at it", app.action_set_gamma
    yield "Nudge: γ + 0.05", "Raise γ (the aligned model writes more); the nudged answer runs again", partial(app.action_step_gamma, 0.05)
    yield "Nudge: γ − 0.05", "Lower γ (the base model writes more); the nudged answer runs again", partial(app.action_step_gamma, -0.05)
    yield ("URIAL ablation",
           "Score the aligned answer under each part of the URIAL prompt: shifted share, closure, recovered tokens",
           app.action_urial_ablation)
    yield ("Copy the answer", "Copy the focused pane's answer to your terminal's clipboard (OSC 52, works over SSH; y in a pane)",
           partial(app.action_copy, "answer"))
    yield ("Copy the token", "Copy the token under the cursor with its rank, category, logprobs and KL (Y in a pane)",
           partial(app.action_copy, "token"))
    yield ("Copy the comparison as Markdown", "Query, URIAL prompt, both answers and the summary, to the clipboard (OSC 52)",
           partial(app.action_copy, "markdown"))
    yield ("Show the prompts", "The prompts each model saw for the run on screen: text with special tokens, and ids (ctrl+f)",
           app.action_show_prompts)
    yield ("Fork at the cursor token",
           "Put another token at the cursor (either model's top-k, or typed) and let that model answer on from it; "
           "the other answer is kept (f in a pane)", app.action_fork)
    yield ("Back to the run this fork came from", "Show the run the fork on screen came from, as it was (u in a pane, Esc)",
           app.action_fork_back)
    yield "Next theme", "Switch to the next alignterm theme; the choice is kept (F7)", app.action_next_theme
    yield "Show keys", "List every key binding (F1 / ?)", app.action_help
    for name in app.urial_names():
        yield f"Use URIAL prompt: {name}", f"Load the bundled prompt {name!r} into the editor", partial(app.use_urial, name)
    for name in app.theme_files:
        yield f"Theme: {name}", f"Colour the app (and exported pages) with the {name!r} theme", partial(setattr, app, "theme", name)


class AlignTermCommands(Provider):
    """alignterm's own commands, found by fuzzy matching on their titles."""

    def _alignterm_app(self) -> AlignTermApp:
        return cast("AlignTermApp", self.app)  # only AlignTermApp registers this provider

    async def discover(self) -> Hits:
        for title, help_text, callback in app_commands(self._alignterm_app()):
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in app_commands(self._alignterm_app()):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
