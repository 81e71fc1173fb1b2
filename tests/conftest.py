"""Shared fixtures, each defined once for the whole suite: the bundled demo pair (loaded once per
test session), a comparison saved as a session, and the app on the loaded pair."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# `make test` runs pytest -n 2: the worker processes share the cores, and torch's CPU threads
# spin between operations, so a thread per core in every worker slows each of them many-fold
# (seen: 20x on 2 cores). Each worker (and the processes its tests start) gets its share.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(_share)

from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR, demo_queries
from alignterm.engine.values import DecodingParams, ModelSpec

APP_PARAMS = DecodingParams(max_new_tokens=96)  # make_app's default


@pytest.fixture(scope="session")
def demo_specs() -> tuple[ModelSpec, ModelSpec]:
    return ModelSpec(str(BASE_DIR), device="cpu"), ModelSpec(str(ALIGNED_DIR), device="cpu")


@pytest.fixture(scope="session")
def comparator(demo_specs):
    from alignterm.engine.compare import Comparator

    return Comparator.load(*demo_specs)


@pytest.fixture(scope="session")
def queries() -> list[str]:
    return [q["query"] for q in demo_queries()]


@pytest.fixture(scope="session")
def demo_query(queries) -> str:
    return queries[0]


@pytest.fixture(scope="session")
def demo_session(comparator, demo_specs, queries):
    """A real comparison on the demo pair, made once, as the session the session tests save and read."""
    from alignterm.engine.compare import ComparisonRequest
    from alignterm.engine.prompts import load_urial
    from alignterm.sessions import Session

    result = comparator.compare(ComparisonRequest(queries[0], load_urial("default"), DecodingParams(max_new_tokens=40)))
    return Session.now(result, *demo_specs, "default")


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory) -> Path:
    """A model whose tokens are terminal escapes and controls (tests/reliability/models.py)."""
    from .reliability.models import hostile_model

    return hostile_model(tmp_path_factory.mktemp("hostile") / "model")


@pytest.fixture
def make_app(demo_specs, comparator, demo_query):
    """Build an AlignTermApp on the shared, already loaded demo pair."""
    from alignterm.tui.app import AlignTermApp

    def make(**options):
        options.setdefault("comparator", comparator)
        options.setdefault("params", APP_PARAMS)
        options.setdefault("query", demo_query)
        options.setdefault("monochrome", False)
        return AlignTermApp(*demo_specs, **options)

    return make


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`alignterm ARGS` in a fresh process, as a user runs it: for what only a process shows
    (its exit status, a signal, an import that fails); `run_main` for everything else."""
    return subprocess.run(
        [sys.executable, "-m", "alignterm", *args], capture_output=True, text=True, timeout=timeout
    )


def run_main(*args: str) -> subprocess.CompletedProcess:
    """`alignterm ARGS` through its entry point in this process (no torch import per call): the exit
    code `main` returns (or argparse's exit) and what it wrote to stdout and stderr."""
    from alignterm.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code if isinstance(exit_.code, int) else 2
    return subprocess.CompletedProcess(["alignterm", *args], code, out.getvalue(), err.getvalue())


def analyze_records(folder: Path, queries: list[str], *flags: str) -> list[dict]:
    """`alignterm analyze` on `queries` (ids q0, q1, ...) with `flags`, written to JSONL; its records."""
    qfile = folder / "q.jsonl"
    qfile.write_text("".join(json.dumps({"id": f"q{i}", "query": q}) + "\n" for i, q in enumerate(queries)))
    out = folder / "out.jsonl"
    proc = run_main("analyze", "--queries", str(qfile), "-o", str(out), *flags)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def shown(result, side: str, lens: str = "bare") -> list:
    """The engine's tokens an answer pane shows: the aligned answer in the app's lens (the bare
    lens, the app's first, shows its base + bare prompt scores, where the run had a URIAL prompt)."""
    if side == "aligned" and lens == "bare" and result.aligned_bare is not None:
        return result.aligned_bare
    return result.side(side).tokens


def one_clear_line(proc: subprocess.CompletedProcess) -> str:
    """The CLI refused bad input as it must: exit code 2, one line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def make_random_model(folder: Path, corpus: list[str], vocab_size: int = 400) -> Path:
    """A tiny random Llama with its own freshly trained byte-level BPE tokenizer (for mismatch tests)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    fast.chat_template = "{{ bos_token }}{% for m in messages %}<|user|>\n{{ m['content'] }}<|end|>\n{% endfor %}<|assistant|>\n"
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
