"""Decoding and loading flags reach the engine: each test fails if its flag were ignored.
In-process (`alignterm.cli.main`), on the demo pair."""

from __future__ import annotations

import json

import pytest

from alignterm.cli import main
from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR, GGUF_DIR


def analyze(capfd, query: str, *flags: str) -> dict:
    capfd.readouterr()
    code = main(["analyze", "--query", query, "--urial", "none", "--max-new-tokens", "30", "--format", "jsonl",
                 "--top-k", "0", *flags])
    out, err = capfd.readouterr()
    assert code == 0, err
    return json.loads(out)


def answer(record: dict, side: str = "aligned") -> list[int]:
    return [t["id"] for t in record[side]["tokens"]]


@pytest.fixture(scope="module")
def greedy(queries):
    """The greedy answer, computed once per module through the same entry point."""
    from alignterm.engine.compare import Comparator, ComparisonRequest
    from alignterm.engine.values import DecodingParams, ModelSpec

    comparator = Comparator.load(ModelSpec(str(BASE_DIR), device="cpu"), ModelSpec(str(ALIGNED_DIR), device="cpu"))
    result = comparator.compare(ComparisonRequest(queries[1], None, DecodingParams(max_new_tokens=30), live=False))
    return [t.id for t in result.aligned.tokens], [t.id for t in result.base.tokens]


def test_temperature_and_seed_sample_reproducibly(capfd, queries, greedy):
    first = analyze(capfd, queries[1], "--temperature", "2.0", "--seed", "1")
    assert first["params"]["temperature"] == 2.0 and first["params"]["seed"] == 1
    assert answer(first) == answer(analyze(capfd, queries[1], "--temperature", "2.0", "--seed", "1"))
    assert answer(first) != answer(analyze(capfd, queries[1], "--temperature", "2.0", "--seed", "2"))
    assert answer(first) != greedy[0]


def test_top_p_keeps_only_the_likeliest_tokens(capfd, queries, greedy):
    """At temperature 2 a sample wanders; with a tiny top-p only the argmax is left: the greedy answer."""
    record = analyze(capfd, queries[1], "--temperature", "2.0", "--top-p", "0.01", "--seed", "1")
    assert record["params"]["top_p"] == 0.01 and answer(record) == greedy[0]


def test_repetition_penalty_changes_the_greedy_answer(capfd, queries, greedy):
    record = analyze(capfd, queries[1], "--repetition-penalty", "3.0")
    assert record["params"]["repetition_penalty"] == 3.0
    assert (answer(record), answer(record, "base")) != greedy


def test_dtype_reaches_the_model(capfd, queries, greedy):
    """bfloat16 weights round the logits: same words, other log-probabilities."""
    plain = analyze(capfd, queries[1])
    half = analyze(capfd, queries[1], "--dtype", "bfloat16")
    assert [t["logprob"] for t in half["aligned"]["tokens"]][:5] != [t["logprob"] for t in plain["aligned"]["tokens"]][:5]


def test_backend_gguf_loads_a_gguf_file_named_otherwise(capfd, queries, tmp_path):
    """A GGUF file named without .gguf loads with --backend gguf (else it is taken for an HF folder)."""
    base, aligned = tmp_path / "base.model", tmp_path / "aligned.model"
    base.symlink_to(GGUF_DIR / "demo-base.f32.gguf")
    aligned.symlink_to(GGUF_DIR / "demo-aligned.f32.gguf")
    record = analyze(capfd, queries[1], "--base", str(base), "--aligned", str(aligned), "--backend", "gguf")
    assert record["aligned"]["tokens"]
    capfd.readouterr()
    assert main(["analyze", "--query", "hi", "--base", str(base), "--aligned", str(aligned)]) == 2
    assert "is a file: give a Hugging Face model folder (or a .gguf with the gguf backend)" in capfd.readouterr().err
