"""`--format pretty`: each answer with its tokens coloured by shift category, and the summary.

Sides come in the app's order: base first, then aligned; then, with `--nudge`, the nudged answer
with the aligned model's tokens underlined, and its share and similarities.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..display import visible
from ..engine.aggregate import LENS_TITLES
from ..engine.events import CATEGORIES
from ..themes import DEFAULT_PALETTE
from .record import turn_prefix

SIDE_TITLES = {
    "base": "Base + {prompt} (coloured by rank under aligned)",
    "aligned": "Aligned (coloured by rank under base)",
}


def answer_text(tokens: list[dict[str, Any]], palette: dict[str, str] = DEFAULT_PALETTE) -> Text:
    """The answer as rich Text: one span per token, shifted tokens bold, unscored ones plain."""
    out = Text()
    for t in tokens:
        style = palette[t["shift"]] if t["shift"] else ""
        if t["shift"] == "shifted":
            style += " bold"
        out.append(visible(t["text"]), style=style)
    return out


NUDGED_STYLE = "bold underline"  # the aligned model's tokens in a nudged answer


def nudged_text(tokens: list[dict[str, Any]]) -> Text:
    """A nudged answer as rich Text: the tokens the aligned model chose underlined."""
    out = Text()
    for t in tokens:
        out.append(visible(t["text"]), style=NUDGED_STYLE if t["chosen_by"] == "aligned" else "")
    return out


def _sim(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def nudged_parts(record: dict[str, Any], prompt: str) -> list[Any]:
    """The nudged answer's panel and its one-line summary."""
    nudged = record["nudged"]
    s = nudged["summary"]
    title = f"Nudged (γ = {nudged['gamma']:g}): base + {prompt}, aligned words underlined"
    return [
        Panel(nudged_text(nudged["tokens"]), title=title, title_align="left"),
        Text(f"nudged: {s['aligned']} of {s['n']} tokens ({s['aligned_share']:.1%}) from the aligned model"),
        Text(f"word Jaccard of the nudged answer: to the aligned answer {_sim(s['similarity']['aligned'])}, "
             f"to the base + {prompt} answer {_sim(s['similarity']['base'])}"),
    ]


def legend(palette: dict[str, str] = DEFAULT_PALETTE) -> Text:
    return Text.assemble(
        ("unshifted", palette["unshifted"]), " rank 1   ",
        ("marginal", palette["marginal"]), " rank 2-3   ",
        ("shifted", palette["shifted"] + " bold"), " rank ≥ 4",
    )


def summary_table(record: dict[str, Any]) -> Table:
    table = Table(box=None, pad_edge=False)
    for col in ("", "tokens", *CATEGORIES, "mean KL"):
        table.add_column(col, justify="left" if not col else "right")
    summary = record["summary"]
    rows = [(LENS_TITLES["reverse"], summary["base"])]
    if "aligned_bare" in summary:
        rows += [(LENS_TITLES["urial"], summary["aligned"]), (LENS_TITLES["bare"], summary["aligned_bare"])]
    else:
        rows.append(("aligned | base", summary["aligned"]))
    for name, s in rows:
        kl = "-" if s["mean_kl"] is None else f"{s['mean_kl']:.3f}"
        if s.get("unscored") == s["n"] and s["n"]:  # the other model's server cannot score given tokens
            table.add_row(name, str(s["n"]), "not scored", "-", "-", kl)
            continue
        table.add_row(name, str(s["n"]), *(f"{s['shares'][c]:.1%}" for c in CATEGORIES), kl)
    return table


def ablation_view(block: dict[str, Any]) -> Group:
    """`--urial-ablation`: per variant its examples, shifted share, closure and recovered tokens (80 columns)."""
    table = Table(box=None, pad_edge=False, title="URIAL ablation", title_justify="left", title_style="bold")
    for col in ("variant", "examples", "shifted", "closure", "recovered"):
        table.add_column(col, justify="left" if col in ("variant", "examples") else "right")
    for v in block["variants"]:
        share = "not scored" if v["shifted_share"] is None else f"{v['shifted_share']:.1%} ({v['shifted']}/{v['n']})"
        closure = "-" if v["closure"] is None else f"{v['closure']:.2f}"
        table.add_row(v["name"], ",".join(map(str, v["examples"])) or "none", share, closure, str(len(v["recovered"])))
    parts: list[Any] = [Text(), table]
    parts += [Text(f"example {e['number']}: {visible(e['query'])}", overflow="ellipsis", no_wrap=True)
              for e in block["examples"]]
    parts.append(Text("closure: against bare · recovered: shifted under bare, not under the variant", style="dim"))
    return Group(*parts)


def render(record: dict[str, Any]) -> Group:
    """A whole comparison, ready for `Console.print`."""
    prompt = "bare prompt" if record["urial"] is None else f"URIAL ({record['urial']})"
    parts: list[Any] = [Text(f"{turn_prefix(record)}Query: {visible(record['query'])}", style="bold")]
    if "prompt_view" in record:  # analyze --show-prompts
        from .prompt_view import render_prompts

        parts.append(render_prompts(record))
    for side in ("base", "aligned"):
        title = SIDE_TITLES[side].format(prompt=prompt)
        parts.append(Panel(answer_text(record[side]["tokens"]), title=title, title_align="left"))
        if record[side].get("runaway"):  # only a base side has the field
            parts.append(Text(f"⚠ {record[side]['hint']}", style="bold yellow"))
    parts.append(legend())
    parts.append(summary_table(record))
    s = record["summary"]
    if s.get("closure") is not None:
        parts.append(Text(f"in-context closure: {s['closure']:.2f}  (1 - shifted share with URIAL / with bare prompt)"))
    top = s["aligned"]["top_shifted"]
    if top:
        parts.append(Text("most frequent shifted aligned tokens: " + ", ".join(f"{visible(t)!r}×{n}" for t, n in top)))
    if "ablation" in record:
        parts.append(ablation_view(record["ablation"]))
    if "nudged" in record:
        parts += nudged_parts(record, prompt)
    return Group(*parts)


def print_record(console: Console, record: dict[str, Any]) -> None:
    console.print(render(record))
    console.print()
