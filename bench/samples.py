"""Diversity mode's sampling: N samples of one prompt, batched (alignterm) against transformers'
own `generate(num_return_sequences=N)` and against drawing them one after another.

Per-token time, since samples end at different lengths: every run is forced to the full
length (no end-of-sequence), on the demo aligned model and on an 86M random Llama.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from alignterm.engine.demo import ALIGNED_DIR, demo_queries
from alignterm.engine.loading import load_backend
from alignterm.engine.sampling import generate_with
from alignterm.engine.values import DecodingParams, ModelSpec

from .common import best_of, random_llama, report

N = 8
TOKENS = 64
TARGET = 1.25  # of raw transformers' batched sampling


def _one(name: str, path: str) -> None:
    import torch

    backend = load_backend(ModelSpec(path, device="cpu"))
    backend.tokenizer.eos_ids = frozenset()  # full length for every run, as min_new_tokens does for raw
    prompt = backend.tokenizer.encode(demo_queries()[0]["query"], add_bos=True)
    params = DecodingParams(max_new_tokens=TOKENS, temperature=1.0, top_p=0.95, seed=0)
    seeds = list(range(N))

    def ours() -> None:
        for _ in backend.generate_batch(prompt, params, seeds):
            pass

    def one_by_one() -> None:
        scorer = backend.scorer()
        for seed in seeds:
            for _ in generate_with(scorer, prompt, replace(params, seed=seed), backend.context_length,
                                   backend.tokenizer.vocab_size):
                pass

    def raw() -> None:
        with torch.inference_mode():
            backend.model.generate(torch.tensor([prompt]), do_sample=True, temperature=1.0, top_p=0.95, top_k=0,
                                   max_new_tokens=TOKENS, min_new_tokens=TOKENS, num_return_sequences=N,
                                   pad_token_id=0)

    per_token = N * TOKENS
    t_ours, t_raw, t_seq = (best_of(f) / per_token * 1e3 for f in (ours, raw, one_by_one))
    report(f"{N} samples, batched, {name} (ms/token)", t_ours, t_raw, f"<= {TARGET}x", "ms", t_ours <= TARGET * t_raw)
    report(f"{N} samples, one by one, {name} (ms/token)", t_seq, t_ours, "(vs batched)", "ms")


def run() -> None:
    _one("demo aligned", str(ALIGNED_DIR))
    with tempfile.TemporaryDirectory() as tmp:
        path = random_llama(Path(tmp) / "m86", hidden=768, layers=12, intermediate=2048, heads=12)
        _one("86M random Llama", str(path))
