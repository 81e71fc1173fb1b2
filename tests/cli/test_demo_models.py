"""`alignterm demo-models` end to end, on a small corpus: the same seed gives the same files,
and the pair it writes is one the tool loads and compares (the bundled pair is its full-size run)."""

from __future__ import annotations

import json

import pytest
import torch

from alignterm.cli import main
from alignterm.engine.demo import QUERIES_FILE, build


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setattr(build, "CORPUS_CHARS", 40_000)  # the recipe, shrunk (the full one takes minutes)
    patch.setattr(build, "BASE_EPOCHS", 1)
    patch.setattr(build, "SFT_EPOCHS", 1)
    patch.setattr(build, "SFT_REPEATS", 1)
    # the recipe's 2 threads would spin against the other test worker's (tests/conftest.py)
    patch.setattr(build, "THREADS", torch.get_num_threads())
    try:
        folders = [tmp_path_factory.mktemp(name) for name in ("first", "second")]
        for folder in folders:
            assert main(["demo-models", "--out", str(folder)]) == 0
        return folders
    finally:
        patch.undo()


def test_the_same_seed_writes_the_same_files(two_builds):
    first, second = two_builds
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert {"base/model.safetensors", "aligned/model.safetensors", "gguf/demo-base.q8_0.gguf",
            "queries.jsonl"} <= {str(n) for n in names}
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "queries.jsonl").read_text() == QUERIES_FILE.read_text()  # the bundled queries


def test_the_written_pair_loads_and_compares_on_both_backends(two_builds, tmp_path):
    pair = two_builds[0]
    query = json.loads(QUERIES_FILE.read_text().splitlines()[0])["query"]
    for base, aligned in ((pair / "base", pair / "aligned"),
                          (pair / "gguf" / "demo-base.f32.gguf", pair / "gguf" / "demo-aligned.f32.gguf")):
        out = tmp_path / "out.jsonl"
        assert main(["analyze", "--query", query, "--base", str(base), "--aligned", str(aligned),
                     "--max-new-tokens", "8", "--format", "jsonl", "-o", str(out)]) == 0
        record = json.loads(out.read_text())
        assert record["aligned"]["tokens"] and record["base"]["prompt_ids"]
