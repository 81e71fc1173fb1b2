"""`alignterm analyze --nudge [--gamma G]`: the nudged block of each record, the report's figures, the views."""

import csv
import io
import json

import pytest

from ..conftest import analyze_records, one_clear_line, run_main

FLAGS = ("--nudge", "--gamma", "0.8", "--max-new-tokens", "64")


@pytest.fixture(scope="module")
def run(queries, tmp_path_factory):
    """Two queries nudged at γ = 0.8, as JSON Lines with the query-set report."""
    folder = tmp_path_factory.mktemp("nudge")
    summary = folder / "summary.json"
    records = analyze_records(folder, queries[:2], *FLAGS, "--summary", str(summary))
    return records, json.loads(summary.read_text())


def test_each_record_holds_its_nudged_answer(run):
    records, _ = run
    for r in records:
        n = r["nudged"]
        assert n["gamma"] == 0.8 and n["finish_reason"] in ("stop", "eos", "length")
        assert "".join(t["text"] for t in n["tokens"]) == n["text"] and n["text"].strip()
        who = [t["chosen_by"] for t in n["tokens"]]
        assert set(who) <= {"base", "aligned"} and all(0 < t["base_top1"] <= 1 for t in n["tokens"])
        assert all(t["base_top1"] >= 0.8 for t in n["tokens"] if t["chosen_by"] == "base")
        s = n["summary"]
        assert s["n"] == len(who) and s["aligned"] == who.count("aligned")
        assert s["aligned_positions"] == [i for i, w in enumerate(who) if w == "aligned"]
        assert s["aligned_share"] == pytest.approx(who.count("aligned") / len(who))
        assert all(0 <= s["similarity"][k] <= 1 for k in ("aligned", "base"))
        assert n["tokens"][0]["top"] and n["tokens"][0]["top"][0]["id"] is not None  # --top-k 5 by default
    assert any(r["nudged"]["summary"]["aligned"] for r in records)  # γ = 0.8 nudges the demo pair


def test_the_report_pools_the_nudged_answers(run):
    records, summary = run
    shares = [r["nudged"]["summary"]["aligned_share"] for r in records]
    n = summary["nudged"]
    assert n["gamma"] == 0.8 and n["answers"] == len(records)
    assert n["mean_aligned_share"] == pytest.approx(sum(shares) / len(shares))
    for k in ("aligned", "base"):
        sims = [r["nudged"]["summary"]["similarity"][k] for r in records]
        assert n["mean_similarity"][k] == pytest.approx(sum(sims) / len(sims))
    assert n["by_position"]["answers"][0] == len(records)
    assert sum(n["by_position"]["aligned"]) == sum(r["nudged"]["summary"]["aligned"] for r in records)
    assert [q["nudged"]["aligned_share"] for q in summary["per_query"]] == shares


def test_the_pretty_report_shows_the_nudged_figures_within_80_columns(run):
    from rich.console import Console

    from alignterm.formats.report_pretty import report

    _, summary = run
    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False).print(report(summary))
    lines = out.getvalue().splitlines()
    share = summary["nudged"]["mean_aligned_share"]
    assert f"nudged answers (γ = 0.8): mean aligned-token share {share:.1%}" in lines
    assert max(len(line.rstrip()) for line in lines) <= 80


def test_pretty_csv_and_html_show_the_nudged_answer(queries):
    proc = run_main("analyze", "--query", queries[0], *FLAGS, "--format", "pretty")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # as read, whatever rich wrapped
    assert "Nudged (γ = 0.8)" in text and "from the aligned model" in text
    assert "word Jaccard of the nudged answer: to the aligned answer 0." in text
    proc = run_main("analyze", "--query", queries[0], *FLAGS, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    nudged = [r for r in rows if r["side"] == "nudged"]
    assert nudged and {r["chosen_by"] for r in nudged} == {"base", "aligned"}
    assert all(r["chosen_by"] == "" for r in rows if r["side"] != "nudged")
    proc = run_main("analyze", "--query", queries[0], *FLAGS, "--format", "html")
    assert proc.returncode == 0, proc.stderr
    assert "nudged (γ = 0.8)" in proc.stdout
    assert proc.stdout.count('class="ntok aligned"') == sum(r["chosen_by"] == "aligned" for r in nudged)


@pytest.mark.parametrize("flags", [("--nudge", "--gamma", "1.5"), ("--nudge", "--gamma", "-0.1"),
                                   ("--nudge", "--gamma", "nan")])
def test_a_gamma_outside_0_1_is_refused_in_one_line(flags):
    assert "--gamma must be in [0, 1]" in one_clear_line(run_main("analyze", "--query", "hi", *flags))


def test_gamma_without_nudge_is_refused_in_one_line():
    assert "with --nudge" in one_clear_line(run_main("analyze", "--query", "hi", "--gamma", "0.5"))
