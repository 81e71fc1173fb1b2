"""`analyze --queries` with a conversation's "turns" line: one record per turn, and bad lines refused."""

import csv
import io
import json

import pytest

from alignterm.engine import shift

from ..conftest import one_clear_line, run_main

FLAGS = ("--max-new-tokens", "30")


def _run(tmp_path, lines: list[dict], *flags: str):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return run_main("analyze", "--queries", str(qfile), *FLAGS, *flags)


def _lines(queries) -> list[dict]:
    return [{"id": "talk", "turns": queries[:2], "topic": "demo"}, {"id": "one", "query": queries[2]}]


@pytest.fixture(scope="module")
def records(tmp_path_factory, queries):
    folder = tmp_path_factory.mktemp("turns")
    out = folder / "out.jsonl"
    proc = _run(folder, _lines(queries), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_a_turns_line_gives_one_record_per_turn(records, queries):
    first, second, single = records
    assert [r["query"] for r in records] == queries[:3]
    assert [r.get("turn") for r in records] == [1, 2, None]
    assert [r["id"] for r in records] == ["talk", "talk", "one"] and first["topic"] == second["topic"] == "demo"
    assert "turns" not in first and "history" not in first and "history" not in single
    assert second["history"] == [{"user": queries[0], "assistant": first["aligned"]["text"]}]
    for r in records:  # every record keeps architecture §3's shape, closure recomputable from it alone
        bare = [t["shift"] for t in r["aligned_bare"]["tokens"]]
        urial = [t["shift"] for t in r["aligned"]["tokens"]]
        closure = shift.closure_of(bare.count("shifted") / len(bare), urial.count("shifted") / len(urial))
        assert r["summary"]["closure"] == pytest.approx(closure)
    # turn 2's prompts hold turn 1 (tests/engine/test_conversation.py checks them token by token)
    for side in ("aligned", "base"):
        assert len(second[side]["prompt_ids"]) > len(first[side]["prompt_ids"])


def test_csv_rows_carry_each_turns_number(records, queries, tmp_path):
    """The same run as CSV: each turn's rows have its number (a single query: 1) and its tokens."""
    proc = _run(tmp_path, _lines(queries), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(rows[0])[:4] == ["query_index", "query_id", "turn", "query"]
    keys = {(r["query_index"], r["query_id"], r["turn"], r["query"]) for r in rows}
    assert keys == {("0", "talk", "1", queries[0]), ("1", "talk", "2", queries[1]), ("2", "one", "1", queries[2])}
    for index, rec in enumerate(records):
        mine = [r for r in rows if r["query_index"] == str(index)]
        assert {r["turn"] for r in mine} == {str(rec.get("turn", 1))}
        for side, lens, key in (("aligned", "urial", "aligned"), ("aligned", "bare", "aligned_bare"),
                                ("base", "reverse", "base")):
            got = [(int(r["id"]), r["text"], r["shift"]) for r in mine if r["side"] == side and r["lens"] == lens]
            assert got == [(t["id"], t["text"], t["shift"]) for t in rec[key]["tokens"]], (index, lens)


def test_pretty_shows_each_turn(tmp_path, queries):
    out = tmp_path / "out.txt"
    proc = _run(tmp_path, [{"turns": queries[:2]}], "--format", "pretty", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert f"Turn 1 · Query: {queries[0]}" in text and f"Turn 2 · Query: {queries[1]}" in text


def test_html_heads_each_turn(tmp_path, queries):
    out = tmp_path / "out.html"
    proc = _run(tmp_path, [{"turns": queries[:2]}], "--format", "html", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert f"<h2>Turn 1 · {queries[0]}</h2>" in text and f"<h2>Turn 2 · {queries[1]}</h2>" in text


def test_the_report_counts_each_turn(tmp_path, queries):
    summary = tmp_path / "summary.json"
    proc = _run(tmp_path, [{"id": "talk", "turns": queries[:2]}], "-o", str(tmp_path / "o.jsonl"),
                "--summary", str(summary))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(summary.read_text())
    assert report["queries"] == 2 and [q["query"] for q in report["per_query"]] == queries[:2]


@pytest.mark.parametrize("line", [
    {"query": "What is the Kodo?", "turns": ["What is the Kodo?"]},
    {"id": "x"},
    {"turns": []},
    {"turns": "What is the Kodo?"},
    {"turns": ["What is the Kodo?", "  "]},
    {"turns": ["What is the Kodo?", 3]},
    {"turns": ["What is the Kodo?"], "force": {"aligned": "Zebras"}},
])
def test_a_bad_turns_line_is_one_clear_line(tmp_path, line):
    assert "line 1" in one_clear_line(_run(tmp_path, [line]))


@pytest.mark.parametrize("flag", [("--nudge",), ("--samples", "2")])
def test_a_conversation_refuses_single_query_modes(tmp_path, flag):
    assert '"turns"' in one_clear_line(_run(tmp_path, [{"turns": ["What is the Kodo?"]}], *flag))
