"""URIAL example ablation on the demo pair: the parts of a prompt, the variants, and scores that equal
cold re-scores variant by variant while the cache is reused."""

from dataclasses import replace

import pytest

from alignterm.engine import ablation as ab
from alignterm.engine import prompts
from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.errors import AlignTermError, BadInput
from alignterm.engine.values import CancelToken, DecodingParams

QUERY = "Where was Drarre from?"  # a demo query where removing example 3 loses a recovered token
NAMES = ["full", "without 1", "without 2", "without 3", "preamble", "only 1", "only 2", "only 3", "bare"]
HELD = [(1, 2, 3), (2, 3), (1, 3), (1, 2), (), (1,), (2,), (3,), ()]


def _by_hand(urial: str, held: tuple[int, ...]) -> str:
    """A variant's prompt built apart from engine/prompts.py: cut at each "\\n# Query:" line."""
    head, *examples = urial.split("\n# Query:")
    return head + "".join("\n# Query:" + examples[k - 1] for k in held)


def _figures(ablation: ab.Ablation) -> list[tuple]:
    return [(s.name, s.examples, s.summary.counts(), s.closure, s.recovered) for s in ablation.scores]


@pytest.fixture(scope="module")
def urial() -> str:
    return prompts.load_urial("default")


@pytest.fixture(scope="module")
def result(comparator, queries, urial):
    assert QUERY in queries
    return comparator.compare(ComparisonRequest(QUERY, urial, DecodingParams(max_new_tokens=96), live=False))


@pytest.fixture(scope="module")
def ablated(comparator, result):
    return ab.ablate(comparator, result)


@pytest.fixture(scope="module")
def cold(comparator, result, urial):
    """Each variant re-scored on a fresh comparator (fresh scorers: nothing cached), by name."""
    texts = dict(zip(NAMES, [_by_hand(urial, held) for held in HELD[:-1]] + [None]))
    return {name: Comparator(comparator.base, comparator.aligned, vocab=comparator.vocab).rescore_aligned(result, text)
            for name, text in texts.items()}


@pytest.mark.parametrize("text", [
    prompts.load_urial("default"),
    prompts.load_urial("preamble"),
    "# Query:\n```\nA?\n```\n\n# Answer:\n```\nB.\n```\n",
    "# Instruction\r\n\r\nBe kind.\r\n\r\n\r\n# Query:\r\n```\r\nA?\r\n```\r\n# Answer:\r\n```\r\nB.\r\n```",
    "# Instruction\nHi.\n# Query: A?\n# Answer: B.\n  \n# Query: C?\n# Answer: D.\n\n\n",
])
def test_the_parts_join_back_to_the_prompt_byte_for_byte(text):
    preamble, examples = prompts.split_urial(text)
    assert preamble + "".join(examples) == text
    assert len(examples) == text.count("# Query:")
    assert all(e.lstrip().startswith("# Query:") for e in examples)


def test_the_default_prompt_splits_into_the_bundled_preamble_and_three_examples(urial):
    preamble, examples = prompts.split_urial(urial)
    assert preamble == prompts.load_urial("preamble")
    assert [prompts.example_query(e) for e in examples] == [
        "Tell me about the town of Momlolpom.", "What is Shenar known for?", "What does the Ganso eat?"]
    assert all(e.startswith("\n# Query:\n```\n") for e in examples)  # as QUERY_BLOCK starts


def test_a_three_example_prompt_has_nine_variants(urial):
    variants = ab.variants(urial)
    assert [v.name for v in variants] == NAMES
    assert [v.examples for v in variants] == HELD
    assert [v.urial for v in variants] == [_by_hand(urial, held) for held in HELD[:-1]] + [None]


def test_variants_with_the_same_examples_or_no_text_are_left_out():
    one = "# Instruction\nHi.\n\n# Query:\nA?\n# Answer:\nB.\n"
    assert [v.name for v in ab.variants(one)] == ["full", "without 1", "bare"]
    two = one + "\n# Query:\nC?\n# Answer:\nD.\n"
    assert [v.name for v in ab.variants(two)] == ["full", "without 1", "without 2", "preamble", "bare"]
    no_preamble = "# Query:\nA?\n# Answer:\nB.\n"
    assert [v.name for v in ab.variants(no_preamble)] == ["full", "bare"]


def test_the_scoring_order_walks_the_example_tree_from_the_full_prompt(urial):
    order = [v.name for v in ab.scoring_order(ab.variants(urial))]
    assert order == ["full", "without 3", "without 2", "only 1", "without 1", "only 2", "only 3", "preamble", "bare"]


def test_every_variant_equals_a_cold_rescore(ablated, cold, result):
    assert [s.name for s in ablated.scores] == NAMES
    bare = cold["bare"]
    for score in ablated.scores:
        mine = cold[score.name]
        assert score.summary.counts() == mine.summary.counts(), score.name
        assert score.shifted_share == mine.summary.share("shifted")
        assert score.closure == 1 - mine.summary.share("shifted") / bare.summary.share("shifted")
        recovered = [t.position for t, u in zip(bare.tokens, mine.tokens)
                     if t.other_rank >= 4 and u.other_rank < 4]
        assert list(score.recovered) == recovered, score.name
    # the ablation's ends are the run's own two lenses
    assert ablated.score("full").summary.counts() == result.summary.aligned.counts()
    assert ablated.score("bare").summary.counts() == result.summary.aligned_bare.counts()
    assert ablated.score("full").closure == result.summary.closure


def test_the_demo_query_shows_which_example_recovers_what(ablated):
    """On this query the preamble alone leaves a bare-shifted token shifted that any one example recovers."""
    assert ablated.score("bare").summary.shifted > 0 and ablated.score("bare").recovered == ()
    left = set(ablated.score("full").recovered) - set(ablated.score("preamble").recovered)
    assert left
    assert all(left <= set(ablated.score(f"only {k}").recovered) for k in (1, 2, 3))


def test_the_cache_reuses_each_shared_prefix(comparator, result, monkeypatch):
    """Consecutive variants re-feed only past their common prefix: the tokens fed are exactly that sum,
    well under feeding every prompt whole."""
    scorer = comparator._under_base
    comparator.rescore_aligned(result, result.urial)  # the cache as a run leaves it
    fed = []
    feed = scorer._feed

    def counted(ids, last_only=False):
        fed.append(len(ids))
        return feed(ids, last_only)

    monkeypatch.setattr(scorer, "_feed", counted)
    ab.ablate(comparator, result)
    answer = [t.id for t in result.aligned.tokens]
    held = [*(result.base.prompt_ids), *answer]
    expected = cold_total = 0
    for v in ab.scoring_order(ab.variants(result.urial)):
        ids = comparator.base.tokenizer.encode(prompts.base_prompt(QUERY, v.urial), add_bos=True)
        same = next((i for i, (a, b) in enumerate(zip(held, ids)) if a != b), min(len(held), len(ids)))
        expected += len(ids) - min(same, len(ids) - 1) + len(answer)
        cold_total += len(ids) + len(answer)
        held = [*ids, *answer]
    assert sum(fed) == expected
    assert sum(fed) < 0.6 * cold_total


def test_a_cancel_stops_between_variants_and_leaves_the_scorer_usable(comparator, result, ablated, monkeypatch):
    cancel = CancelToken()
    cancel.cancel()
    assert ab.ablate(comparator, result, cancel) is None
    calls = []
    rescore = comparator.rescore_aligned

    def first_then_cancel(*args):
        calls.append(args[1])
        cancel_late.cancel()
        return rescore(*args)

    cancel_late = CancelToken()
    monkeypatch.setattr(comparator, "rescore_aligned", first_then_cancel)
    assert ab.ablate(comparator, result, cancel_late) is None
    assert len(calls) == 1
    monkeypatch.undo()
    assert _figures(ab.ablate(comparator, result)) == _figures(ablated)


def test_a_bare_run_has_nothing_to_ablate(comparator, result):
    with pytest.raises(BadInput, match="no URIAL prompt"):
        ab.ablate(comparator, replace(result, urial=None))


class _CannotScore:
    """A backend as llama.cpp's own server is: it generates but cannot score given tokens."""

    can_score = False

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_model_that_cannot_score_gives_the_rescore_error(comparator, result):
    blind = Comparator(_CannotScore(comparator.base), comparator.aligned, vocab=comparator.vocab)
    with pytest.raises(AlignTermError) as rescore_error:
        blind.rescore_aligned(result, result.urial)
    with pytest.raises(AlignTermError) as ablation_error:
        ab.ablate(blind, result)
    assert str(ablation_error.value) == str(rescore_error.value)
    assert "cannot score given tokens" in str(ablation_error.value)
