"""The HTML page's "all queries" section: the query-set report (`engine.aggregate`, as the JSON
object of `formats.record.aggregate_record`) as tables and SVG charts, and a per-query table
that sorts by any column and links to each query's section."""

from __future__ import annotations

import html
from typing import Any

from ..display import visible
from ..engine.events import CATEGORIES
from .svg import Series, bar_chart, line_chart

# a position's share is drawn only where at least this many answers reach it (fewer make spikes),
# and positions are pooled so a curve has at most CURVE_POINTS points
MIN_ANSWERS = 3
CURVE_POINTS = 32

STYLE = """
svg.chart{width:100%;max-width:44em;display:block;margin:.6em 0;font-size:11px}
svg.chart .axis,svg.chart .tick{stroke:var(--fg)}svg.chart text{fill:var(--fg);stroke:none}
svg.chart .grid{stroke:color-mix(in srgb,var(--fg) 15%,transparent)}svg.chart .title{font-weight:bold}
svg.chart .line{fill:none;stroke-width:2}
.lens-bare{stroke:var(--shifted);fill:var(--shifted)}.lens-urial{stroke:var(--unshifted);fill:var(--unshifted)}
.lens-reverse{stroke:var(--fg);fill:var(--fg)}a{color:var(--accent)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(30em,1fr));gap:0 1.5em}
table.sortable th{cursor:pointer;text-decoration:underline dotted}
td.t{text-align:left;font-family:monospace;white-space:pre}
"""

# Sorts the per-query table by the clicked column (numbers as numbers, "—" last).
SCRIPT = """
for (const table of document.querySelectorAll('table.sortable')) {
  table.querySelectorAll('th').forEach((th, col) => th.addEventListener('click', () => {
    const rows = [...table.tBodies[0].rows], down = th.dataset.dir !== 'down';
    const key = r => { const v = r.cells[col].dataset.v; return v === undefined ? r.cells[col].textContent : +v; };
    rows.sort((a, b) => { const x = key(a), y = key(b);
      return (typeof x === 'number' && isNaN(x)) - (typeof y === 'number' && isNaN(y)) || (x < y ? -1 : x > y) * (down ? -1 : 1); });
    th.dataset.dir = down ? 'down' : 'up';
    table.tBodies[0].append(...rows);
  }));
}
"""


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _num(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _key(v: float | None) -> str:
    """A cell's sort key for the script ("NaN" sorts last)."""
    return "NaN" if v is None else repr(v)


def _shares_table(summary: dict[str, Any]) -> str:
    head = "<tr><th></th><th>answers</th><th>tokens</th>" + "".join(f'<th class="{c}">{c}</th>' for c in CATEGORIES)
    rows = [head + "<th>mean KL</th></tr>"]
    for lens in summary["lenses"].values():
        rows.append(f"<tr><th>{html.escape(lens['title'])}</th><td>{lens['answers']}</td><td>{lens['n']}</td>"
                    + "".join(f'<td class="{c}">{_pct(lens["shares"][c])}</td>' for c in CATEGORIES)
                    + f"<td>{_num(lens['mean_kl'])}</td></tr>")
    return f'<table class="summary">{"".join(rows)}</table>'


def _pooled(at: dict[str, list[int]], size: int, category: str, least: int) -> tuple[list[int], list[float]]:
    """A curve's share per run of `size` positions (x = the run's first position), where every
    position of the run is reached by at least `least` answers."""
    xs, ys = [], []
    for start in range(0, len(at["position"]), size):
        run = range(start, min(start + size, len(at["position"])))
        if all(at["answers"][i] >= least for i in run):
            xs.append(at["position"][start])
            ys.append(sum(at[category][i] for i in run) / sum(at["answers"][i] for i in run))
    return xs, ys


def _curves(summary: dict[str, Any]) -> str:
    charts = []
    longest = max(len(lens["by_position"]["position"]) for lens in summary["lenses"].values())
    size = max(1, -(-longest // CURVE_POINTS))
    pooled = "" if size == 1 else f" (pooled by {size})"
    for category in ("shifted", "marginal"):
        series = [Series(lens["title"], f"lens-{key}",
                         *_pooled(lens["by_position"], size, category, min(MIN_ANSWERS, summary["queries"])))
                  for key, lens in summary["lenses"].items()]
        charts.append(line_chart(f"{category} share by answer position", series, x_label=f"token position{pooled}",
                                 y_label=f"{category} share"))
    answers = []
    for key, name in (("bare", "aligned answers"), ("reverse", "base answers")):
        if key in summary["lenses"]:
            at = summary["lenses"][key]["by_position"]
            answers.append(Series(name, f"lens-{key}", at["position"], at["answers"]))
    charts.append(line_chart("answers at least this long", answers, x_label="token position",
                             y_label="answers", percent=False))
    groups = next(iter(summary["lenses"].values()))["rank_histogram"]["bins"]
    bars = []
    for key, lens in summary["lenses"].items():
        scored = lens["n"] - lens["unscored"]
        bars.append(Series(lens["title"], f"lens-{key}", range(len(groups)),
                           [k / scored if scored else 0.0 for k in lens["rank_histogram"]["tokens"]]))
    charts.append(bar_chart("rank under the other model", groups, bars, x_label="rank", y_label="share of tokens"))
    return f'<div class="charts">{"".join(charts)}</div>'


def _top_tables(summary: dict[str, Any]) -> str:
    out = []
    for lens in summary["lenses"].values():
        rows = "".join(
            f'<tr><td class="t">{html.escape(repr(visible(r["text"])))}</td><td>{r["shifted"]}</td>'
            f'<td>{_pct(r["shifted_share"])}</td><td>{"" if r["rank_exact"] else "≥ "}{r["mean_rank"]:.1f}</td>'
            f"<td>{_num(r['mean_kl'])}</td></tr>" for r in lens["top_shifted"])
        out.append(f"<div><h4>most often shifted · {html.escape(lens['title'])}</h4>"
                   "<table><tr><th>token</th><th>shifted</th><th>of its uses</th><th>mean rank</th><th>mean KL</th></tr>"
                   f"{rows or '<tr><td>none shifted</td></tr>'}</table></div>")
    return f'<div class="sides">{"".join(out)}</div>'


def _per_query(summary: dict[str, Any]) -> str:
    lenses = list(summary["lenses"])
    head = ("<thead><tr><th>#</th><th>id</th><th>query</th><th>base tokens</th><th>aligned tokens</th>"
            + "".join(f"<th>shifted · {html.escape(summary['lenses'][k]['title'])}</th>" for k in lenses)
            + ("<th>closure</th>" if "urial" in lenses else "")
            + ("<th>aligned share · nudged</th>" if "nudged" in summary else "") + "</tr></thead>")
    rows = []
    for q in summary["per_query"]:
        cells = [f'<td data-v="{q["index"]}"><a href="#q{q["index"]}">{q["index"] + 1}</a></td>',
                 f'<td class="t">{html.escape("" if q["id"] is None else str(q["id"]))}</td>',
                 f'<td class="t"><a href="#q{q["index"]}">{html.escape(visible(q["query"])[:80])}</a></td>',
                 f'<td data-v="{q["tokens"]["base"]}">{q["tokens"]["base"]}</td>',
                 f'<td data-v="{q["tokens"]["aligned"]}">{q["tokens"]["aligned"]}</td>']
        cells += [f'<td data-v="{_key(q["shifted"][k])}">{_pct(q["shifted"][k])}</td>' for k in lenses]
        if "urial" in lenses:
            cells.append(f'<td data-v="{_key(q["closure"])}">{_num(q["closure"], 2)}</td>')
        if "nudged" in summary:
            share = q["nudged"]["aligned_share"] if "nudged" in q else None
            cells.append(f'<td data-v="{_key(share)}">{_pct(share)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="sortable">{head}<tbody>{"".join(rows)}</tbody></table>'


def _nudged(summary: dict[str, Any]) -> str:
    """The nudged answers' figures (analyze --nudge)."""
    if "nudged" not in summary:
        return ""
    n = summary["nudged"]
    return (f"<p>nudged answers (γ = {n['gamma']:g}): mean aligned-token share <b>{_pct(n['mean_aligned_share'])}</b>; "
            f"mean word Jaccard to the aligned answer <b>{_num(n['mean_similarity']['aligned'], 2)}</b>, "
            f"to the base answer <b>{_num(n['mean_similarity']['base'], 2)}</b></p>")


def report_section(summary: dict[str, Any]) -> str:
    """The "all queries" section of the page."""
    closure = "" if summary["closure"] is None else (
        f"<p>pooled in-context closure: <b>{summary['closure']:.2f}</b> "
        "(1 − shifted share under base + URIAL / under base + bare prompt, over every aligned token)</p>")
    closure += _nudged(summary)
    return (f'<section id="report"><h2>All {summary["queries"]} queries</h2>{_shares_table(summary)}{closure}'
            f"{_curves(summary)}{_top_tables(summary)}<h3>Per query (click a column to sort)</h3>"
            f"{_per_query(summary)}</section>")
