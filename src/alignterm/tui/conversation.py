"""Conversations in the app (issue #21): a follow-up asks the query box's query as the next turn.

The comparison on screen is a conversation's last turn (a single comparison: turn 1). A
follow-up (ctrl+j in the query box, or "Follow up" in the palette) runs the typed query after
the turns on screen: its history is that result's history plus its query and the aligned
model's answer, one shared history whose assistant turns are the aligned model's, as
`engine/conversation.converse` builds it (docs/decisions.md, "Multi-turn URIAL"). Enter keeps
starting a fresh conversation, and ctrl+l clears it; a session saves the turn's history
(sessions/format.py), so an opened session is followed up where it stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignterm.engine.events import ComparisonResult

    from .screens.compare import CompareScreen

History = tuple[tuple[str, str], ...]


def following(result: ComparisonResult) -> History:
    """The history of the turn after `result`: its own history, then its query and aligned answer."""
    return (*result.history, (result.query, result.aligned.text))


def turn_of(history: History) -> int:
    """The number of the turn that comes after `history` (1 for a fresh conversation)."""
    return len(history) + 1


def rerun_hint(result: ComparisonResult) -> str:
    """How an opened session runs again: Enter for a single comparison; a later turn is re-run in its
    turn with ctrl+b (Enter would ask its query as a new conversation's first turn)."""
    if not result.history:
        return "Enter re-runs it."
    return (f"It is turn {turn_of(result.history)}: ctrl+b re-runs it after its turns, ctrl+j follows it up, "
            "Enter starts a new conversation.")


def without_history(result: ComparisonResult | None, what: str) -> str | None:
    """The notice for `what` (the nudged answer, diversity) started on a later turn: it reads the
    query alone, as a first turn, since the engine's Nudger and Sampler take no history."""
    if result is None or not result.history:
        return None
    return (f"{what} runs the query on its own, as a first turn: the {len(result.history)} earlier "
            f"turn{'s' if len(result.history) > 1 else ''} of this conversation are not in its prompts.")


def refusal(screen: CompareScreen) -> str | None:
    """Why the comparison on screen cannot be followed up now (None: it can)."""
    result = screen.result
    if screen.running:
        return "A run is in progress: let it finish (or cancel it with Esc), then follow up."
    if result is None:
        return "No answer to follow up yet: Enter runs the query as a conversation's first turn."
    if result.cancelled:
        return ("The answer on screen was cancelled, so it cannot be the conversation's last turn: "
                "re-run it (ctrl+b) or start a new conversation (Enter).")
    return None


def follow_up(screen: CompareScreen) -> None:
    """Run the query box's query as the next turn of the conversation on screen, or say why not."""
    why = refusal(screen)
    if why is not None:
        screen.notify(why, title="Follow up", severity="warning")
        return
    assert screen.result is not None  # refusal() said so
    screen.start_run(history=following(screen.result))
