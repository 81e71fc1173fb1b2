"""Nudged decoding (engine/nudge.py) on the demo pair, checked against plain transformers forward passes."""

import pytest
import torch

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.errors import BadInput
from alignterm.engine.events import NudgedToken, NudgeFinished
from alignterm.engine.nudge import Nudger, check_gamma
from alignterm.engine.prompts import load_urial
from alignterm.engine.rows import Rows
from alignterm.engine.values import CancelToken, DecodingParams

from .plain import answer_rows, chat_ids

PARAMS = DecodingParams(max_new_tokens=96)  # the first query's aligned answer ends at 86 tokens
MIXED = 0.8  # on the first demo query, the base is below this at some word starts and above it at others


@pytest.fixture(scope="module")
def urial():
    return load_urial("default")


@pytest.fixture(scope="module")
def nudger(comparator):
    return Nudger(comparator)


@pytest.fixture(scope="module")
def comparison(comparator, queries, urial):
    return comparator.compare(ComparisonRequest(queries[0], urial, PARAMS, live=False))


def test_gamma_zero_is_the_base_answer(nudger, comparison, queries, urial):
    """No base top-1 probability is below 0: the base decodes alone, as in a comparison."""
    result = nudger.nudge(queries[0], urial, PARAMS, 0.0, reference=comparison)
    assert [t.id for t in result.tokens] == [t.id for t in comparison.base.tokens]
    assert result.text == comparison.base.text and result.finish_reason == comparison.base.finish_reason
    assert {t.chosen_by for t in result.tokens} == {"base"}
    assert result.summary.aligned == 0 and result.summary.similarity_base == 1.0


def test_gamma_one_is_greedy_decoding_of_the_aligned_model(nudger, plain, queries, urial):
    """Every base top-1 probability is below 1: the aligned model writes every token, greedily, over its chat prompt."""
    models, tok = plain
    result = nudger.nudge(queries[0], urial, PARAMS, 1.0)
    assert result.tokens and {t.chosen_by for t in result.tokens} == {"aligned"}
    ids = chat_ids(tok, queries[0])
    greedy: list[int] = []
    with torch.no_grad():
        for _ in range(PARAMS.max_new_tokens):
            nxt = int(models["aligned"](torch.tensor([ids + greedy])).logits[0, -1].argmax())
            if nxt in (0, 4):  # the demo chat model's end of text and end of turn
                break
            greedy.append(nxt)
    assert [t.id for t in result.tokens] == greedy
    assert result.finish_reason == "eos" and result.summary.aligned_share == 1.0


@pytest.fixture(scope="module")
def mixed(nudger, comparison, queries, urial):
    events = list(nudger.run(queries[0], urial, PARAMS, MIXED, reference=comparison))
    return events, events[-1].result


def test_a_mixed_run_streams_its_tokens_then_finishes(mixed):
    events, result = mixed
    assert isinstance(events[-1], NudgeFinished)
    streamed = [e for e in events if isinstance(e, NudgedToken)]
    assert streamed == result.tokens and [t.position for t in streamed] == list(range(len(streamed)))
    assert "".join(t.text for t in streamed) == result.text
    who = [t.chosen_by for t in result.tokens]
    assert "base" in who and "aligned" in who  # the threshold splits this answer between the models
    s = result.summary
    assert s.aligned == who.count("aligned") and s.aligned_positions == tuple(i for i, w in enumerate(who) if w == "aligned")
    assert 0 < s.similarity_aligned <= 1 and 0 < s.similarity_base <= 1


def test_every_token_is_the_choosing_models_argmax_in_context(mixed, plain, queries):
    """Recomputed with plain forward passes: a base token is the base's argmax after base prompt +
    the nudged answer so far, its recorded top-1 probability the softmax maximum there; an aligned
    token is the aligned model's argmax after its chat prompt + the same answer."""
    _, result = mixed
    models, tok = plain
    answer = [t.id for t in result.tokens]
    base = answer_rows(models["base"], result.prompt_ids, answer)
    aligned = answer_rows(models["aligned"], chat_ids(tok, queries[0]), answer)
    for i, t in enumerate(result.tokens):
        assert t.base_top1 == pytest.approx(float(torch.softmax(base[i], -1).max()), abs=1e-4)
        chooser = base if t.chosen_by == "base" else aligned
        assert t.id == int(chooser[i].argmax()), (i, t)


def test_the_aligned_model_writes_whole_words_where_the_base_is_unsure(mixed, plain, queries):
    """The paper's rule: the base keeps writing while its top-1 probability is >= γ; below γ the
    aligned model writes a word, and the base takes back over only at a word start where it is sure."""
    _, result = mixed
    models, tok = plain
    aligned = answer_rows(models["aligned"], chat_ids(tok, queries[0]), [t.id for t in result.tokens])
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    word_start = [p.startswith(("Ġ", "Ċ")) for p in pieces]  # the demo tokenizer's byte-level space and newline
    previous = "base"
    for i, t in enumerate(result.tokens):
        if t.chosen_by == "base":
            assert t.base_top1 >= MIXED
            if previous == "aligned":  # the aligned model's own next token would have opened a new word
                assert word_start[int(aligned[i].argmax())], i
        elif previous == "base" or word_start[t.id]:  # a nudge starts, or the aligned model writes another word
            assert t.base_top1 < MIXED, i
        previous = t.chosen_by


def test_a_cancelled_run_stops_at_the_next_token(nudger, queries, urial):
    cancel = CancelToken()
    streamed = []
    for event in nudger.run(queries[0], urial, PARAMS, MIXED, cancel):
        if isinstance(event, NudgedToken):
            streamed.append(event)
            cancel.cancel()
    result = event.result
    assert isinstance(event, NudgeFinished) and result.cancelled and result.finish_reason == "cancelled"
    assert streamed == result.tokens and 1 <= len(result.tokens) <= 4  # at most the tokens held back for a stop


def test_gamma_must_be_a_probability():
    assert check_gamma(0.0) == 0.0 and check_gamma(1.0) == 1.0
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(BadInput, match="--gamma must be in"):
            check_gamma(bad)


class _TopKScorer:
    """A local scorer that answers as a server does: each row only as its top-k."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def set_context(self, ids) -> None:
        self._inner.set_context(ids)

    def score(self, ids):
        return Rows.of(self._inner.score(ids)).as_topk(ids, 5)

    @property
    def next_logits(self):
        row = self._inner.next_logits
        return Rows.of_row(row).as_topk([int(row.argmax())], 5)[0]

    @property
    def length(self) -> int:
        return self._inner.length


class _ServerLike:
    """A loaded demo model whose scorers give a server's top-k rows."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def scorer(self):
        return _TopKScorer(self._inner.scorer())


def test_top_k_rows_nudge_greedily_as_full_logits_do(comparator, mixed, queries, urial):
    """Where a scorer gives only top-k rows (a server), the top-1 probability is the first entry's:
    greedy nudging picks the same tokens; sampling, which needs the full distribution, is refused."""
    _, full = mixed
    served = Nudger(Comparator(_ServerLike(comparator.base), _ServerLike(comparator.aligned), vocab=comparator.vocab))
    result = served.nudge(queries[0], urial, PARAMS, MIXED)
    assert [(t.id, t.chosen_by) for t in result.tokens] == [(t.id, t.chosen_by) for t in full.tokens]
    assert [t.base_top1 for t in result.tokens] == pytest.approx([t.base_top1 for t in full.tokens], abs=1e-5)
    with pytest.raises(BadInput, match="greedy only"):
        served.nudge(queries[0], urial, DecodingParams(max_new_tokens=8, temperature=0.7), MIXED)
