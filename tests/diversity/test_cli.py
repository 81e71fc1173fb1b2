"""`alignterm analyze --samples` through the real command line: JSONL, HTML, pretty, bad input."""

import html
import json

import pytest

from alignterm.display import visible
from alignterm.engine.samples import SAMPLE_SIDES as SIDES

from ..conftest import analyze_records, one_clear_line, run_main

TRICKY = "<script>alert(1)</script> Tell me about Kasla & co."


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory, queries):
    return analyze_records(tmp_path_factory.mktemp("samples"), queries[:2], "--samples", "3", "--max-new-tokens", "40")


def test_one_record_per_query_with_samples_and_measures(jsonl, queries):
    assert [r["query"] for r in jsonl] == queries[:2] and [r["id"] for r in jsonl] == ["q0", "q1"]
    for r in jsonl:
        assert r["urial"] == "default" and r["samples_per_side"] == 3
        assert r["params"]["temperature"] == 1.0 and r["params"]["top_p"] == 0.95  # greedy became sampling
        for side in SIDES:
            assert len(r["samples"][side]) == 3 and all(isinstance(s["text"], str) for s in r["samples"][side])
        assert all(s["hint"] for s in r["samples"]["base_hint"])
        m = r["measures"]
        assert set(m) == {"headline", "jaccard", "embedding", "sentence_embedding", "sides", "coverage"}
        assert m["headline"]["jaccard"]["aligned~aligned"] == m["jaccard"]["within"]["aligned"]["mean"]
        assert m["embedding"] is not None and m["sentence_embedding"] is None
        assert len(m["jaccard"]["matrix"]) == 9 and m["jaccard"]["within"]["aligned"]["pairs"] == 3
        assert len(m["coverage"]["base_hint"]["per_aligned_sample"]) == 3


def test_html_report_is_self_contained_and_escapes_model_text(tmp_path):
    out = tmp_path / "report.html"
    proc = run_main("analyze", "--query", TRICKY, "--samples", "2", "--max-new-tokens", "30", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert html.escape(TRICKY) in page and 'class="heat"' in page
    jsonl = tmp_path / "same.jsonl"
    assert run_main("analyze", "--query", TRICKY, "--samples", "2", "--max-new-tokens", "30", "-o", str(jsonl)).returncode == 0
    record = json.loads(jsonl.read_text())
    for side in SIDES:
        for s in record["samples"][side]:
            assert html.escape(visible(s["text"])) in page


def test_pretty_is_a_compact_table():
    proc = run_main("analyze", "--query", "What is the Kodo?", "--samples", "2", "--max-new-tokens", "20",
                   "--format", "pretty", "--urial", "none", "--hint", "black lizard")
    assert proc.returncode == 0, proc.stderr
    assert "Jaccard within" in proc.stdout and "base+bare+hint" in proc.stdout and "hint: black lizard" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["--samples", "0"], "--samples must be at least 2"),
    (["--samples", "-3"], "--samples must be at least 2"),
    (["--samples", "2", "--format", "csv"], "does not fit --samples"),
    (["--samples", "2", "-o", "{tmp}/out.csv"], "does not fit --samples"),
    (["--hint", "x"], "need --samples"),
    (["--samples", "2", "--hint", " "], "--hint is empty"),
])
def test_bad_samples_flags_are_one_clear_line(args, message, tmp_path):
    proc = run_main("analyze", "--query", "What is the Kodo?", *(a.format(tmp=tmp_path) for a in args))
    assert message in one_clear_line(proc)
