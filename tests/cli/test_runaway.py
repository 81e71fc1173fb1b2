"""A base answer that runs to the token limit without its stop string is said to have run away: in the
JSON record, in pretty and in HTML; one that closes its answer is not."""

import json

import pytest

from ..conftest import run_main

QUERY = "Where was Drarre from?"  # on the demo pair the base closes this answer after about 50 tokens
SAID = "ran to the token limit without closing its answer"


def analyze(fmt: str, max_new_tokens: int, out=None) -> str:
    flags = ["-o", str(out)] if out else []
    proc = run_main("analyze", "--query", QUERY, "--max-new-tokens", str(max_new_tokens), "--top-k", "0",
                    "--format", fmt, *flags)
    assert proc.returncode == 0, proc.stderr
    return out.read_text(encoding="utf-8") if out else proc.stdout


@pytest.fixture(scope="module")
def records():
    return {n: json.loads(analyze("jsonl", n)) for n in (5, 60)}


def test_a_base_cut_at_the_limit_is_marked_with_a_hint(records):
    base = records[5]["base"]
    assert base["finish_reason"] == "length" and len(base["tokens"]) == 5
    assert base["runaway"] is True
    assert SAID in base["hint"] and "--max-new-tokens" in base["hint"] and "URIAL" in base["hint"]
    assert "runaway" not in records[5]["aligned"]  # the aligned answer has no stop string to miss


def test_a_base_that_closes_its_answer_is_not(records):
    base = records[60]["base"]
    assert base["finish_reason"] == "stop" and len(base["tokens"]) < 60
    assert base["runaway"] is False and "hint" not in base


def test_pretty_says_so_in_a_line_only_when_it_ran_away():
    assert SAID in analyze("pretty", 5)
    assert SAID not in analyze("pretty", 60)


def test_html_marks_it_with_a_note(tmp_path):
    page = analyze("html", 5, tmp_path / "a.html")
    assert page.count('class="runaway"') == 1 and SAID in page
    assert 'class="runaway"' not in analyze("html", 60, tmp_path / "b.html")
