"""`alignterm analyze` through the real command line: the JSON contract, and bad input."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from alignterm.engine import shift
from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR

from ..conftest import analyze_records, make_random_model, one_clear_line, run_cli, run_main


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory, queries):
    return analyze_records(tmp_path_factory.mktemp("analyze"), queries[:3], "--max-new-tokens", "60", "--top-k", "3")


def test_one_record_per_query_in_the_design_shape(analyzed, queries):
    assert [r["query"] for r in analyzed] == queries[:3]
    assert [r["id"] for r in analyzed] == ["q0", "q1", "q2"]  # other keys are carried over
    for r in analyzed:
        assert r["base_model"] == str(BASE_DIR.resolve()) and r["aligned_model"] == str(ALIGNED_DIR.resolve())
        assert r["urial"] == "default"
        for side in ("aligned", "base"):
            s = r[side]
            assert isinstance(s["prompt_ids"], list) and s["text"]
            for t in s["tokens"]:
                assert set(t) >= {"id", "text", "logprob", "other_rank", "other_logprob", "shift", "kl"}
                assert t["shift"] == shift.category(t["other_rank"])
                assert len(t["top"]) == len(t["other_top"]) == 3
            counts = r["summary"][side]
            assert counts["n"] == len(s["tokens"])
            assert counts["unshifted"] + counts["marginal"] + counts["shifted"] == counts["n"]
        assert "aligned_bare" in r["summary"] and "closure" in r["summary"]


@pytest.mark.parametrize("side,other_dir", [("aligned", BASE_DIR), ("base", ALIGNED_DIR)])
def test_every_rank_equals_one_recomputed_from_a_plain_forward_pass(analyzed, side, other_dir):
    """Ranks are verifiable by anyone: other model, context = the other side's prompt_ids + tokens."""
    model = AutoModelForCausalLM.from_pretrained(other_dir, dtype=torch.float32).eval()
    other_side = "base" if side == "aligned" else "aligned"
    for r in analyzed:
        prompt = r[other_side]["prompt_ids"]
        ids = [t["id"] for t in r[side]["tokens"]]
        if not ids:
            continue
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1]
        chosen = logits.gather(-1, torch.tensor(ids)[:, None])
        ranks = ((logits > chosen).sum(-1) + 1).tolist()
        assert ranks == [t["other_rank"] for t in r[side]["tokens"]]
        lp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids)[:, None])[:, 0]
        assert max(abs(a - t["other_logprob"]) for a, t in zip(lp.tolist(), r[side]["tokens"])) < 1e-3


def test_urial_none_gives_the_bare_prompt_without_closure(queries):
    proc = run_main("analyze", "--query", queries[0], "--urial", "none", "--max-new-tokens", "20", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["urial"] is None and "closure" not in r["summary"]


def test_pretty_and_csv_formats(queries, tmp_path):
    proc = run_main("analyze", "--query", queries[0], "--max-new-tokens", "20", "--format", "pretty")
    assert proc.returncode == 0, proc.stderr
    assert "Aligned" in proc.stdout and "unshifted" in proc.stdout and "closure" in proc.stdout
    out = tmp_path / "t.csv"
    proc = run_main("analyze", "--query", queries[0], "--max-new-tokens", "20", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("query_index,query_id,turn,query,urial,side,lens,position,id") and len(lines) > 2


def test_missing_model_path_exits_2_with_one_line(tmp_path):
    line = one_clear_line(run_cli("analyze", "--query", "hi", "--base", str(tmp_path / "nope"), "--aligned", str(ALIGNED_DIR)))
    assert "not found" in line


def test_empty_query_exits_2_with_one_line():
    assert "empty" in one_clear_line(run_main("analyze", "--query", "  "))


def test_malformed_jsonl_line_exits_2_naming_the_line(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text('{"query": "fine"}\n{"query": oops}\n')
    assert "line 2" in one_clear_line(run_main("analyze", "--queries", str(f)))


def test_only_one_model_given_exits_2():
    assert "both --base and --aligned" in one_clear_line(run_main("analyze", "--query", "hi", "--base", str(BASE_DIR)))


def test_zero_max_new_tokens_exits_2():
    assert "--max-new-tokens" in one_clear_line(run_main("analyze", "--query", "hi", "--max-new-tokens", "0"))


def test_mismatched_tokenizers_are_refused(tmp_path):
    other = make_random_model(tmp_path / "other", ["completely different text for another vocabulary"] * 20)
    line = one_clear_line(run_main("analyze", "--query", "hi", "--base", str(other), "--aligned", str(ALIGNED_DIR)))
    assert "tokenizers differ" in line


def test_a_model_without_chat_template_as_aligned_is_refused():
    line = one_clear_line(run_main("analyze", "--query", "hi", "--base", str(BASE_DIR), "--aligned", str(BASE_DIR)))
    assert "chat template" in line


def _plain_logits(model_dir, ids: list[int]) -> torch.Tensor:
    """A plain transformers forward pass: logits [len(ids), V]."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0]


@pytest.mark.parametrize("side", ["aligned", "base"])
def test_every_kl_is_kl_aligned_to_base_from_two_plain_forward_passes(analyzed, side):
    """KL(P_align || P_base) at each position of either answer, each model reading it after its own prompt."""
    for r in analyzed:
        ids = [t["id"] for t in r[side]["tokens"]]
        rows = {}
        for model, model_dir in (("aligned", ALIGNED_DIR), ("base", BASE_DIR)):
            prompt = r[model]["prompt_ids"]
            rows[model] = torch.log_softmax(_plain_logits(model_dir, prompt + ids)[len(prompt) - 1 : -1], -1)
        want = (rows["aligned"].exp() * (rows["aligned"] - rows["base"])).sum(-1)  # swapped, it differs by far
        swapped = (rows["base"].exp() * (rows["base"] - rows["aligned"])).sum(-1)
        got = torch.tensor([t["kl"] for t in r[side]["tokens"]])
        assert (got - want).abs().max() < 1e-3
        assert (got - swapped).abs().max() > 1e-2


def test_closure_recomputed_from_the_exported_bare_and_urial_ranks(analyzed):
    """The bare scores behind closure are in the record; their ranks, recomputed after the bare prompt
    with a plain forward pass, and the URIAL ranks give the record's closure (pooled and per query)."""
    pooled = {"bare": [0, 0], "urial": [0, 0]}  # shifted, all
    for r in analyzed:
        bare = r["aligned_bare"]
        ids = [t["id"] for t in r["aligned"]["tokens"]]
        assert [t["id"] for t in bare["tokens"]] == ids and bare["prompt_ids"] != r["base"]["prompt_ids"]
        logits = _plain_logits(BASE_DIR, bare["prompt_ids"] + ids)[len(bare["prompt_ids"]) - 1 : -1]
        chosen = logits.gather(-1, torch.tensor(ids)[:, None])
        ranks = ((logits > chosen).sum(-1) + 1).tolist()
        assert ranks == [t["other_rank"] for t in bare["tokens"]]
        shifted = {"bare": sum(k >= 4 for k in ranks), "urial": sum(t["other_rank"] >= 4 for t in r["aligned"]["tokens"])}
        for lens in pooled:
            pooled[lens][0] += shifted[lens]
            pooled[lens][1] += len(ids)
        if shifted["bare"]:
            assert abs(r["summary"]["closure"] - (1 - shifted["urial"] / shifted["bare"])) < 1e-9
    assert pooled["bare"][0] > 0, "no shifted token under the bare prompt: closure would prove nothing"
