"""Figure 6: how a comparison's cost grows with answer length and with vocabulary size.

Per generated token the engine does one cached forward step per model side and scores it
with one rank / log-softmax / KL / top-k over the vocabulary: O(V) on top of the model's
own step, whose attention grows with the context. A whole run is O(T·(C + V) + T²·d):
linear in T while the linear layers dominate, quadratic only for long answers.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.loading import load_pair
from alignterm.engine.measure import measure
from alignterm.engine.rows import Rows
from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.engine.vocab import SharedVocab

from .common import random_llama, report

LENGTHS = (128, 512, 1024, 2048, 4096)
VOCABS = (2_000, 32_000, 128_000, 256_000)


def by_length() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [random_llama(Path(tmp) / n, hidden=192, layers=4, intermediate=512, heads=4, seed=s,
                             max_positions=max(LENGTHS) + 64) for n, s in (("base", 0), ("aligned", 1))]
        comparator = Comparator(*load_pair(ModelSpec(str(dirs[0]), device="cpu"), ModelSpec(str(dirs[1]), device="cpu")))
        for n in LENGTHS:
            t = time.perf_counter()
            result = comparator.compare(ComparisonRequest("Tell me about Kasla.", None, DecodingParams(max_new_tokens=n),
                                                          live=False))
            elapsed = time.perf_counter() - t
            tokens = len(result.aligned.tokens) + len(result.base.tokens)
            report(f"6 comparison, {tokens} answer tokens", elapsed * 1000 / tokens, unit="ms/token")


def _no_piece(token_id: int) -> str:
    return ""


def by_vocab(rows: int = 64) -> None:
    for v in VOCABS:
        own, other = torch.randn(rows, v), torch.randn(rows, v)
        ids = torch.randint(0, v, (rows,)).tolist()
        texts = [""] * rows
        vocab = SharedVocab(v, {"base": v, "aligned": v}, {"base": _no_piece, "aligned": _no_piece})
        measure("aligned", 0, ids, texts, Rows(own), Rows(other), vocab, 10)
        t = time.perf_counter()
        for _ in range(3):
            measure("aligned", 0, ids, texts, Rows(own), Rows(other), vocab, 10)
        per_token = (time.perf_counter() - t) / 3 / rows
        report(f"6 measures per token, vocabulary {v:,}", per_token * 1000, unit="ms/token")


def run() -> None:
    by_length()
    by_vocab()
