"""`analyze --samples --format pretty`: one compact table of the measures per query."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..display import visible
from ..engine.samples import SAMPLE_SIDES as SIDES
from .diversity_record import headline, measure_rows, side_titles


def render_samples(record: dict[str, Any]) -> Group:
    """The query, the measures (a column per side) and the headline comparison."""
    p = record["params"]
    table = Table(box=None, pad_edge=False)
    table.add_column("")
    titles = side_titles(record)
    for side in SIDES:
        table.add_column(titles[side], justify="right")
    for label, cells in measure_rows(record):
        table.add_row(label, *cells)
    note = (f"{record['samples_per_side']} samples per side · temperature {p['temperature']} · top_p {p['top_p']} · "
            f"seed {p['seed']} · hint: {visible(record['hint']) if record['hint'] is not None else 'salient words of each aligned sample'}")
    return Group(Text(f"Query: {visible(record['query'])}", style="bold"), Text(note, style="dim"), table,
                 Text(headline(record)))


def print_samples_record(console: Console, record: dict[str, Any]) -> None:
    console.print(render_samples(record))
    console.print()
