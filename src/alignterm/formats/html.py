"""`--format html` and the app's export: one self-contained page (no network assets).

Per query: both answers with every token coloured by its shift category, a table of both
models' top-k at the token under the pointer (hover, or click to pin it) with the exact
rank under the other model, the summary, and a per-position plot (inline SVG) of each
token's rank under the other model and its KL. Sides come in the app's order: base first,
then aligned. Reads the records of `formats.record`
(architecture §3), so `analyze` and a saved session give the same page. Token text is
untrusted: it is made visible (`display.visible`) and HTML-escaped, and the data the
script reads is JSON with every "<" escaped, so no token can close a tag. With `--nudge`, each query
also shows its nudged answer, the aligned model's tokens marked, each token's title saying who
chose it and the base's top-1 probability there.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from ..display import rank_label, visible
from ..themes import BUNDLED_DIR, DEFAULT_THEME, ThemeFile, read_theme
from .record import turn_prefix
from .report_html import SCRIPT as REPORT_SCRIPT
from .report_html import STYLE as REPORT_STYLE
from .report_html import report_section

CATEGORIES = ("unshifted", "marginal", "shifted")

_STYLE = """
:root{--unshifted:%(unshifted)s;--marginal:%(marginal)s;--shifted:%(shifted)s;--bg:%(bg)s;--fg:%(fg)s;--accent:%(accent)s}
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:84em;padding:0 1em;background:var(--bg);color:var(--fg)}
h2{border-bottom:1px solid color-mix(in srgb,var(--fg) 30%%,transparent);padding-bottom:.2em}
.sides{display:grid;grid-template-columns:repeat(auto-fit,minmax(28em,1fr));gap:1em}
.answer{border:1px solid color-mix(in srgb,var(--fg) 30%%,transparent);padding:.8em;white-space:pre-wrap;
 font-family:monospace;line-height:1.5}
.tok{cursor:pointer;border-radius:2px}.tok:hover,.tok.pinned{outline:1px solid var(--accent)}
.unshifted{color:var(--unshifted)}.marginal{color:var(--marginal)}.shifted{color:var(--shifted);font-weight:bold}
.unscored{opacity:.75}
svg.plot{width:100%%;height:5em;display:block;margin-top:.4em}
svg .unshifted{fill:var(--unshifted)}svg .marginal{fill:var(--marginal)}svg .shifted{fill:var(--shifted)}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.1em .6em;text-align:right}
#detail{position:sticky;bottom:0;background:var(--bg);border-top:2px solid var(--accent);padding:.4em 0;min-height:3em}
#detail td.t,#detail th.t{text-align:left;font-family:monospace;white-space:pre}
#detail tr.chosen td{font-weight:bold;color:var(--accent)}
.note{opacity:.7}
.ntok.aligned{text-decoration:underline;font-weight:bold;color:var(--accent)}
.runaway{border-left:4px solid var(--shifted);padding:.3em .6em;margin:.3em 0;font-weight:bold}
"""

# Fills the detail table from the embedded data: plain DOM calls and textContent only.
_SCRIPT = """
const DATA = JSON.parse(document.getElementById('alignterm-data').textContent);
const detail = document.getElementById('detail');
let pinned = null;
const fmt = v => v === null ? '—' : v.toFixed(3);
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; }
function show(span) {
  const q = +span.dataset.q, side = span.dataset.side, i = +span.dataset.i;
  const t = DATA[q][side][i], name = side === 'base' ? 'base' : 'aligned';
  const other = side === 'base' ? 'aligned' : side === 'aligned' ? 'base' : 'base (bare prompt)';
  detail.replaceChildren();
  const head = document.createElement('p');
  head.textContent = `${name} token ${i}: "${t.text}" (id ${t.id}) — ${t.shift || 'not scored'}, rank ${t.rank} ` +
    `under ${other}; logprob ${fmt(t.logprob)} (${name}) / ${fmt(t.other_logprob)} (${other}); KL ${fmt(t.kl)}`;
  detail.append(head);
  const table = document.createElement('table'), hr = table.insertRow();
  for (const h of ['rank', name + ' top-k', 'logprob', other + ' top-k', 'logprob']) cell(hr, h, 'h');
  for (let k = 0; k < Math.max(t.top.length, t.other_top.length); k++) {
    const r = table.insertRow(), a = t.top[k], b = t.other_top[k];
    if ((a && a.id === t.id) || (b && b.id === t.id)) r.className = 'chosen';
    cell(r, k + 1);
    cell(r, a ? a.text : '', 't'); cell(r, a ? fmt(a.logprob) : '');
    cell(r, b ? b.text : '', 't'); cell(r, b ? fmt(b.logprob) : '');
  }
  if (!t.top.length) cell(table.insertRow(), 'no top-k recorded (analyze --top-k 0)', 't');
  detail.append(table);
}
for (const span of document.querySelectorAll('.tok')) {
  span.addEventListener('mouseenter', () => { if (!pinned) show(span); });
  span.addEventListener('click', () => {
    if (pinned) pinned.classList.remove('pinned');
    pinned = pinned === span ? null : span;
    if (pinned) { span.classList.add('pinned'); show(span); }
  });
}
document.body.dataset.tokens = DATA.reduce((n, r) => n + r.aligned.length + r.base.length, 0);  // read by tests
"""

_PLOT_HEIGHT = 40
_MAX_RANK_LOG = 10  # bars are log2(rank), capped at rank 1024
PLOT_KEY = ("bar height: rank under the other model by token position, log scale (rank 1 = a sliver, "
            "≥ 1024 = full height); colour: its category")


def _rank(t: dict[str, Any]) -> str:
    """The rank under the other model; "> k" where a server's top-k did not hold the token; "—" unscored."""
    return rank_label(t["other_rank"], t.get("other_rank_exact") is not False)


def _tip(t: dict[str, Any]) -> str:
    if t["shift"] is None:
        return "not scored: the other model's server cannot score given tokens"
    kl = "—" if t["kl"] is None else f"{t['kl']:.3f}"
    return f"rank under the other model {_rank(t)} ({t['shift']}); KL {kl}"


def _category(t: dict[str, Any]) -> str:
    return t["shift"] or "unscored"


def _tokens(q: int, side: str, tokens: list[dict[str, Any]]) -> str:
    return "".join(
        f'<span class="tok {_category(t)}" data-q="{q}" data-side="{side}" data-i="{i}" title="{html.escape(_tip(t))}">'
        f"{html.escape(visible(t['text']))}</span>"
        for i, t in enumerate(tokens)
    )


def _plot(tokens: list[dict[str, Any]]) -> str:
    """Per position: a bar of log2(rank under the other model), coloured by category, with its key below."""
    n = max(len(tokens), 1)
    rects = []
    for i, t in enumerate(tokens):
        if t["other_rank"] is None:
            continue  # no bar where nothing was measured
        h = 2 + (_PLOT_HEIGHT - 2) * min(math.log2(t["other_rank"]), _MAX_RANK_LOG) / _MAX_RANK_LOG
        title = html.escape(f"{i}: {visible(t['text'])!r} {_tip(t)}")
        rects.append(f'<rect class="{t["shift"]}" x="{i}" y="{_PLOT_HEIGHT - h:.2f}" width="0.9" height="{h:.2f}">'
                     f"<title>{title}</title></rect>")
    return (f'<figure><svg class="plot" viewBox="0 0 {n} {_PLOT_HEIGHT}" preserveAspectRatio="none" role="img" '
            f'aria-label="{PLOT_KEY}">{"".join(rects)}</svg>'
            f'<figcaption class="note">positions 0–{n - 1}; {PLOT_KEY}</figcaption></figure>')


def _summary(record: dict[str, Any]) -> str:
    rows = []
    for name, key in (("base under aligned", "base"), ("aligned under base", "aligned"),
                      ("aligned under bare base", "aligned_bare")):
        s = record["summary"].get(key)
        if s and s.get("unscored") == s["n"] and s["n"]:
            rows.append(f'<tr><th>{name}</th><td>{s["n"]}</td><td colspan="3">not scored (the server cannot '
                        "score given tokens)</td></tr>")
        elif s:
            rows.append(f"<tr><th>{name}</th><td>{s['n']}</td>" + "".join(
                f'<td class="{c}">{s["shares"][c]:.1%}</td>' for c in CATEGORIES) + "</tr>")
    head = "<tr><th></th><th>tokens</th>" + "".join(f'<th class="{c}">{c}</th>' for c in CATEGORIES) + "</tr>"
    text = f'<table class="summary">{head}{"".join(rows)}</table>'
    if record["summary"].get("closure") is not None:
        text += f"<p>in-context closure: {record['summary']['closure']:.2f}</p>"
    top = record["summary"]["aligned"].get("top_shifted") or []
    if top:
        words = ", ".join(f"{html.escape(repr(visible(t)))} ×{n}" for t, n in top)
        text += f"<p>most shifted aligned tokens: {words}</p>"
    return text


def _ablation(block: dict[str, Any]) -> str:
    """`--urial-ablation`: per variant its examples, shifted share, closure and recovered answer positions."""
    head = "<tr><th>variant</th><th>examples</th><th>shifted</th><th>closure</th><th>recovered positions</th></tr>"
    rows = []
    for v in block["variants"]:
        share = "not scored" if v["shifted_share"] is None else f"{v['shifted_share']:.1%} ({v['shifted']}/{v['n']})"
        closure = "—" if v["closure"] is None else f"{v['closure']:.2f}"
        rows.append(f"<tr><th>{html.escape(v['name'])}</th><td>{','.join(map(str, v['examples'])) or 'none'}</td>"
                    f"<td>{share}</td><td>{closure}</td><td>{' '.join(map(str, v['recovered']))}</td></tr>")
    examples = "".join(f"<li>{html.escape(visible(e['query']))}</li>" for e in block["examples"])
    return (f'<h3>URIAL ablation</h3><table class="ablation">{head}{"".join(rows)}</table><ol>{examples}</ol>'
            '<p class="note">closure against the bare row; recovered: shifted under the bare prompt, not under '
            "the variant</p>")
def _nudged(record: dict[str, Any]) -> str:
    """The nudged answer (analyze --nudge): the aligned model's tokens marked, and its summary."""
    n = record["nudged"]
    s = n["summary"]
    spans = "".join(
        f'<span class="ntok {t["chosen_by"]}" title="{html.escape(_nudge_tip(t))}">{html.escape(visible(t["text"]))}</span>'
        for t in n["tokens"])
    sim = s["similarity"]
    return (f'<div><h3>nudged (γ = {n["gamma"]:g}): base, with the aligned model\'s words (marked) where the base\'s '
            f'top-1 probability is below γ · {s["n"]} tokens <span class="note">({html.escape(n["finish_reason"])})'
            f'</span></h3><div class="answer nudged">{spans}</div>'
            f'<p>{s["aligned"]} of {s["n"]} tokens ({s["aligned_share"]:.1%}) from the aligned model; word Jaccard '
            f'to the aligned answer {_two(sim["aligned"])}, to the base answer {_two(sim["base"])}</p></div>')


def _two(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _nudge_tip(t: dict[str, Any]) -> str:
    return f"chosen by the {t['chosen_by']} model; base top-1 probability {t['base_top1']:.3f}"


def _data(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """What the script shows per token, with token text already made visible."""

    def entry(e: dict[str, Any]) -> dict[str, Any]:
        # JSON.parse rejects Infinity and NaN (a logprob of a masked token is -inf)
        finite = {k: v if math.isfinite(v) else None for k, v in e.items() if isinstance(v, float)}
        return {**e, **finite, "text": visible(e["text"], show_whitespace=True)}

    return {
        side: [{**entry(t), "rank": _rank(t), "top": [entry(e) for e in t.get("top", ())],
                "other_top": [entry(e) for e in t.get("other_top", ())]} for t in tokens]
        for side, tokens in _answers(record)
    }


def _answers(record: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The token lists a query's section shows, by key: base, aligned, and the aligned tokens under
    base + bare prompt after a URIAL run (the paper's lens beside the prompt's)."""
    out = [("base", record["base"]["tokens"]), ("aligned", record["aligned"]["tokens"])]
    if record.get("aligned_bare"):
        out.append(("aligned_bare", record["aligned_bare"]["tokens"]))
    return out


def _runaway(side: dict[str, Any]) -> str:
    """The marked note of a base answer that ran to the token limit (architecture §3 "runaway")."""
    if not side["runaway"]:
        return ""
    return f'<p class="runaway" role="note">⚠ {html.escape(side["hint"])}</p>'


def _section(q: int, r: dict[str, Any]) -> str:
    urial = r.get("urial") or "none"
    titles = {"base": "base (bare prompt)" if urial == "none" else f"base + URIAL ({html.escape(str(urial))})",
              "aligned": "aligned, coloured under base" + ("" if urial == "none" else " + URIAL"),
              "aligned_bare": "aligned, coloured under base + bare prompt"}
    sides = []
    for side, tokens in _answers(r):  # the app's order, then the bare lens
        finish = "" if side == "aligned_bare" else html.escape(str(r[side].get("finish_reason", "")))
        sides.append(
            f'<div><h3>{titles[side]} · {len(tokens)} tokens'
            f' <span class="note">{f"({finish})" if finish else ""}</span></h3>'
            f'{_runaway(r[side]) if side == "base" else ""}'
            f'<div class="answer" data-q="{q}" data-side="{side}">{_tokens(q, side, tokens)}</div>'
            f"{_plot(tokens)}</div>"
        )
    models = f"base: {html.escape(r['base_model'])} · aligned: {html.escape(r['aligned_model'])}"
    nudged = _nudged(r) if "nudged" in r else ""
    return (f'<section id="q{q}"><h2>{html.escape(turn_prefix(r) + visible(r["query"]))}</h2><p class="note">{models}</p>'
            f'<div class="sides">{"".join(sides)}</div>{_summary(r)}{nudged}'
            f'{_ablation(r["ablation"]) if "ablation" in r else ""}</section>')


class PageWriter:
    """Collects records and writes one page when closed (colours from `theme`, else the default theme)."""

    def __init__(self, out, theme: ThemeFile | None = None) -> None:
        self._out = out
        self._theme = theme or read_theme(BUNDLED_DIR / f"{DEFAULT_THEME}.yaml")
        self._records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self._records.append(record)

    def colours(self) -> dict[str, str]:
        """The theme's shift palette and its page colours (bg, fg, accent), for the pages' CSS."""
        theme = self._theme
        return {
            **theme.palette,
            "bg": theme.app.get("background", "#1e1e1e" if theme.dark else "#f4f4f4"),
            "fg": theme.app.get("foreground", "#e0e0e0" if theme.dark else "#1e1e1e"),
            "accent": theme.app.get("accent", theme.app["primary"]),
        }

    def close(self) -> None:
        raise NotImplementedError


class HtmlWriter(PageWriter):
    """The comparison page: the query-set report when there are several queries, then both answers
    per query, coloured by shift."""

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Write the page; `summary` is the query-set report (`formats.record.aggregate_record`)."""
        colours = self.colours()
        report = report_section(summary) if summary is not None and summary["queries"] > 1 else ""
        sections = "".join(_section(q, r) for q, r in enumerate(self._records))
        data = json.dumps([_data(r) for r in self._records], ensure_ascii=False).replace("<", "\\u003c")
        legend = " · ".join(f'<span class="{c}">{c}</span>' for c in CATEGORIES)
        self._out.write(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>alignterm</title>'
            f"<style>{_STYLE % colours}{REPORT_STYLE}</style></head><body>"
            f'<p class="note">alignterm · token distribution shift · {legend} '
            "(rank 1 / 2-3 / ≥4 under the other model) · hover a token for both models' top-k, click to pin</p>"
            f'{report}{sections}<div id="detail" class="note">Hover a token.</div>'
            f'<script type="application/json" id="alignterm-data">{data}</script>'
            f"<script>{_SCRIPT}{REPORT_SCRIPT}</script></body></html>\n"
        )
