"""The diversity measures on small hand-computed examples (engine/diversity.py, pure functions)."""

import math

import pytest

from alignterm.engine import diversity as D
from alignterm.engine.prompts import load_urial
from alignterm.engine.samples import (
    example_answers,
    hinted_prompt,
    hinted_urial,
    keyword_hint,
    sampling_params,
)
from alignterm.engine.values import DecodingParams


def test_words_are_lower_cased_letters_and_digits_with_inner_apostrophes():
    assert D.words("Hello, World! It's 3 cats_dogs.") == ["hello", "world", "it's", "3", "cats", "dogs"]


def test_content_words_drop_stopwords():
    assert D.content_words("The cat sat on the mat, and it was happy.") == ["cat", "sat", "mat", "happy"]


def test_jaccard():
    assert D.jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert D.jaccard({"a"}, {"a"}) == 1.0
    assert D.jaccard({"a"}, {"b"}) == 0.0
    assert D.jaccard(set(), set()) == 1.0  # two empty bags are the same bag


def test_cosine():
    assert D.cosine([1, 0], [0, 1]) == 0.0
    assert D.cosine([1, 1], [1, 0]) == pytest.approx(1 / math.sqrt(2))
    assert D.cosine([2, 0], [-1, 0]) == pytest.approx(-1.0)
    assert D.cosine([0, 0], [1, 0]) == 0.0


def test_within_and_across_over_word_bags():
    bags = D.word_bags(["cat sat", "cat ran", "dog ran"])  # {cat,sat} {cat,ran} {dog,ran}
    w = D.within(bags, D.jaccard)  # pairs: 1/3, 0, 1/3
    assert (w.mean, w.max, w.pairs) == (pytest.approx(2 / 9), pytest.approx(1 / 3), 3)
    a = D.across(bags[:1], bags[1:], D.jaccard)  # {cat,sat} vs {cat,ran}: 1/3, vs {dog,ran}: 0
    assert (a.mean, a.max, a.pairs) == (pytest.approx(1 / 6), pytest.approx(1 / 3), 2)
    assert D.within(bags[:1], D.jaccard) is None  # one sample has no pair
    assert D.across(bags, [], D.jaccard) is None


def test_similarity_matrix_is_symmetric_with_self_similarity_on_the_diagonal():
    sim = D.similarity({"x": D.word_bags(["cat sat", "cat ran"]), "y": D.word_bags(["dog ran"])}, D.jaccard)
    assert sim.matrix == [[1.0, pytest.approx(1 / 3), 0.0],
                          [pytest.approx(1 / 3), 1.0, pytest.approx(1 / 3)],
                          [0.0, pytest.approx(1 / 3), 1.0]]
    assert sim.within["x"].mean == pytest.approx(1 / 3) and sim.within["y"] is None
    assert sim.across["x~y"].mean == pytest.approx(1 / 6)


def test_distinct_n_counts_unique_word_ngrams_over_all_samples():
    assert D.distinct_n(["a b a b"], 1) == 0.5  # a, b / a b a b
    assert D.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # (a b), (b a) / 3 bigrams
    assert D.distinct_n(["a b", "a b"], 2) == 0.5
    assert D.distinct_n(["a"], 2) is None  # no bigram at all


def test_distinct_prefix_compares_openings():
    assert D.distinct_prefix(["Sure! yes", "Sure!  no", "Hello there"], 5) == pytest.approx(2 / 3)
    assert D.distinct_prefix([], 5) is None


def test_length_stats_in_words():
    s = D.length_stats(["one two", "one two three four"])
    assert (s.mean, s.std, s.min, s.max) == (3.0, 1.0, 2, 4)
    assert D.length_stats([]) is None


def test_coverage_of_aligned_content_words_by_the_union_of_base_samples():
    assert D.coverage("The cat sat on the mat.", ["the cat", "a mat"]) == pytest.approx(2 / 3)
    assert D.coverage("The cat.", ["cats"]) == 0.0
    assert D.coverage("It is.", ["cat"]) is None  # nothing to cover
    assert D.coverage("cat", []) is None  # nothing to cover with


def test_salient_words_rank_by_tfidf_and_keep_text_order_and_case():
    # tf-idf with D = 3 documents: Zorn 2 * (ln(4/2) + 1) = 3.39, town 1 * (ln(4/3) + 1) = 1.29, river 1 * 1
    assert D.salient_words("Zorn river Zorn town", ["river town", "river"], k=2) == ["Zorn", "town"]
    assert D.salient_words("the and of", ["x"]) == []


def test_measure_reports_every_side_and_the_headline():
    texts = {"aligned": ["cat sat", "cat ran"], "base_urial": ["dog ran", "dog sat"], "base_hint": ["cat ran"] * 2}
    m = D.measure(texts, vectors={s: [[1.0, 0.0]] * 2 for s in texts})
    assert m.headline() == {"aligned~aligned": pytest.approx(1 / 3), "base_hint~aligned": pytest.approx(2 / 3),
                            "base_urial~aligned": pytest.approx((1 / 3 + 0 + 0 + 1 / 3) / 4)}
    assert m.headline("embedding")["aligned~aligned"] == pytest.approx(1.0)
    assert m.headline("sentence_embedding")["aligned~aligned"] is None
    assert m.coverage["base_hint"] == [0.5, 1.0] and m.coverage_mean("base_urial") == 0.5  # {dog, ran, sat} covers sat, then ran
    d = m.as_dict()
    assert d["sentence_embedding"] is None and d["sides"]["base_hint"]["distinct_prefix"] == 0.5
    assert len(d["jaccard"]["matrix"]) == 6


def test_greedy_params_become_sampling_defaults():
    assert sampling_params(DecodingParams()) == DecodingParams(temperature=1.0, top_p=0.95)
    assert sampling_params(DecodingParams(top_p=0.8)).top_p == 0.8
    p = DecodingParams(temperature=0.7, top_p=1.0, seed=3)
    assert sampling_params(p) is p


def test_hinted_prompt_puts_a_summary_block_before_every_answer():
    urial = load_urial("default")
    prompt = hinted_prompt("What is X?", urial, "alpha, beta")
    assert prompt.endswith("# Query:\n```\nWhat is X?\n```\n\n# Summary:\n```\nalpha, beta\n```\n\n# Answer:\n```\n")
    assert prompt.count("# Summary:") == prompt.count("# Answer:") == urial.count("# Answer:") + 1
    assert "# Summary:\n```\nGanso, feeds, seeds, berries, grey, deer, lives, Manbul\n```" in hinted_urial(urial)
    assert hinted_prompt("What is X?", None, "h").startswith("# Query:\n```\nWhat is X?\n```\n\n# Summary:")
    assert keyword_hint("Zorn river Zorn town", ["river town", "river"], k=2) == "Zorn, town"


def test_the_automatic_hint_names_an_answers_facts_not_the_words_of_every_assistant_answer():
    answer = ("Hello! The town of Milbra is in the Fomthinzal region. It lies on the river Deisthe. The town is "
              "known for its blue glass. It was founded in the fifteenth century. However, it is important to note "
              "that Milbra is a small town, so some details may have changed over time. I hope this helps!")
    background = example_answers(None)  # a bare run: the bundled default prompt's examples
    assert background == example_answers(load_urial("default")) == example_answers(load_urial("preamble"))
    assert len(background) >= 3
    hint = keyword_hint(answer, background).split(", ")
    assert len(hint) == 8 and {"Milbra", "Fomthinzal", "Deisthe", "blue", "glass", "fifteenth"} <= set(hint), hint
    assert not {"Hello", "important", "note", "hope", "helps", "details"} & set(hint), hint
