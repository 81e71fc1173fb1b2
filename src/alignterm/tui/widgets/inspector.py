"""TokenInspector: everything the engine measured at one position, for the token under the cursor.

Shows the token with its whitespace made visible, its logprob under both models, its rank
under the other model, the KL at that position, and the two models' top-k side by side
with the chosen token marked. Columns are always *aligned | base*, whichever pane the
token comes from, so the eye does not have to re-learn the layout. A nudged answer's token
(NudgedToken) shows who chose it, the base model's top-1 probability there (the quantity
compared with γ) and the two models' top-k where each was consulted.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from alignterm.display import rank_label
from alignterm.engine.events import NudgedToken, TokenEvent, TopEntry

from ..palette import category_style, chooser_style, visible_whitespace


class TokenInspector(Static):
    """The measures at the cursor's position (a read-only view of one TokenEvent)."""

    DEFAULT_CSS = """
    TokenInspector {
        height: auto;
        max-height: 16;
        border: round $secondary;
        border-title-color: $text;
        padding: 0 1;
        overflow-y: hidden;
    }
    """

    # the token shown (None: a hint on how to pick one), drawn again whenever it is set
    token: reactive[TokenEvent | NudgedToken | None] = reactive(None, always_update=True, init=False, repaint=False)
    monochrome: reactive[bool] = reactive(False, init=False, repaint=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Token inspector"

    def on_mount(self) -> None:
        self._draw()

    def show(self, token: TokenEvent | NudgedToken | None) -> None:
        """Display `token` (None: a hint on how to pick one)."""
        self.token = token

    def watch_token(self) -> None:
        self._draw()

    def watch_monochrome(self) -> None:
        self._draw()

    def _draw(self) -> None:
        token = self.token
        if token is None:
            self.update(Text("Move the cursor onto a token: Tab into an answer pane, then ← → ↑ ↓, "
                             "n / p for shifted or marginal tokens, or click one.", style="italic"))
            return
        self.update(self._render_nudged(token) if isinstance(token, NudgedToken) else self._render_token(token))

    def refresh_token(self) -> None:
        """Draw the token again (the theme changed)."""
        self._draw()

    def _category_style(self, category: str) -> str:
        return category_style(self.app, category, self.monochrome, bold=True)

    def _render_token(self, t: TokenEvent) -> Group:
        own, other = ("aligned", "base") if t.side == "aligned" else ("base", "aligned")
        lp = {own: t.logprob, other: t.other_logprob}
        tops = {own: t.top, other: t.other_top}

        head = Text.assemble(
            (f"{t.side.capitalize()} #{t.position}  ", "bold"),
            (f"“{visible_whitespace(t.text)}”", "bold reverse"),
            "  ",
        )
        if not t.text:  # docs/decisions.md, "Token text"
            head.append("part of a character, shown on the token that completes it  ", style="italic")
        if t.shift is None:
            head.append(f"not scored: the {other} model's server cannot score given tokens, or its vocabulary "
                        "lacks this token", style="italic")
        else:
            head.append(t.shift, style=self._category_style(t.shift))
            head.append(f" · rank {rank_label(t.other_rank, t.rank_exact)} under {other}")
        if t.top1_differs:
            head.append("  top-1 differs", style="underline")
        kl = "n/a" if t.kl is None else f"{t.kl:.3f} nats"
        measures = Text.assemble(
            ("logprob ", "dim"),
            ("aligned ", "dim"), _logprob(lp["aligned"]),
            ("  base ", "dim"), _logprob(lp["base"]),
            ("   KL(aligned‖base) ", "dim"), kl,
        )

        cells = {side: self._top_rows(t, tops[side], t.other_rank if side == other else None, lp[side])
                 for side in ("aligned", "base")}
        return Group(head, measures, _top_table(cells))

    def _render_nudged(self, t: NudgedToken) -> Group:
        head = Text.assemble(
            (f"Nudged #{t.position}  ", "bold"),
            (f"“{visible_whitespace(t.text)}”", "bold reverse"),
            "  chosen by ",
            (f"the {t.chosen_by} model", chooser_style(self.app, t.chosen_by, self.monochrome) or "bold"),
            f" · base top-1 p {t.base_top1:.2f}",
        )
        cells = {"aligned": self._top_rows(t, t.aligned_top), "base": self._top_rows(t, t.top)}
        if not t.aligned_top:
            cells["aligned"] = [("", Text("not consulted: the base was sure", style="italic"), "")]
        return Group(head, _top_table(cells))

    def _top_rows(self, t: TokenEvent | NudgedToken, top: tuple[TopEntry, ...], rank: int | None = None,
                  logprob: float | None = None) -> list[tuple]:
        """Rows for one model's top-k; the chosen token marked, appended with its rank if outside."""
        rows = []
        found = False
        for i, entry in enumerate(top, start=1):
            chosen = entry.id == t.id
            found |= chosen
            style = "reverse" if chosen else ""
            rows.append((
                Text(f"{'▶' if chosen else ''}{i}", style=style),
                Text(visible_whitespace(entry.text), style=style),
                Text(f"{entry.logprob:.2f}", style=style),
            ))
        if not found and isinstance(t, TokenEvent) and rank is not None and logprob is not None:
            rows.append((
                Text(f"▶{rank_label(rank, t.rank_exact, gap='')}", style="reverse"),
                Text(visible_whitespace(t.text), style="reverse"),
                Text(f"{logprob:.2f}", style="reverse"),
            ))
        return rows


def _top_table(cells: dict[str, list[tuple]]) -> Table:
    """The two models' top-k rows side by side, aligned first."""
    table = Table.grid(padding=(0, 1), expand=True)
    for _ in range(2):
        table.add_column(justify="right", width=3, no_wrap=True)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(justify="right", width=7, no_wrap=True)
    table.add_row(
        "", Text("aligned top-k", style="bold"), Text("logprob", style="dim"),
        "", Text("base top-k", style="bold"), Text("logprob", style="dim"),
    )
    blank = ("", "", "")
    for i in range(max(len(cells["aligned"]), len(cells["base"]))):
        a = cells["aligned"][i] if i < len(cells["aligned"]) else blank
        b = cells["base"][i] if i < len(cells["base"]) else blank
        table.add_row(*a, *b)
    return table


def _logprob(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
