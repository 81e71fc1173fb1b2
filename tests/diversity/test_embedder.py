"""`analyze --samples N --embedder PATH`: a real sentence-transformers model (built here from the
demo base model and a mean-pooling layer) gives the sentence-embedding similarities, checked
against the same embedding computed with plain transformers."""

from __future__ import annotations

import itertools
import math
import sys

import pytest
import torch

from alignterm.engine.samples import SAMPLE_SIDES as SIDES

from ..conftest import analyze_records, one_clear_line, run_main


@pytest.fixture(scope="module")
def embedder(tmp_path_factory, demo_specs):
    """A sentence-transformers folder: the demo base model's last hidden layer, mean-pooled."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    word = Transformer(demo_specs[0].spec)
    pool = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    folder = tmp_path_factory.mktemp("embedder") / "demo-mean"
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(folder))
    return folder


def _plain_embedding(model, tok, text: str) -> torch.Tensor:
    """Mean of the last hidden layer over the text's tokens, by a plain forward pass."""
    ids = tok(text, return_tensors="pt")
    with torch.inference_mode():
        return model(**ids).last_hidden_state[0].mean(0)


def test_embedder_cosines_are_the_models_own(embedder, demo_specs, tmp_path, demo_query):
    from transformers import AutoModel, AutoTokenizer

    record, = analyze_records(tmp_path, [demo_query], "--samples", "3", "--max-new-tokens", "24",
                              "--embedder", str(embedder))
    assert record["embedder"] == str(embedder)
    measure = record["measures"]["sentence_embedding"]
    texts = [s["text"] for side in SIDES for s in record["samples"][side]]
    assert len(measure["matrix"]) == len(texts) == 9 and all(texts)
    model = AutoModel.from_pretrained(demo_specs[0].spec, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(demo_specs[0].spec)
    vectors = [_plain_embedding(model, tok, t) for t in texts]
    for i, j in itertools.product(range(len(texts)), repeat=2):
        expected = torch.nn.functional.cosine_similarity(vectors[i], vectors[j], dim=0).item()
        assert math.isclose(measure["matrix"][i][j], expected, abs_tol=1e-4), (i, j)
    aligned = [measure["matrix"][i][j] for i, j in itertools.combinations(range(3), 2)]
    assert math.isclose(measure["within"]["aligned"]["mean"], sum(aligned) / 3, abs_tol=1e-9)
    assert record["measures"]["headline"]["sentence_embedding"]["aligned~aligned"] == measure["within"]["aligned"]["mean"]


def test_a_missing_embedder_folder_is_one_clear_line(tmp_path):
    proc = run_main("analyze", "--query", "What is the Kodo?", "--samples", "2", "--embedder", str(tmp_path / "none"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert "embedder" in line and str(tmp_path / "none") in line


def test_without_sentence_transformers_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if the [embed] extra were absent
    line = one_clear_line(run_main("analyze", "--query", "What is the Kodo?", "--samples", "2", "--embedder", "x"))
    assert "pip install 'alignterm[embed]'" in line
