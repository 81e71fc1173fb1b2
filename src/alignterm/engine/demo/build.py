"""Rebuild the bundled demo pair (`alignterm demo-models`).

Same seed on the same machine gives identical weights: RNGs are seeded, torch runs
deterministic algorithms on a fixed number of threads (restored afterwards).
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch

from . import corpus, train
from .gguf_export import export_pair
from .world import make_world

CORPUS_CHARS = 3_000_000
BASE_EPOCHS = 3
BASE_LR = 2e-3
# Small batches: the number of updates, not tokens, decides when the model learns to
# copy a name from the query (a sudden change around update 300); without it every
# answer is about some other, memorized entity.
BASE_BATCH = 4
# A light fine-tune: the base already knows the chat format and assistant style (from its
# chat logs), but not the fine-tune's own habits (preface, transitions, phrasings): 2 epochs
# at 1.5e-4 make them the aligned model's greedy choices; at 3e-4 the aligned model lost the
# base's name copying and answered about the wrong entities.
SFT_EPOCHS = 2
SFT_LR = 1.5e-4
SFT_BATCH = 16
SFT_REPEATS = 2  # phrasings per (entity, topic)
THREADS = 2


def build_demo_pair(out_dir: Path, *, seed: int = 0, log: Callable[[str], None] = print) -> None:
    """Train the tokenizer, the base model and the aligned model into out_dir/{base,aligned};
    write the demo queries to out_dir/queries.jsonl."""
    out_dir = Path(out_dir)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    try:
        _build(out_dir, seed, log)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _build(out_dir: Path, seed: int, log: Callable[[str], None]) -> None:
    start = time.monotonic()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    world = make_world()
    docs = corpus.base_documents(world, rng, CORPUS_CHARS)
    sft = corpus.sft_examples(world, rng, SFT_REPEATS)
    log(f"corpus: {len(docs)} documents, {sum(map(len, docs)) / 1e6:.1f} MB; {len(sft)} SFT answers")

    tok = train.train_tokenizer(docs)
    log(f"tokenizer: {len(tok)} tokens")
    model = train.new_model(tok)
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    ids, labels = train.pack_documents(tok, docs)
    log(f"base corpus: {int((labels != -100).sum())} tokens in {len(ids)} windows")
    train.train(model, ids, labels, epochs=BASE_EPOCHS, lr=BASE_LR, batch_size=BASE_BATCH, log=log, name="base")
    _save(model, tok, out_dir / "base", [train.EOT])

    tok.chat_template = train.CHAT_TEMPLATE  # the aligned side only: the base has no chat template
    ids, labels = train.chat_examples(tok, sft)
    train.train(model, ids, labels, epochs=SFT_EPOCHS, lr=SFT_LR, batch_size=SFT_BATCH, log=log, name="aligned")
    _save(model, tok, out_dir / "aligned", [train.END, train.EOT])

    with open(out_dir / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in corpus.demo_queries(world):
            f.write(json.dumps(q) + "\n")
    try:
        import llama_cpp  # noqa: F401  (the GGUF files need llama.cpp's quantizer)
    except ImportError:
        log("GGUF files not written: pip install 'alignterm[gguf]' for them")
    else:
        export_pair(out_dir, log=log)
    log(f"demo pair written to {out_dir} in {time.monotonic() - start:.0f}s")


def _save(model, tok, folder: Path, eos: list[str]) -> None:
    """Tokenizer, weights and generation config of one side. The weights are stored as float16
    (the bundled files stay small beside their GGUF copies) and load back as float32 on CPU."""
    tok.save_pretrained(folder)
    copy.deepcopy(model).to(torch.float16).save_pretrained(folder)
    train.generation_config(tok, eos).save_pretrained(folder)
