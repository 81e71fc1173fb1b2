"""`analyze --samples --format html`: one self-contained page (no script, no network assets).

Per query: the measures table, similarity heat maps over all samples (word Jaccard, and
the embedding cosines when measured), and every sample's text. Model text is untrusted:
it is made visible (`display.visible`) and HTML-escaped everywhere it appears.
"""

from __future__ import annotations

import html
from typing import Any

from ..display import visible
from ..engine.samples import SAMPLE_SIDES as SIDES
from .diversity_record import headline, measure_rows, side_titles
from .html import PageWriter

_STYLE = """
:root{--bg:%(bg)s;--fg:%(fg)s;--accent:%(accent)s}
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:84em;padding:0 1em;background:var(--bg);color:var(--fg)}
h2{border-bottom:1px solid color-mix(in srgb,var(--fg) 30%%,transparent);padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.1em .6em;text-align:right}th.l,td.l{text-align:left}
table.heat td{width:2.6em;height:1.6em;padding:0;text-align:center;font-size:.75em;color:var(--fg)}
table.heat th{font-weight:normal;font-size:.75em}
.maps{display:flex;flex-wrap:wrap;gap:2em}
.sample{border:1px solid color-mix(in srgb,var(--fg) 30%%,transparent);padding:.5em;margin:.4em 0;
 white-space:pre-wrap;font-family:monospace}
.note{opacity:.7}
"""

_SHORT = {"aligned": "A", "base_urial": "B", "base_hint": "H"}


def _e(text: str) -> str:
    return html.escape(visible(str(text)))


def _cell(v: float, title: str) -> str:
    """A heat-map cell: the accent colour at opacity = the similarity (clamped to [0, 1])."""
    alpha = min(max(v, 0.0), 1.0)
    return (f'<td title="{html.escape(title)}" style="background:color-mix(in srgb,var(--accent) '
            f'{alpha * 100:.0f}%,transparent)">{v:.2f}</td>')


def _heat_map(name: str, matrix: list[list[float]], labels: list[str]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(x)}</th>" for x in labels) + "</tr>"
    rows = "".join(
        f"<tr><th>{html.escape(a)}</th>" + "".join(_cell(v, f"{a} vs {b}: {v:.3f}") for b, v in zip(labels, row))
        + "</tr>" for a, row in zip(labels, matrix))
    return f'<div><h3>{html.escape(name)}</h3><table class="heat">{head}{rows}</table></div>'


def _section(r: dict[str, Any]) -> str:
    titles = side_titles(r)
    labels = [f"{_SHORT[s]}{s_i + 1}" for s in SIDES for s_i in range(len(r["samples"][s]))]
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(titles[s])}</th>" for s in SIDES) + "</tr>"
    rows = "".join(f'<tr><th class="l">{html.escape(label)}</th>' + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                   + "</tr>" for label, cells in measure_rows(r))
    maps = []
    for key, name in (("jaccard", "word Jaccard"), ("embedding", "hidden-state cosine"),
                      ("sentence_embedding", "sentence-embedding cosine")):
        if r["measures"].get(key):
            maps.append(_heat_map(name, r["measures"][key]["matrix"], labels))
    samples = []
    for s in SIDES:
        items = []
        for i, x in enumerate(r["samples"][s]):
            hint = f'<div class="note">hint: {_e(x["hint"])}</div>' if x.get("hint") is not None else ""
            items.append(f'<div class="sample"><span class="note">{_SHORT[s]}{i + 1} · seed {x["seed"]} · '
                         f'{_e(x["finish_reason"])}</span>{hint}\n{_e(x["text"])}</div>')
        samples.append(f"<h3>{html.escape(titles[s])} ({_SHORT[s]})</h3>{''.join(items)}")
    p = r["params"]
    note = (f"{r['samples_per_side']} samples per side · temperature {p['temperature']} · top_p {p['top_p']} · "
            f"repetition penalty {p['repetition_penalty']} · seed {p['seed']} · max tokens {p['max_new_tokens']} · "
            f"aligned: {r['aligned_model']} · base: {r['base_model']} · URIAL: {r['urial'] or 'none'}")
    if r.get("embedding_note"):
        note += f" · hidden-state embeddings unavailable: {r['embedding_note']}"
    return (f"<section><h2>{_e(r['query'])}</h2><p class=\"note\">{_e(note)}</p>"
            f"<p>{_e(headline(r))}</p><table>{head}{rows}</table>"
            f'<div class="maps">{"".join(maps)}</div>{"".join(samples)}</section>')


class DiversityHtmlWriter(PageWriter):
    """The `analyze --samples` page: per query, the measures, heat maps and every sample."""

    def close(self) -> None:
        colours = self.colours()
        sections = "".join(_section(r) for r in self._records)
        self._out.write(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>alignterm · diversity</title>'
            f"<style>{_STYLE % colours}</style></head><body>"
            '<p class="note">alignterm · diversity of sampled answers (Lake et al. 2024) · heat maps: '
            "A = aligned, B = base, H = base + hint samples; darker = more similar</p>"
            f"{sections}</body></html>\n"
        )
