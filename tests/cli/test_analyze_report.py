"""`analyze --queries` as a research report (issue #17): the query-set figures of the URIAL
paper's TDS analysis, recomputed here independently from the JSONL tokens of the same run, and
shown by the pretty, CSV and HTML writers."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter

import pytest

from alignterm.cli import main
from alignterm.engine.demo import QUERIES_FILE

from ..sessions.test_html_export import chromium

ARGS = ["analyze", "--queries", str(QUERIES_FILE), "--urial", "default", "--max-new-tokens", "48"]


@pytest.fixture(scope="module")
def few(tmp_path_factory):
    """`analyze` flags for the writers' tests: the first four demo queries, shorter answers."""
    path = tmp_path_factory.mktemp("few") / "q.jsonl"
    path.write_text("".join(QUERIES_FILE.read_text().splitlines(keepends=True)[:4]))
    return ["analyze", "--queries", str(path), "--urial", "default", "--max-new-tokens", "32"]
BINS = [(1, 1), (2, 2), (3, 3), (4, 10), (11, 100), (101, math.inf)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run's JSONL records and its --summary object."""
    folder = tmp_path_factory.mktemp("report")
    out, summary = folder / "run.jsonl", folder / "summary.json"
    assert main([*ARGS, "--format", "jsonl", "-o", str(out), "--summary", str(summary)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return records, json.loads(summary.read_text())


def lens_answers(records, lens: str) -> list[list[dict]]:
    key = {"bare": lambda r: r["aligned_bare"]["tokens"], "urial": lambda r: r["aligned"]["tokens"],
           "reverse": lambda r: r["base"]["tokens"]}[lens]
    return [key(r) for r in records]


@pytest.mark.parametrize("lens", ["bare", "urial", "reverse"])
def test_each_lens_matches_a_count_over_the_jsonl_tokens(run, lens):
    records, summary = run
    got = summary["lenses"][lens]
    answers = lens_answers(records, lens)
    tokens = [t for a in answers for t in a]
    assert got["n"] == len(tokens) and got["answers"] == len(records)
    for c in ("unshifted", "marginal", "shifted"):
        assert got[c] == sum(t["shift"] == c for t in tokens)
        assert got["shares"][c] == pytest.approx(got[c] / len(tokens))
    assert got["mean_kl"] == pytest.approx(sum(t["kl"] for t in tokens) / len(tokens))
    # rank histogram
    assert got["rank_histogram"]["tokens"] == [sum(lo <= t["other_rank"] <= hi for t in tokens) for lo, hi in BINS]
    # per-position curve: answers still that long, and the shifted and marginal counts there
    longest = max(len(a) for a in answers)
    at = got["by_position"]
    assert at["position"] == list(range(longest))
    assert at["answers"] == [sum(len(a) > p for a in answers) for p in range(longest)]
    for c in ("shifted", "marginal"):
        assert at[c] == [sum(len(a) > p and a[p]["shift"] == c for a in answers) for p in range(longest)]
    # the most often shifted tokens, with their share of uses, mean rank and mean KL
    shifted = [t for t in tokens if t["shift"] == "shifted"]
    uses = Counter(t["text"] for t in tokens)
    expected = []
    for text, n in Counter(t["text"] for t in shifted).most_common(10):
        mine = [t for t in shifted if t["text"] == text]
        expected.append((text, n, n / uses[text], sum(t["other_rank"] for t in mine) / n, sum(t["kl"] for t in mine) / n))
    assert [(r["text"], r["shifted"]) for r in got["top_shifted"]] == [e[:2] for e in expected]
    assert [(r["shifted_share"], r["mean_rank"], r["mean_kl"]) for r in got["top_shifted"]] \
        == [pytest.approx(e[2:]) for e in expected]


def test_per_query_rows_and_the_pooled_closure(run):
    records, summary = run
    rows = summary["per_query"]
    assert [r["id"] for r in rows] == [r["id"] for r in records] and [r["query"] for r in rows] == [r["query"] for r in records]
    for row, rec in zip(rows, records):
        assert row["closure"] == pytest.approx(rec["summary"]["closure"])
        assert row["tokens"] == {"base": len(rec["base"]["tokens"]), "aligned": len(rec["aligned"]["tokens"])}
        for lens in ("bare", "urial", "reverse"):
            tokens = lens_answers([rec], lens)[0]
            assert row["shifted"][lens] == pytest.approx(sum(t["shift"] == "shifted" for t in tokens) / len(tokens))

    def shifted_share(lens):
        tokens = [t for a in lens_answers(records, lens) for t in a]
        return sum(t["shift"] == "shifted" for t in tokens) / len(tokens)

    assert summary["closure"] == pytest.approx(1 - shifted_share("urial") / shifted_share("bare"))
    # the demo pair shows the paper's picture over the set: shift is highest among the first tokens
    bare = summary["lenses"]["bare"]["by_position"]
    early = sum(bare["shifted"][:8]) / sum(bare["answers"][:8])
    late = sum(bare["shifted"][8:]) / sum(bare["answers"][8:])
    assert early > 2 * late


def test_csv_rows_name_the_query_prompt_side_and_lens(few, tmp_path):
    out, jsonl = tmp_path / "run.csv", tmp_path / "run.jsonl"
    assert main([*few, "-o", str(out)]) == 0 and main([*few, "-o", str(jsonl)]) == 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["urial"] for r in rows} == {"default"}
    for rec in records:
        mine = [r for r in rows if r["query_id"] == rec["id"]]
        for side, lens, key in (("aligned", "urial", "aligned"), ("aligned", "bare", "aligned_bare"), ("base", "reverse", "base")):
            got = [(r["text"], r["shift"]) for r in mine if r["side"] == side and r["lens"] == lens]
            assert got == [(t["text"], t["shift"]) for t in rec[key]["tokens"]], (rec["id"], lens)


def test_pretty_shows_the_report_within_80_columns(few, tmp_path):
    out, summary_file = tmp_path / "run.txt", tmp_path / "summary.json"
    assert main([*few, "--format", "pretty", "-o", str(out), "--summary", str(summary_file)]) == 0
    summary = json.loads(summary_file.read_text())
    text = out.read_text()
    report = text[text.index(f"all {len(summary['per_query'])} queries"):]
    assert max(len(line) for line in report.splitlines()) <= 80
    for lens in summary["lenses"].values():
        assert lens["title"] in report
    assert f"pooled in-context closure: {summary['closure']:.2f}" in report
    assert "shifted share by position" in report and "rank under the other model" in report
    assert any(ch in report for ch in "▁▂▃▄▅▆▇█")  # the curves are drawn


def test_the_html_report_renders_its_charts_in_chromium(few, tmp_path):
    out, summary_file = tmp_path / "run.html", tmp_path / "summary.json"
    assert main([*few, "--format", "html", "-o", str(out), "--summary", str(summary_file)]) == 0
    summary = json.loads(summary_file.read_text())
    page = chromium(out, tmp_path, "--screenshot=" + str(tmp_path / "shot.png"), "--window-size=1200,2400")
    assert page.errors == []
    assert (tmp_path / "shot.png").stat().st_size > 20_000
    dom = chromium(out, tmp_path, "--dump-dom").out
    report = dom[dom.index('id="report"'):dom.index('id="q0"')]
    assert report.count("<svg") == 4  # shifted and marginal curves, answers by length, rank histogram
    assert report.count("<polyline") >= 3 * 2 + 2  # a line per lens in each curve, two in the lengths chart
    for word in ("token position", "shifted share", "rank", "answers"):
        assert word in report  # axes are labelled
    for lens in summary["lenses"].values():
        assert lens["title"].replace("&", "&amp;") in report  # the legend names each lens
    assert report.count('href="#q') == 2 * len(summary["per_query"])  # each row links to its section


def test_a_long_run_shows_queries_done_tokens_per_second_and_time_left_on_a_terminal(tmp_path):
    """The progress line is drawn only on a terminal: run the CLI on a pseudo-terminal and read it."""
    import os
    import pty
    import subprocess
    import sys

    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"query": q}) + "\n" for q in ["Describe the town of Milbra."] * 4))
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "alignterm", "analyze", "--queries", str(queries), "--max-new-tokens",
                             "24", "-o", str(tmp_path / "out.jsonl")], stdin=secondary, stdout=secondary, stderr=secondary,
                            env={**os.environ, "COLUMNS": "100", "TERM": "xterm-256color"})
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0, seen.decode(errors="replace")[-2000:]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace"))  # colours and cursor moves
    assert "4/4 queries" in text and "tok/s" in text and "ETA" in text, text[-2000:]
