"""A comparison run on the real demo pair: events, stops, cancel, live vs batch, the TDS picture."""

import pytest

from alignterm.engine.compare import ComparisonRequest
from alignterm.engine.errors import BadInput
from alignterm.engine.events import BareScores, RunFinished, RunStarted, SideFinished, TokenEvent
from alignterm.engine.prompts import load_urial
from alignterm.engine.values import CancelToken, DecodingParams

PARAMS = DecodingParams(max_new_tokens=112)  # the first query's aligned answer ends at 86 tokens


@pytest.fixture(scope="module")
def streamed(comparator, queries):
    request = ComparisonRequest(queries[0], load_urial("default"), PARAMS, live=True)
    return list(comparator.run(request))


def test_a_run_streams_both_sides_then_finishes(streamed):
    assert isinstance(streamed[0], RunStarted)
    assert isinstance(streamed[-1], RunFinished)
    sides_seen = [e.side for e in streamed if isinstance(e, TokenEvent)]
    # both panes stream at once: the first tokens of the two sides interleave
    assert sides_seen[:4].count("aligned") >= 1 and sides_seen[:4].count("base") >= 1
    finished = {e.side: e for e in streamed if isinstance(e, SideFinished)}
    assert set(finished) == {"aligned", "base"}
    result = streamed[-1].result
    for side in ("aligned", "base"):
        tokens = [e for e in streamed if isinstance(e, TokenEvent) and e.side == side]
        assert tokens == result.side(side).tokens
        assert [t.position for t in tokens] == list(range(len(tokens)))
        assert finished[side].text == result.side(side).text


def test_the_bare_prompt_scores_stream_with_the_aligned_tokens(streamed):
    """Each batch of aligned tokens is followed by the same positions scored under base + bare prompt."""
    aligned, bare = [], []
    for event in streamed:
        if isinstance(event, TokenEvent) and event.side == "aligned":
            aligned.append(event)
        elif isinstance(event, BareScores):
            assert [t.position for t in event.tokens] == [t.position for t in aligned[len(bare):]]
            bare.extend(event.tokens)
    result = streamed[-1].result
    assert bare == result.aligned_bare and [t.id for t in bare] == [t.id for t in aligned]
    assert [t.shift for t in bare] != [t.shift for t in aligned]  # the two prompts score differently


def test_the_aligned_answer_ends_at_its_end_of_turn(streamed):
    result = streamed[-1].result
    assert result.aligned.finish_reason == "eos"
    assert "<|end|>" not in result.aligned.text and result.aligned.text.strip()


def test_the_base_answer_stops_at_the_next_query_without_the_fence(streamed):
    result = streamed[-1].result
    assert result.base.finish_reason == "stop"
    assert "# Query" not in result.base.text and "```" not in result.base.text
    assert result.base.text.strip()


def test_batch_scoring_gives_the_same_measures_as_live_scoring(comparator, queries, streamed):
    batch = comparator.compare(ComparisonRequest(queries[0], load_urial("default"), PARAMS, live=False))
    live = streamed[-1].result
    for side in ("aligned", "base"):
        a, b = live.side(side).tokens, batch.side(side).tokens
        assert [t.id for t in a] == [t.id for t in b]
        assert [t.other_rank for t in a] == [t.other_rank for t in b]
        assert max(abs(x.other_logprob - y.other_logprob) for x, y in zip(a, b)) < 1e-4
    assert live.summary.closure == pytest.approx(batch.summary.closure)


def test_urial_runs_report_the_bare_baseline_and_closure(streamed):
    summary = streamed[-1].result.summary
    assert summary.aligned_bare is not None and summary.aligned_bare.n == summary.aligned.n
    if summary.aligned_bare.shifted:
        expected = 1 - summary.aligned.share("shifted") / summary.aligned_bare.share("shifted")
        assert summary.closure == pytest.approx(expected)


def test_cancel_stops_within_one_token_and_keeps_the_partial_answers(comparator, queries):
    cancel = CancelToken()
    seen = []
    for event in comparator.run(ComparisonRequest(queries[1], load_urial("default"), PARAMS), cancel):
        if isinstance(event, TokenEvent):
            seen.append(event)
            if len(seen) == 6:
                cancel.cancel()
        if isinstance(event, RunFinished):
            result = event.result
    assert result.cancelled
    assert {result.aligned.finish_reason, result.base.finish_reason} <= {"cancelled", "eos", "stop"}
    n = len(result.aligned.tokens) + len(result.base.tokens)
    assert 6 <= n <= 6 + 2 + 4  # at most one more token per side (+ the held-back fence candidates)
    assert result.aligned.text == comparator.aligned.tokenizer.decode([t.id for t in result.aligned.tokens])


def test_rescore_with_the_same_prompt_reproduces_the_run(comparator, streamed):
    result = streamed[-1].result
    again = comparator.rescore_aligned(result, result.urial)
    assert [t.other_rank for t in again.tokens] == [t.other_rank for t in result.aligned.tokens]
    assert again.closure == pytest.approx(result.summary.closure)
    bare = comparator.rescore_aligned(result, None)
    assert [t.shift for t in bare.tokens] == [t.shift for t in result.aligned_bare]
    assert bare.closure is None


def test_output_layers_padded_to_different_widths_give_the_same_measures(comparator, queries):
    """Real checkpoints pad their output layer past the tokenizer (to 64 or 128 multiples), not always
    alike; the padded ids are never real tokens, so the measures must not change."""
    import torch

    from alignterm.engine.measure import measure
    from alignterm.engine.rows import Rows

    result = comparator.compare(ComparisonRequest(queries[0], None, DecodingParams(max_new_tokens=16), live=False))
    ids = [t.id for t in result.aligned.tokens]
    own_scorer, other_scorer = comparator.aligned.scorer(), comparator.base.scorer()
    own_scorer.set_context(result.aligned.prompt_ids)
    other_scorer.set_context(result.base.prompt_ids)
    own, other = own_scorer.score(ids), other_scorer.score(ids)
    padded = torch.cat([other, torch.full((other.shape[0], 47), -1e4)], dim=-1)  # 2048 wide vs 2001
    texts = [t.text for t in result.aligned.tokens]
    plain = measure("aligned", 0, ids, texts, Rows(own), Rows(other), comparator.vocab, 5)
    wide = measure("aligned", 0, ids, texts, Rows(own), Rows(padded), comparator.vocab, 5)
    assert [(t.other_rank, t.shift) for t in wide] == [(t.other_rank, t.shift) for t in plain]
    assert all(abs(a.kl - b.kl) < 1e-5 for a, b in zip(wide, plain))


def test_rerunning_the_base_side_keeps_the_aligned_answer_and_equals_a_full_run(comparator, queries, monkeypatch):
    params = DecodingParams(max_new_tokens=48)
    first = comparator.compare(ComparisonRequest(queries[6], None, params, live=True))  # bare prompt
    urial = load_urial("default")
    full = comparator.compare(ComparisonRequest(queries[6], urial, params, live=True))

    generated = []
    generate = comparator.aligned.generate
    monkeypatch.setattr(comparator.aligned, "generate", lambda *a: generated.append(a) or generate(*a))
    events = list(comparator.run(ComparisonRequest(queries[6], urial, params, live=True, keep_aligned=first)))
    again = events[-1].result
    assert not generated  # the aligned model did not answer again

    def view(tokens):
        return [(t.id, t.other_rank, t.shift) for t in tokens]

    assert view(again.aligned.tokens) == view(full.aligned.tokens)  # re-scored under base + URIAL
    assert view(again.base.tokens) == view(full.base.tokens) and again.base.text == full.base.text
    assert again.summary.aligned.counts() == full.summary.aligned.counts()
    assert again.summary.aligned_bare.counts() == full.summary.aligned_bare.counts()
    assert again.summary.closure == full.summary.closure
    aligned_events = [e for e in events if isinstance(e, TokenEvent) and e.side == "aligned"]
    assert view(aligned_events) == view(full.aligned.tokens)  # a consumer sees the aligned side re-scored

    with pytest.raises(BadInput, match="same query"):
        list(comparator.run(ComparisonRequest(queries[7], urial, params, keep_aligned=first)))


def test_a_rescore_stops_between_passes_when_cancelled(comparator, queries, monkeypatch):
    import alignterm.engine.compare as compare

    result = comparator.compare(ComparisonRequest(queries[8], None, DecodingParams(max_new_tokens=40), live=False))
    urial = load_urial("default")
    whole = comparator.rescore_aligned(result, urial)
    monkeypatch.setattr(compare, "RESCORE_CHUNK", 16)  # several passes on a 40-token answer
    uncancelled = comparator.rescore_aligned(result, urial, CancelToken())
    assert [t.other_rank for t in uncancelled.tokens] == [t.other_rank for t in whole.tokens]
    chunked = comparator.rescore_aligned(result, urial)
    assert [(t.id, t.other_rank, t.shift) for t in chunked.tokens] == [(t.id, t.other_rank, t.shift) for t in whole.tokens]

    fed = []
    cancel = CancelToken()
    score = comparator._under_base.score

    def first_pass_then_an_edit(ids):
        fed.append(len(ids))
        cancel.cancel()  # a newer edit arrives while the first pass runs
        return score(ids)

    monkeypatch.setattr(comparator._under_base, "score", first_pass_then_an_edit)
    assert comparator.rescore_aligned(result, load_urial("preamble"), cancel) is None
    assert fed == [16]  # stopped after one pass of the three
    monkeypatch.setattr(comparator._under_base, "score", score)
    again = comparator.rescore_aligned(result, urial)  # the scorer is left usable
    assert [(t.id, t.other_rank) for t in again.tokens] == [(t.id, t.other_rank) for t in whole.tokens]
