"""Diversity mode on the real demo pair: Lake et al.'s directions, KV-cache reuse, cancel, embeddings."""

import sys

import pytest
import torch

from alignterm.engine.backend import (
    CancelToken,
    DecodingParams,
    ModelSpec,
    load_backend,
)
from alignterm.engine.demo import GGUF_DIR
from alignterm.engine.errors import BadInput
from alignterm.engine.hf import HFScorer
from alignterm.engine.prompts import load_urial
from alignterm.engine.samples import (
    EMBED_INSTALL_HINT,
    SIDES,
    Sampler,
    SamplingRequest,
    SentenceEmbedder,
)

N = 6
PARAMS = DecodingParams(max_new_tokens=80, temperature=1.0, top_p=0.95, seed=0)


@pytest.fixture(scope="module")
def sampler(comparator):
    return Sampler(comparator.base, comparator.aligned)  # the session's loaded pair


def _mean(values):
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def bare_runs(sampler, queries):
    """N samples per side on four demo queries, base with the bare prompt (the paper's base setting)."""
    return [sampler.run(SamplingRequest(q, N, None, PARAMS)) for q in queries[:4]]


@pytest.fixture(scope="module")
def urial_runs(sampler, queries):
    return [sampler.run(SamplingRequest(q, N, load_urial("default"), PARAMS)) for q in queries[:4]]


def test_aligned_samples_are_more_alike_than_base_samples(bare_runs):
    within = {s: _mean([r.measures.jaccard.within[s].mean for r in bare_runs]) for s in ("aligned", "base_urial")}
    assert within["aligned"] > within["base_urial"], within
    emb = {s: _mean([r.measures.embedding.within[s].mean for r in bare_runs]) for s in ("aligned", "base_urial")}
    assert emb["aligned"] > emb["base_urial"], emb
    # and the aligned side repeats its n-grams more: a lower distinct-2
    d2 = {s: _mean([r.measures.sides[s].distinct_2 for r in bare_runs]) for s in ("aligned", "base_urial")}
    assert d2["aligned"] < d2["base_urial"], d2


def test_the_urial_prompt_brings_base_samples_closer_to_the_aligned_ones(bare_runs, urial_runs):
    bare = _mean([r.headline["base_urial~aligned"] for r in bare_runs])
    urial = _mean([r.headline["base_urial~aligned"] for r in urial_runs])
    assert urial > bare, (bare, urial)


@pytest.mark.xfail(strict=True, reason=(
    "not on the demo pair: its 4-layer base model never saw a '# Summary:' block in pre-training and, given one, "
    "mostly loses the query and the assistant style, so base + hint is *less* like the aligned samples "
    "(docs/diversity.md, 'What the demo pair shows'). Strict: a demo pair that can use hints makes this pass."))
@pytest.mark.parametrize("runs", ["bare_runs", "urial_runs"])
def test_the_hint_raises_base_to_aligned_similarity(runs, request):
    results = request.getfixturevalue(runs)
    hint = _mean([r.headline["base_hint~aligned"] for r in results])
    plain = _mean([r.headline["base_urial~aligned"] for r in results])
    assert hint > plain, (hint, plain)


def test_samples_are_reproducible_and_the_warm_cache_changes_nothing(sampler, comparator, queries):
    request = SamplingRequest(queries[0], 2, load_urial("default"), DecodingParams(max_new_tokens=30, seed=7))
    first = sampler.run(request)
    again = sampler.run(request)  # every side's KV cache now holds its prompt
    fresh = Sampler(comparator.base, comparator.aligned).run(request)
    for side in SIDES:
        assert first.texts(side) == again.texts(side) == fresh.texts(side)
    assert [s.seed for side in SIDES for s in first.samples[side]] == [7, 8, 9, 10, 11, 12]
    assert len(set(first.texts("aligned") + first.texts("base_urial"))) > 1  # really sampled, not greedy
    assert first.params.temperature == 1.0 and first.params.top_p == 0.95


def test_each_side_feeds_its_prompt_once_not_once_per_sample(comparator, queries, monkeypatch):
    fed: dict[int, list[int]] = {}
    feed = HFScorer._feed

    def counting(self, ids):
        fed.setdefault(id(self), []).append(len(ids))
        return feed(self, ids)

    monkeypatch.setattr(HFScorer, "_feed", counting)
    Sampler(comparator.base, comparator.aligned).run(
        SamplingRequest(queries[1], 4, load_urial("default"), DecodingParams(max_new_tokens=20)))
    assert len(fed) == 3  # one scorer per side
    urial_sides = [calls for calls in fed.values() if calls[0] > 300]  # base_urial and base_hint: URIAL prompts
    assert len(urial_sides) == 2
    for calls in urial_sides:
        # without reuse each sample would feed the whole prompt again: n * calls[0] in all;
        # with it, later samples feed only what differs (the hint) and their own tokens
        assert sum(calls) < 2 * calls[0], calls


def test_progress_hears_every_sample_and_cancel_stops_the_run(sampler, queries):
    heard = []
    cancel = CancelToken()

    def progress(done, total, sample):
        heard.append((done, total, sample.side, sample.index))
        if done == 2:
            cancel.cancel()

    result = sampler.run(SamplingRequest(queries[2], 3, None, DecodingParams(max_new_tokens=20)), cancel, progress)
    assert heard == [(1, 9, "aligned", 0), (2, 9, "aligned", 1)]
    assert result.cancelled and [len(result.samples[s]) for s in SIDES] == [2, 0, 0]
    assert result.measures.jaccard.within["aligned"] is not None
    assert result.measures.jaccard.within["base_urial"] is None and result.measures.coverage["base_hint"] == [None, None]
    heard.clear()
    sampler.run(SamplingRequest(queries[2], 2, None, DecodingParams(max_new_tokens=10)), None, progress)
    assert [d for d, *_ in heard] == list(range(1, 7))


def test_a_typed_hint_is_given_to_every_base_hint_sample(sampler, queries):
    result = sampler.run(SamplingRequest(queries[3], 2, None, DecodingParams(max_new_tokens=10), hint="red dye"))
    assert [s.hint for s in result.samples["base_hint"]] == ["red dye", "red dye"]
    assert all(s.hint is None for s in result.samples["aligned"] + result.samples["base_urial"])


def test_gguf_hidden_states_match_transformers(comparator):
    pytest.importorskip("llama_cpp")
    gguf = load_backend(ModelSpec(str(GGUF_DIR / "demo-base.f32.gguf"), device="cpu"))
    ids = comparator.base.tokenizer.encode("Hello! The town of Milbra lies on the river Deisthe.", add_bos=True)
    a, b = comparator.base.embed(ids), gguf.embed(ids)
    assert a.shape == b.shape == (192,)
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.9999


def test_the_embedder_without_sentence_transformers_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(BadInput, match="pip install 'alignterm\\[embed\\]'") as err:
        SentenceEmbedder("/some/model")
    assert str(err.value) == EMBED_INSTALL_HINT
