"""A forced answer start (a fork at a token, issue #21): the forced tokens are the answer's first,
the model goes on from them, and every measure stays exact (plain forward passes, tests/engine/plain.py)."""

import json

import pytest
import torch

from alignterm.engine.compare import ComparisonRequest
from alignterm.engine.errors import BadInput
from alignterm.engine.values import DecodingParams

from ..conftest import one_clear_line, run_main
from .plain import answer_rows, chat_ids

PARAMS = DecodingParams(max_new_tokens=40)


@pytest.fixture(scope="module")
def unforced(comparator, demo_query):
    return comparator.compare(ComparisonRequest(demo_query, None, PARAMS, live=False))


def test_forcing_the_models_own_greedy_start_changes_nothing(comparator, demo_query, unforced):
    own = {side: tuple(t.id for t in unforced.side(side).tokens[:6]) for side in ("aligned", "base")}
    forced = comparator.compare(ComparisonRequest(demo_query, None, PARAMS, live=False, force=own))
    for side in ("aligned", "base"):
        a, b = unforced.side(side), forced.side(side)
        assert [t.id for t in b.tokens] == [t.id for t in a.tokens] and b.text == a.text
        assert [t.other_rank for t in b.tokens] == [t.other_rank for t in a.tokens]
        assert [t.logprob for t in b.tokens] == pytest.approx([t.logprob for t in a.tokens], abs=1e-4)
        assert b.forced == 6 and a.forced == 0


def _second_choice(token) -> int:
    return next(e.id for e in token.top if e.id != token.id)


def test_a_different_forced_token_changes_what_follows_and_stays_exact(comparator, demo_query, unforced, plain):
    """The base's answer forced through its runner-up at position 3: the rest is the base's greedy
    continuation of that start, and its ranks under the aligned model and its own log-probabilities
    are those of plain forward passes over the forced answer."""
    models, tok = plain
    head = [t.id for t in unforced.base.tokens[:3]]
    fork = (*head, _second_choice(unforced.base.tokens[3]))
    result = comparator.compare(ComparisonRequest(demo_query, None, PARAMS, live=False, force={"base": fork}))
    ids = [t.id for t in result.base.tokens]
    assert tuple(ids[:4]) == fork and result.base.forced == 4
    assert ids != [t.id for t in unforced.base.tokens]
    own = answer_rows(models["base"], result.base.prompt_ids, ids)
    assert all(int(own[i].argmax()) == ids[i] for i in range(4, len(ids)))  # greedy on from the fork
    logprobs = torch.log_softmax(own, -1)
    under_aligned = answer_rows(models["aligned"], chat_ids(tok, demo_query), ids)
    for i, t in enumerate(result.base.tokens):
        assert t.logprob == pytest.approx(float(logprobs[i, t.id]), abs=1e-4)
        assert t.other_rank == 1 + int((under_aligned[i] > under_aligned[i, t.id]).sum()), i
    assert [t.id for t in result.aligned.tokens] == [t.id for t in unforced.aligned.tokens]  # the other side is as it was


def test_analyze_takes_a_forced_start_from_the_query_line(tmp_path, demo_query, plain):
    _, tok = plain
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"id": "fork", "query": demo_query, "force": {"aligned": "Zebras"}}) + "\n")
    out = tmp_path / "out.jsonl"
    proc = run_main("analyze", "--queries", str(qfile), "--urial", "none", "--max-new-tokens", "20", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    start = tok("Zebras", add_special_tokens=False)["input_ids"]
    assert record["aligned"]["forced"] == len(start) and "forced" not in record["base"]
    assert [t["id"] for t in record["aligned"]["tokens"][: len(start)]] == start
    assert record["aligned"]["text"].startswith("Zebras")


@pytest.mark.parametrize("force", [{"nudged": "x"}, {"base": ""}, {"base": [1, -2]}, {"base": 3}, ["base"]])
def test_a_bad_force_field_is_one_clear_line(tmp_path, force):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"query": "What is the Kodo?", "force": force}) + "\n")
    assert '"force"' in one_clear_line(run_main("analyze", "--queries", str(qfile)))


def test_an_aligned_fork_keeping_the_base_answer_equals_a_full_forced_run(comparator, demo_query):
    """`keep_base` (the app's aligned fork): the base answer is the kept one, unchanged, and the new aligned
    answer and its measures (bare-prompt scores too) are those of a full run forcing the same start."""
    from alignterm.engine.prompts import load_urial

    urial = load_urial("default")
    parent = comparator.compare(ComparisonRequest(demo_query, urial, PARAMS))
    fork = (*[t.id for t in parent.aligned.tokens[:2]], _second_choice(parent.aligned.tokens[2]))
    full = comparator.compare(ComparisonRequest(demo_query, urial, PARAMS, force={"aligned": fork}))
    kept = comparator.compare(ComparisonRequest(demo_query, urial, PARAMS, force={"aligned": fork}, keep_base=parent))
    assert kept.base == parent.base
    assert kept.aligned.forced == 3 and [t.id for t in kept.aligned.tokens] == [t.id for t in full.aligned.tokens]
    for ours, theirs in ((kept.aligned.tokens, full.aligned.tokens), (kept.aligned_bare, full.aligned_bare)):
        assert [t.other_rank for t in ours] == [t.other_rank for t in theirs]
        assert [t.logprob for t in ours] == pytest.approx([t.logprob for t in theirs], abs=1e-4)
    assert kept.summary.base == parent.summary.base and kept.summary.closure == pytest.approx(full.summary.closure)
    with pytest.raises(BadInput):
        list(comparator.run(ComparisonRequest(demo_query, None, PARAMS, keep_base=parent)))  # another base prompt
