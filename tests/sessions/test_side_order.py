"""One side order everywhere, the app's: Base first (left or top), then Aligned.

The session's HTML page, `analyze --format html` (per query) and `--format pretty` list the
sides in that order: answers, headings, the models line and the summary rows.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from rich.console import Console

from alignterm.engine.aggregate import Report
from alignterm.formats.html import HtmlWriter
from alignterm.formats.pretty import render
from alignterm.formats.record import aggregate_record
from alignterm.formats.report_html import report_section
from alignterm.formats.report_pretty import report as report_view
from alignterm.sessions import load_session
from alignterm.sessions.format import session_record

from ..conftest import run_main

V1 = Path(__file__).parent / "data" / "session-v1.yaml"


def page(records: list[dict]) -> str:
    out = io.StringIO()
    writer = HtmlWriter(out)
    for record in records:
        writer.write(record)
    writer.close()
    return out.getvalue()


def answers_in_order(html: str) -> list[tuple[str, str]]:
    """(query index, side) of every answer block, in document order."""
    return re.findall(r'<div class="answer" data-q="(\d+)" data-side="(\w+)"', html)


def in_order(text: str, *parts: str) -> bool:
    """Whether every part is in `text`, each after the one before."""
    at = [text.find(p) for p in parts]
    return all(i >= 0 for i in at) and at == sorted(at)


def test_the_session_page_shows_base_before_aligned():
    html = page([session_record(load_session(V1))])
    assert answers_in_order(html) == [("0", "base"), ("0", "aligned")]
    assert in_order(html, "<h3>base + URIAL (default)", "<h3>aligned, coloured under base + URIAL ·")
    assert in_order(html, "base: demo/pair/base", "aligned: demo/pair/aligned")
    assert in_order(html, "<th>base under aligned</th>", "<th>aligned under base</th>", "<th>aligned under bare base</th>")


def test_analyze_html_shows_base_before_aligned_for_every_query(queries, tmp_path):
    out = tmp_path / "page.html"
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps({"query": q}) + "\n" for q in queries[:2]))
    proc = run_main("analyze", "--queries", str(qfile), "--max-new-tokens", "4", "--device", "cpu",
                   "--format", "html", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    assert answers_in_order(html) == [(q, side) for q in "01" for side in ("base", "aligned", "aligned_bare")]
    sections = html.split('<section id="q')[1:]
    assert len(sections) == 2
    for section in sections:
        assert in_order(section, "<h3>base + URIAL", "<h3>aligned")
        assert in_order(section, "<th>base under aligned</th>", "<th>aligned under base</th>")


def text_of(renderable) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_pretty_shows_base_before_aligned():
    record = session_record(load_session(V1))
    text = text_of(render(record))
    assert in_order(text, "Base + URIAL (default)", "Aligned (coloured")
    assert in_order(text, "base | aligned", "aligned | base+URIAL", "aligned | base bare")
    session = load_session(V1)
    report = Report()
    for _ in range(2):
        report.add(session.result)
    summary = aggregate_record(report.aggregate())
    assert in_order(text_of(report_view(summary)), "base | aligned", "aligned | base+URIAL", "aligned | base bare")
    assert in_order(report_section(summary), "base | aligned", "aligned | base+URIAL", "aligned | base bare")
