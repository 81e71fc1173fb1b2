"""`alignterm analyze --urial-ablation`: the JSONL block, the pretty and HTML tables, and what it refuses."""

import json

import pytest

from ..conftest import one_clear_line, run_main

QUERY = "Where was Drarre from?"
NAMES = ["full", "without 1", "without 2", "without 3", "preamble", "only 1", "only 2", "only 3", "bare"]


def _analyze(*flags: str):
    return run_main("analyze", "--query", QUERY, "--urial-ablation", "--max-new-tokens", "96", "--top-k", "0", *flags)


@pytest.fixture(scope="module")
def record() -> dict:
    proc = _analyze("--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_record_holds_an_ablation_block(record):
    block = record["ablation"]
    assert [e["number"] for e in block["examples"]] == [1, 2, 3]
    assert block["examples"][0]["query"] == "Tell me about the town of Momlolpom."
    rows = {v["name"]: v for v in block["variants"]}
    assert list(rows) == NAMES
    assert rows["full"]["examples"] == [1, 2, 3] and rows["without 2"]["examples"] == [1, 3]
    assert rows["preamble"]["examples"] == rows["bare"]["examples"] == []
    for v in block["variants"]:
        assert v["n"] == len(record["aligned"]["tokens"])
        assert v["shifted_share"] == v["shifted"] / v["n"]
        assert v["closure"] == 1 - v["shifted_share"] / rows["bare"]["shifted_share"]
    # the full and bare rows are the run's own lenses, and "recovered" reads off its tokens
    assert rows["full"]["closure"] == record["summary"]["closure"]
    assert rows["bare"]["shifted"] == record["summary"]["aligned_bare"]["shifted"] and rows["bare"]["recovered"] == []
    recovered = [i for i, (b, u) in enumerate(zip(record["aligned_bare"]["tokens"], record["aligned"]["tokens"]))
                 if b["shift"] == "shifted" and u["shift"] != "shifted"]
    assert rows["full"]["recovered"] == recovered and recovered


def test_pretty_prints_a_table_in_80_columns(record):
    proc = _analyze("--format", "pretty")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("URIAL ablation")))
    table = lines[start: start + 2 + len(NAMES)]
    assert table[1].split() == ["variant", "examples", "shifted", "closure", "recovered"]
    for line, v in zip(table[2:], record["ablation"]["variants"]):
        assert line.startswith(v["name"])
        assert line.split()[-2:] == [f"{v['closure']:.2f}", str(len(v["recovered"]))]
        assert f"({v['shifted']}/{v['n']})" in line
    assert "example 3: What does the Ganso eat?" in proc.stdout
    assert max(len(line) for line in lines[start:]) <= 80


def test_html_adds_the_table(tmp_path):
    out = tmp_path / "a.html"
    proc = _analyze("-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "URIAL ablation" in page and page.count("<tr><th>without ") == 3


@pytest.mark.parametrize("flags,said", [
    (["--urial", "none"], "--urial none"),
    (["--format", "csv"], "jsonl, pretty, html"),
    (["--samples", "2"], "--samples"),
])
def test_what_it_refuses_in_one_line(flags, said):
    line = one_clear_line(_analyze(*flags))
    assert said in line and "--urial-ablation" in line
