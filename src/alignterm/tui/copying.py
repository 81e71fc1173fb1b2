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


def copy(screen: CompareScreen, what: str) -> None:
    """Copy `what` ("answer", "token" or "markdown") of the comparison on screen; a notice says what."""
    pane = screen.focused_pane()
    if what == "answer":
        text, said = visible(pane.text), f"the {pane.border_title or pane.side} answer"
    elif what == "token":
        token = pane.cursor_token
        text, said = (None, "") if token is None else (token_line(token), f"the token “{visible(token.text)}”")
    else:
        from alignterm.formats.markdown import comparison_markdown

        record = screen.record_on_screen()
        text, said = (None, "") if record is None else (comparison_markdown(record), "the comparison as Markdown")
    if not text:
        hint = {"answer": "the answer pane is empty", "token": "no token under the cursor (Tab into a pane, ← →)",
                "markdown": "no finished run on screen"}[what]
        screen.notify(f"Nothing to copy: {hint}.", title="Copy", severity="warning")
        return
    screen.app.copy_to_clipboard(text)
    screen.notify(f"Copied {said} ({len(text)} characters) to the clipboard of your terminal (OSC 52).", title="Copy")
