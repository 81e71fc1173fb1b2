"""Diversity mode on the real demo pair: Lake et al.'s directions, KV-cache reuse, cancel, embeddings."""

import sys

import pytest
import torch

from alignterm.engine.demo import GGUF_DIR
from alignterm.engine.errors import BadInput
from alignterm.engine.loading import load_backend
from alignterm.engine.prompts import base_prompt, load_urial
from alignterm.engine.samples import (
    EMBED_INSTALL_HINT,
    SAMPLE_SIDES,
    Sampler,
    SamplingRequest,
    SentenceEmbedder,
    hinted_prompt,
)
from alignterm.engine.values import CancelToken, DecodingParams, ModelSpec

N = 6
PARAMS = DecodingParams(max_new_tokens=80, temperature=1.0, top_p=0.95, seed=0)


@pytest.fixture(scope="module")
def sampler(comparator):
    return Sampler(comparator.base, comparator.aligned)  # the session's loaded pair


def _mean(values):
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def bare_runs(sampler, queries):
    """N samples per side on the 12 demo queries, base with the bare prompt (the paper's base setting)."""
    return [sampler.run(SamplingRequest(q, N, None, PARAMS)) for q in queries]


@pytest.fixture(scope="module")
def urial_runs(sampler, queries):
    return [sampler.run(SamplingRequest(q, N, load_urial("default"), PARAMS)) for q in queries]


def test_aligned_samples_are_more_alike_than_base_samples(bare_runs):
    within = {s: _mean([r.measures.jaccard.within[s].mean for r in bare_runs]) for s in ("aligned", "base_urial")}
    assert within["aligned"] > within["base_urial"], within
    emb = {s: _mean([r.measures.embedding.within[s].mean for r in bare_runs]) for s in ("aligned", "base_urial")}
    assert emb["aligned"] > emb["base_urial"], emb
    # and the aligned side repeats its n-grams more: a lower distinct-2
    d2 = {s: _mean([r.measures.sides[s].distinct_2 for r in bare_runs]) for s in ("aligned", "base_urial")}
    assert d2["aligned"] < d2["base_urial"], d2


def test_the_urial_prompt_brings_base_samples_closer_to_the_aligned_ones(bare_runs, urial_runs):
    bare = _mean([r.measures.headline("jaccard")["base_urial~aligned"] for r in bare_runs])
    urial = _mean([r.measures.headline("jaccard")["base_urial~aligned"] for r in urial_runs])
    assert urial > bare, (bare, urial)


def test_the_hint_raises_base_to_aligned_similarity(bare_runs):
    hint = [r.measures.headline("jaccard")["base_hint~aligned"] for r in bare_runs]
    plain = [r.measures.headline("jaccard")["base_urial~aligned"] for r in bare_runs]
    assert _mean(hint) > _mean(plain), (hint, plain)
    assert sum(h > p for h, p in zip(hint, plain)) >= 8, (hint, plain)  # on most queries (12 of 12 here), not on average only


def test_base_with_urial_and_hint_is_as_close_to_the_aligned_samples_as_they_are_to_each_other(urial_runs):
    # Lake et al.'s headline. On the demo pair the URIAL prompt alone already gets there
    # (docs/diversity.md), so the hint keeps it there rather than raising it further.
    hint = _mean([r.measures.headline("jaccard")["base_hint~aligned"] for r in urial_runs])
    aligned = _mean([r.measures.headline("jaccard")["aligned~aligned"] for r in urial_runs])
    assert hint >= 0.95 * aligned, (hint, aligned)


def test_samples_are_reproducible_and_the_warm_cache_changes_nothing(sampler, comparator, queries):
    request = SamplingRequest(queries[0], 2, load_urial("default"), DecodingParams(max_new_tokens=30, seed=7))
    first = sampler.run(request)
    again = sampler.run(request)  # every side's KV cache now holds its prompt
    fresh = Sampler(comparator.base, comparator.aligned).run(request)
    for side in SAMPLE_SIDES:
        assert _texts(first, side) == _texts(again, side) == _texts(fresh, side)
    assert [s.seed for side in SAMPLE_SIDES for s in first.samples[side]] == [7, 8, 9, 10, 11, 12]
    assert len(set(_texts(first, "aligned") + _texts(first, "base_urial"))) > 1  # really sampled, not greedy
    assert first.params.temperature == 1.0 and first.params.top_p == 0.95


def _record_forwards(monkeypatch, comparator) -> list[tuple[str, int, int]]:
    """(model, batch size, positions) of every forward pass of the two models."""
    calls: list[tuple[str, int, int]] = []
    for name, model in (("aligned", comparator.aligned.model), ("base", comparator.base.model)):
        forward = model.forward

        def counting(*args, _name=name, _forward=forward, **kwargs):
            ids = kwargs["input_ids"]
            calls.append((_name, ids.shape[0], ids.shape[1]))
            return _forward(*args, **kwargs)

        monkeypatch.setattr(model, "forward", counting)
    return calls


def test_prompts_are_computed_once_per_side_and_samples_of_one_prompt_are_batched(comparator, queries, monkeypatch):
    calls = _record_forwards(monkeypatch, comparator)
    request = SamplingRequest(queries[1], 4, load_urial("default"), DecodingParams(max_new_tokens=20))
    aligned_prompt = len(comparator.aligned.tokenizer.chat_ids(queries[1]))
    result = Sampler(comparator.base, comparator.aligned).run(request)

    aligned = [c for c in calls if c[0] == "aligned"]
    # the aligned side (one prompt, four seeds): the prompt once, then one batched step per token
    assert aligned[0] == ("aligned", 1, aligned_prompt)
    assert all(batch == 4 and n == 1 for _, batch, n in aligned[1:])
    assert len(aligned) - 1 < max(s.n_tokens for s in result.samples["aligned"]) + 1
    base_prompts = [n for name, batch, n in calls if name == "base" and n > 1]  # then the embeddings
    urial_prompt = len(comparator.base.tokenizer.encode(base_prompt(queries[1], request.urial), add_bos=True))
    hint_prompts = [len(comparator.base.tokenizer.encode(hinted_prompt(queries[1], request.urial, s.hint),
                                                         add_bos=True)) for s in result.samples["base_hint"]]
    # base + URIAL: its prompt once for the batch; base + hint (a prompt per sample, one after
    # another): the first whole, then only what differs from the one before (the hint onwards)
    assert base_prompts[:2] == [urial_prompt, hint_prompts[0]]
    assert all(n < hint_prompts[0] // 4 for n in base_prompts[2:5]), base_prompts
    assert any(batch == 4 for name, batch, _ in calls if name == "base")


def test_a_batch_is_the_samples_single_runs_give(comparator, queries):
    request = SamplingRequest(queries[4], 3, None, DecodingParams(max_new_tokens=24, seed=5))
    sampler = Sampler(comparator.base, comparator.aligned)
    batched = sampler.run(request)
    single = [sampler.run(SamplingRequest(queries[4], 1, None, DecodingParams(max_new_tokens=24, seed=seed)))
              for seed in (5, 6, 7)]  # sample i of the aligned side has seed 5 + i
    assert _texts(batched, "aligned") == [_texts(r, "aligned")[0] for r in single]


def test_progress_hears_every_sample_and_cancel_stops_the_run(sampler, queries):
    heard = []
    cancel = CancelToken()

    def progress(done, total, sample):
        heard.append((done, total, sample.side, sample.index))
        cancel.cancel()  # as soon as the first sample is reported

    result = sampler.run(SamplingRequest(queries[2], 3, None, DecodingParams(max_new_tokens=20)), cancel, progress)
    assert heard == [(1, 9, "aligned", 0), (2, 9, "aligned", 1), (3, 9, "aligned", 2)]  # drawn as one batch
    assert result.cancelled and [len(result.samples[s]) for s in SAMPLE_SIDES] == [3, 0, 0]
    assert result.measures.jaccard.within["aligned"].pairs == 3  # the three kept samples, every pair
    assert result.measures.jaccard.within["base_urial"] is None and result.measures.coverage["base_hint"] == [None] * 3
    heard.clear()
    sampler.run(SamplingRequest(queries[2], 2, None, DecodingParams(max_new_tokens=10)), None, lambda *a: heard.append(a))
    assert [d for d, *_ in heard] == list(range(1, 7))


def test_cancel_in_the_middle_of_a_batch_keeps_the_partial_samples(sampler, comparator, queries, monkeypatch):
    cancel = CancelToken()
    calls = _record_forwards(monkeypatch, comparator)
    monkeypatch.setattr(CancelToken, "cancelled", property(lambda self: len(calls) > 6))
    result = sampler.run(SamplingRequest(queries[5], 3, None, DecodingParams(max_new_tokens=60)), cancel)
    aligned = result.samples["aligned"]
    assert result.cancelled and len(aligned) == 3 and not result.samples["base_urial"]
    assert all(s.finish_reason in ("cancelled", "eos") for s in aligned) and max(s.n_tokens for s in aligned) <= 7


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


def _texts(result, side: str) -> list[str]:
    return [s.text for s in result.samples[side]]
