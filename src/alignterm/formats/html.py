"""`--format html`: one self-contained page (no network assets) of coloured answers and summaries."""

from __future__ import annotations

import html
import json
from typing import Any

from ..display import visible
from ..themes import DEFAULT_PALETTE

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;background:#111;color:#ddd}
.tok{white-space:pre-wrap;font-family:monospace;border-radius:2px;cursor:pointer}
.unshifted{color:%(unshifted)s}.marginal{color:%(marginal)s}.shifted{color:%(shifted)s;font-weight:bold}
.answer{border:1px solid #444;padding:.8em;margin:.5em 0}
table{border-collapse:collapse}td,th{padding:.1em .6em;text-align:right}
"""


def _tokens(tokens: list[dict[str, Any]]) -> str:
    spans = []
    for t in tokens:
        tip = f"rank under other model: {t['other_rank']}; logprob {t['logprob']:.3f} / other {t['other_logprob']:.3f}"
        spans.append(
            f'<span class="tok {t["shift"]}" title="{html.escape(tip)}">{html.escape(visible(t["text"]))}</span>'
        )
    return "".join(spans)


def _summary(record: dict[str, Any]) -> str:
    rows = []
    for name, key in (("aligned under base", "aligned"), ("aligned under bare base", "aligned_bare"),
                      ("base under aligned", "base")):
        s = record["summary"].get(key)
        if s:
            rows.append(f"<tr><th>{name}</th><td>{s['n']}</td>" + "".join(
                f"<td>{s['shares'][c]:.1%}</td>" for c in ("unshifted", "marginal", "shifted")) + "</tr>")
    head = "<tr><th></th><th>tokens</th><th>unshifted</th><th>marginal</th><th>shifted</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


class HtmlWriter:
    """Collects records and writes the page when closed."""

    def __init__(self, out) -> None:
        self._out = out
        self._records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self._records.append(record)

    def close(self) -> None:
        body = []
        for r in self._records:
            body.append(f"<h2>{html.escape(visible(r['query']))}</h2>")
            for side in ("aligned", "base"):
                body.append(f'<h3>{side}</h3><div class="answer" data-side="{side}">{_tokens(r[side]["tokens"])}</div>')
            body.append(_summary(r))
            if r["summary"].get("closure") is not None:
                body.append(f"<p>in-context closure: {r['summary']['closure']:.2f}</p>")
        data = html.escape(json.dumps({"n": len(self._records)}))
        self._out.write(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>alignterm</title>"
            f"<style>{_STYLE % DEFAULT_PALETTE}</style></head><body data-info=\"{data}\">"
            + "".join(body)
            + "</body></html>\n"
        )
