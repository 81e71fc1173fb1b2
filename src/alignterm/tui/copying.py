"""Copy over SSH: Textual's `App.copy_to_clipboard` writes an OSC 52 escape, which the terminal at
the user's end (not the remote machine) puts on its clipboard. What is copied: the focused pane's
answer, the token at the cursor with its measures, or the comparison as Markdown.

The escape's payload is base64, so model text cannot end it early; its control characters are
also copied as visible escapes (display.visible), so a paste cannot drive a terminal either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alignterm.display import rank_label, visible
from alignterm.engine.events import NudgedToken

if TYPE_CHECKING:
    from .screens.compare import CompareScreen
    from .widgets.answer_pane import PaneToken


def token_line(t: PaneToken) -> str:
    """One token and what the engine measured for it, as one line of text."""
    head = f"“{visible(t.text)}” (id {t.id})"
    if isinstance(t, NudgedToken):
        return f"nudged #{t.position} {head} · chosen by the {t.chosen_by} model · base top-1 p {t.base_top1:.2f}"
    other = "base" if t.side == "aligned" else "aligned"
    lp = {t.side: t.logprob, other: t.other_logprob}
    logprobs = " · ".join(f"logprob {s} {'n/a' if lp[s] is None else f'{lp[s]:.3f}'}" for s in ("aligned", "base"))
    kl = "n/a" if t.kl is None else f"{t.kl:.3f} nats"
    return (f"{t.side} #{t.position} {head} · {t.shift or 'not scored'} · rank {rank_label(t.other_rank, t.rank_exact)} "
            f"under {other} · {logprobs} · KL(aligned‖base) {kl}")


def _what(screen: CompareScreen, what: str) -> tuple[str, str]:
    """The text to copy and how the notice names it; no text: why there is nothing."""
    pane = screen.focused_pane()
    if what == "answer":
        text = visible(pane.text)
        return text, f"the {pane.border_title or pane.side} answer" if text else "the answer pane is empty"
    if what == "token":
        token = pane.cursor_token
        if token is None:
            return "", "no token under the cursor (Tab into a pane, ← →)"
        return token_line(token), f"the token “{visible(token.text)}”"
    from alignterm.formats.markdown import comparison_markdown

    record = screen.record_on_screen()
    if record is None:
        return "", "no run on screen"
    return comparison_markdown(record), "the comparison as Markdown"


def copy(screen: CompareScreen, what: str) -> None:
    """Copy `what` ("answer", "token" or "markdown") of the comparison on screen; a notice says what."""
    text, said = _what(screen, what)
    if not text:
        screen.notify(f"Nothing to copy: {said}.", title="Copy", severity="warning")
        return
    screen.app.copy_to_clipboard(text)
    screen.notify(f"Copied {said} ({len(text)} characters) to the clipboard of your terminal (OSC 52).", title="Copy")
