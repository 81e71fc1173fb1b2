"""`--format pretty`'s "all queries" part: the query-set report (`engine.aggregate`, as the JSON
object of `formats.record.aggregate_record`) as compact tables and one sparkline per curve,
within 80 columns."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..display import sparkline, visible
from ..engine.events import CATEGORIES
from ..themes import DEFAULT_PALETTE

SPARK_WIDTH = 48  # columns per sparkline: with its 20-column label and a scale, within 80


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _shares(summary: dict[str, Any], palette: dict[str, str]) -> Table:
    table = Table(title=f"all {summary['queries']} queries", box=None, pad_edge=False, title_justify="left")
    for col in ("", "tokens", *CATEGORIES, "mean KL"):
        table.add_column(col, justify="left" if not col else "right", style=palette.get(col, ""))
    for lens in summary["lenses"].values():
        kl = "-" if lens["mean_kl"] is None else f"{lens['mean_kl']:.3f}"
        table.add_row(lens["title"], str(lens["n"]), *(_pct(lens["shares"][c]) for c in CATEGORIES), kl)
    return table


def _curves(summary: dict[str, Any]) -> Table:
    """Shifted share by position, pooled over buckets so each lens's curve fits one sparkline."""
    longest = max((lens["by_position"]["position"][-1] + 1 for lens in summary["lenses"].values()
                   if lens["by_position"]["position"]), default=1)
    size = -(-longest // SPARK_WIDTH)  # positions per character
    table = Table(title=f"shifted share by position ({size} per column; each line to its own peak)",
                  box=None, pad_edge=False, title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("0 → later", no_wrap=True)
    table.add_column("peak", justify="right")
    for lens in summary["lenses"].values():
        at = lens["by_position"]
        cells = [[0, 0] for _ in range(-(-longest // size))]
        for pos, n, k in zip(at["position"], at["answers"], at["shifted"]):
            cells[pos // size][0] += n
            cells[pos // size][1] += k
        shares = [k / n if n else 0.0 for n, k in cells]
        peak = max(shares, default=0.0)
        table.add_row(lens["title"], sparkline(shares), _pct(peak))
    return table


def _ranks(summary: dict[str, Any]) -> Table:
    bins = next(iter(summary["lenses"].values()))["rank_histogram"]["bins"]
    table = Table(title="rank under the other model (share of scored tokens)", box=None, pad_edge=False,
                  title_justify="left")
    table.add_column("")
    for b in bins:
        table.add_column(b, justify="right")
    for lens in summary["lenses"].values():
        scored = lens["n"] - lens["unscored"]
        table.add_row(lens["title"], *(_pct(k / scored if scored else None) for k in lens["rank_histogram"]["tokens"]))
    return table


def _top(summary: dict[str, Any]) -> list[Text]:
    lines = [Text("most often shifted (times shifted, share of its uses, mean rank):", style="bold")]
    for lens in summary["lenses"].values():
        words = ", ".join(f"{visible(r['text'])!r} {r['shifted']}× {r['shifted_share']:.0%} r{r['mean_rank']:.0f}"
                          for r in lens["top_shifted"][:5])
        lines.append(Text(f"  {lens['title']}: {words or '-'}"))
    return lines


def _nudged(summary: dict[str, Any]) -> list[Text]:
    """The nudged answers (analyze --nudge): mean aligned share and similarities, and the aligned
    share by position as a sparkline."""
    n = summary["nudged"]
    sim = n["mean_similarity"]
    at = n["by_position"]
    size = max(1, -(-len(at["answers"]) // SPARK_WIDTH))
    cells = [(sum(at["answers"][i : i + size]), sum(at["aligned"][i : i + size]))
             for i in range(0, len(at["answers"]), size)]
    return [  # one short line each, within 80 columns
        Text(f"nudged answers (γ = {n['gamma']:g}): mean aligned-token share {_pct(n['mean_aligned_share'])}"),
        Text(f"  mean word Jaccard: to the aligned answer {_num(sim['aligned'])}, to the base answer {_num(sim['base'])}"),
        Text(f"  aligned share by position ({size} per column, 0 → later):"),
        Text(f"  {sparkline([k / r if r else 0.0 for r, k in cells])}"),
    ]


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def report(summary: dict[str, Any], palette: dict[str, str] = DEFAULT_PALETTE) -> Group:
    """The query-set report, ready for `Console.print`."""
    parts: list[Any] = [_shares(summary, palette)]
    if summary["closure"] is not None:
        parts.append(Text(f"pooled in-context closure: {summary['closure']:.2f}"))
    if "nudged" in summary:
        parts += _nudged(summary)
    parts += [Text(), _curves(summary), Text(), _ranks(summary), Text(), *_top(summary)]
    return Group(*parts)
