"""Text of model tokens made safe and visible for a terminal or a page.

Model output is untrusted: a token may hold an ANSI escape, an OSC 52 clipboard write,
a bell, a carriage return or a right-to-left override. Everything that is not plain
printable text is shown as a visible escape instead of reaching the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# whitespace made visible in the inspector; answers keep real spaces and newlines
_WHITESPACE = {" ": "·", "\n": "↵\n", "\t": "→"}


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, show_whitespace: bool = False) -> str:
    """`text` with control, format and other invisible characters written as escapes."""
    out = []
    for ch in text:
        if show_whitespace and ch in _WHITESPACE:
            out.append(_WHITESPACE[ch])
        elif ch in "\n\t ":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def rank_label(rank: int | None, exact: bool = True, *, gap: str = " ") -> str:
    """A rank under the other model as people read it: "3"; "> k" where only a lower bound is
    known (a server's top-k did not hold the token: the rank is then k + 1, events.TokenEvent);
    "—" where the token was not scored. `gap` goes between ">" and k (the inspector's table: "")."""
    if rank is None:
        return "—"
    return str(rank) if exact else f">{gap}{rank - 1}"


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled to the largest (all lowest when none is above 0)."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)
