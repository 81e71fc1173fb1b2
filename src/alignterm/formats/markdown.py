"""A comparison as Markdown, for the clipboard (the app's "Copy the comparison as Markdown"):
the query, the models and URIAL prompt, both answers and the summary numbers of a §3 record.

Model text is untrusted: control characters are written as escapes (display.visible), so a
paste cannot drive the terminal or editor it lands in, and each answer sits in a code fence
longer than any run of backticks it holds.
"""

from __future__ import annotations

import re
from typing import Any

from ..display import visible
from ..engine.aggregate import LENS_TITLES
from ..engine.events import CATEGORIES


def _fenced(text: str) -> str:
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}\n{text}\n{fence}"


def _summary_rows(summary: dict[str, Any]) -> list[str]:
    rows = [(LENS_TITLES["reverse"], summary["base"])]
    if "aligned_bare" in summary:
        rows += [(LENS_TITLES["urial"], summary["aligned"]), (LENS_TITLES["bare"], summary["aligned_bare"])]
    else:
        rows.append(("aligned | base", summary["aligned"]))
    lines = ["| | tokens | " + " | ".join(CATEGORIES) + " | mean KL |", "|---|---:|" + "---:|" * (len(CATEGORIES) + 1)]
    for name, s in rows:
        kl = "–" if s["mean_kl"] is None else f"{s['mean_kl']:.3f}"
        shares = " | ".join(f"{s['shares'][c]:.1%}" for c in CATEGORIES)
        cell = name.replace("|", "\\|")  # the lens titles hold a "|", a column break in a table row
        lines.append(f"| {cell} | {s['n']} | {shares} | {kl} |")
    return lines


def comparison_markdown(record: dict[str, Any]) -> str:
    """The record (formats/record.py `result_record`) as a Markdown document."""
    urial = record["urial"]
    prompt = f"URIAL ({visible(urial)})" if urial is not None else "bare prompt"
    lines = [
        "# alignterm comparison", "",
        f"**Query:** {visible(record['query'])}", "",
        f"- base model: `{visible(record['base_model'])}`, prompt: {prompt}",
        f"- aligned model: `{visible(record['aligned_model'])}`", "",
    ]
    for side, title in (("base", f"Base + {prompt}"), ("aligned", "Aligned")):
        answer = record[side]
        lines += [f"## {title} · {answer['finish_reason'] or 'cancelled'} · {len(answer['tokens'])} tokens", "",
                  _fenced(visible(answer["text"])), ""]
        if answer.get("runaway"):
            lines += [f"> {answer['hint']}", ""]
    lines += ["## Summary", "", *_summary_rows(record["summary"])]
    if record["summary"].get("closure") is not None:
        lines += ["", f"In-context closure: {record['summary']['closure']:.2f}"]
    return "\n".join(lines) + "\n"
