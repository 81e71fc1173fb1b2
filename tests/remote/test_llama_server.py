"""The remote backend against llama-cpp-python's server with the demo GGUF pair, compared with the local GGUF backend."""

from __future__ import annotations

import json

import pytest

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import GGUF_DIR, demo_queries
from alignterm.engine.errors import TokenizerMismatch
from alignterm.engine.loading import load_backend, load_pair
from alignterm.engine.remote.dialects import TOP_K
from alignterm.engine.values import DecodingParams, ModelSpec, TopK

from ..conftest import make_random_model, run_cli
from .conftest import API_KEY, API_KEY_ENV, CHAT_TEMPLATE

PARAMS = DecodingParams(max_new_tokens=16)  # shifts concentrate in the first positions


def remote_specs(base: str, aligned: str) -> tuple[ModelSpec, ModelSpec]:
    return (ModelSpec(base, api_key_env=API_KEY_ENV),
            ModelSpec(aligned, chat_template=CHAT_TEMPLATE, api_key_env=API_KEY_ENV))


@pytest.fixture(scope="module")
def remote(servers) -> Comparator:
    return Comparator.load(*remote_specs(*servers))


@pytest.fixture(scope="module")
def local() -> Comparator:
    return Comparator.load(ModelSpec(str(GGUF_DIR / "demo-base.f32.gguf")), ModelSpec(str(GGUF_DIR / "demo-aligned.f32.gguf")))


def test_remote_categories_equal_local_gguf_on_the_demo_queries(remote, local):
    """k >= 3 makes categories exact: the same tokens, categories and in-top-k ranks as llama.cpp in-process."""
    for q in demo_queries():
        request = ComparisonRequest(q["query"], None, PARAMS, live=False)
        got, want = remote.compare(request), local.compare(request)
        for side in ("aligned", "base"):
            g, w = got.side(side).tokens, want.side(side).tokens
            assert [(t.id, t.shift) for t in g] == [(t.id, t.shift) for t in w], (q["id"], side)
            for a, b in zip(g, w):
                assert a.kl is None and abs(a.other_logprob - b.other_logprob) < 1e-3
                if b.other_rank <= 3:  # the ranks that decide a category
                    assert (a.other_rank, a.rank_exact) == (b.other_rank, True)
                elif b.other_rank <= TOP_K:  # deeper near-ties may order differently across thread counts
                    assert 4 <= a.other_rank <= TOP_K and a.rank_exact
                else:  # beyond the server's top-k: a bound, shown as "> k"
                    assert (a.other_rank, a.rank_exact) == (TOP_K + 1, False)


def test_live_scoring_gives_the_batch_ranks_in_few_calls(remote, monkeypatch):
    """Each scoring call re-sends the whole context, so live scoring asks in chunks, not per token."""
    query = demo_queries()[0]["query"]
    params = DecodingParams(max_new_tokens=40)
    calls = []
    score = remote.base.dialect.score
    monkeypatch.setattr(remote.base.dialect, "score", lambda ids, start: calls.append(len(ids) - start) or score(ids, start))
    live = remote.compare(ComparisonRequest(query, None, params, live=True))
    n = len(live.aligned.tokens)
    chunk = remote.base.score_chunk
    assert chunk > 1 and n > 2 * chunk and sum(calls) == n and len(calls) <= -(-n // chunk)
    batch = remote.compare(ComparisonRequest(query, None, params, live=False))
    assert [(t.id, t.other_rank) for t in live.aligned.tokens] == [(t.id, t.other_rank) for t in batch.aligned.tokens]


def test_a_history_renders_through_the_chat_template_file_as_locally(remote, local):
    query, history = demo_queries()[0]["query"], (("Tell me about Kasla.", "Kasla is a town."),)
    assert remote.aligned.tokenizer.chat_ids(query, history) == local.aligned.tokenizer.chat_ids(query, history)


def test_generation_streams_token_by_token(servers):
    aligned = load_backend(remote_specs(*servers)[1])
    prompt = aligned.tokenizer.chat_ids(demo_queries()[0]["query"])
    steps = aligned.generate(prompt, DecodingParams(max_new_tokens=120))
    first = next(steps)  # arrives before the answer is finished
    assert isinstance(first.logits, TopK) and first.logits.ids[0] == first.id  # greedy: the server's top-1
    rest = list(steps)
    assert rest and rest[-1].id in aligned.tokenizer.eos_ids  # the model ended its turn
    text = aligned.tokenizer.decode([first.id, *(s.id for s in rest[:-1])])
    assert text.startswith(aligned.tokenizer.piece(first.id)) and len(text) > 20


def test_vocabularies_are_compared_through_the_servers(servers, tmp_path):
    """A server cannot list its vocabulary: a pair is compared by how both sides split a probe text."""
    base = remote_specs(*servers)[0]
    load_pair(base, ModelSpec(str(GGUF_DIR / "demo-aligned.f32.gguf")))  # mixed remote/local: same vocabulary
    other = make_random_model(tmp_path / "other", ["Another corpus, another vocabulary."] * 50)
    with pytest.raises(TokenizerMismatch, match="tokenizers differ"):
        load_pair(base, ModelSpec(str(other), device="cpu"))


def test_analyze_on_servers_states_what_is_exact_and_never_writes_the_key(servers):
    base, aligned = servers
    proc = run_cli("analyze", "--base", base, "--aligned", aligned, "--api-key-env", API_KEY_ENV,
                   "--chat-template", CHAT_TEMPLATE, "--urial", "none", "--max-new-tokens", "8",
                   "--query", demo_queries()[0]["query"], "--format", "jsonl", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert API_KEY not in proc.stdout + proc.stderr
    record = json.loads(proc.stdout)
    assert record["base_model"] == base and record["exact"]["kl"] is False and record["exact"]["shift"] is True
    assert all(t["kl"] is None for t in record["aligned"]["tokens"])


def test_a_wrong_or_missing_api_key_is_one_clear_line(servers, monkeypatch):
    monkeypatch.setenv("WRONG_KEY", "not-the-key")
    for flags in (["--api-key-env", "WRONG_KEY"], []):
        proc = run_cli("analyze", "--base", servers[0], "--aligned", servers[1], *flags,
                       "--query", "x", "--format", "jsonl", timeout=120)
        assert proc.returncode == 1 and "HTTP 401" in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "not-the-key" not in proc.stderr
