"""Multi-turn URIAL (issue #21): turn k is compared after turns 1..k-1 and their aligned answers, in
the aligned model's chat template and as URIAL examples in the base prompt; every measure is checked
against transformers' own chat template and plain forward passes (tests/engine/plain.py)."""

import pytest
import torch

from alignterm.engine.ablation import ablate
from alignterm.engine.compare import ComparisonRequest
from alignterm.engine.conversation import converse
from alignterm.engine.demo import GGUF_DIR
from alignterm.engine.loading import load_backend
from alignterm.engine.prompts import example_query, load_urial, split_urial
from alignterm.engine.values import CancelToken, DecodingParams, ModelSpec

from .plain import answer_rows, chat_ids

PARAMS = DecodingParams(max_new_tokens=40)


@pytest.fixture(scope="module")
def urial():
    return load_urial("default")


@pytest.fixture(scope="module")
def talk(comparator, queries, urial):
    """A two-turn conversation on the demo pair, with the default URIAL prompt."""
    return list(converse(comparator, queries[:2], urial, PARAMS))


def _example(user: str, answer: str) -> str:
    """An earlier turn written out as the bundled URIAL examples are."""
    return f"\n# Query:\n```\n{user}\n```\n\n# Answer:\n```\n{answer.strip()}\n```\n"


def _block(query: str) -> str:
    return f"\n# Query:\n```\n{query}\n```\n\n# Answer:\n```\n"


def _ranks(rows: torch.Tensor, ids: list[int]) -> list[int]:
    return [1 + int((rows[i] > rows[i, t]).sum()) for i, t in enumerate(ids)]


def _shape(result):
    """What a comparison computed, without timings and float noise (a cache re-fed from another
    prefix may differ in the last bits)."""
    sides = [(s.prompt_ids, s.text, s.finish_reason, [(t.id, t.other_rank, t.shift) for t in s.tokens])
             for s in (result.aligned, result.base)]
    bare = [(t.id, t.other_rank) for t in result.aligned_bare]
    return sides, bare, result.bare_prompt_ids, result.summary.aligned.counts(), result.summary.closure


def test_a_one_turn_conversation_is_a_plain_comparison(comparator, queries, urial):
    (turn,) = converse(comparator, queries[:1], urial, PARAMS)
    plain_run = comparator.compare(ComparisonRequest(queries[0], urial, PARAMS, live=False))
    assert turn.history == () and _shape(turn) == _shape(plain_run)
    for side in ("aligned", "base"):
        assert [t.logprob for t in turn.side(side).tokens] == pytest.approx(
            [t.logprob for t in plain_run.side(side).tokens], abs=1e-4)


def test_turn_two_reads_turn_one_in_both_prompts(comparator, queries, urial, talk, plain):
    _, tok = plain
    first, second = talk
    a1 = first.aligned.text
    assert a1 and second.history == ((queries[0], a1),) and second.query == queries[1]
    # the aligned prompt: transformers' own chat template over [u1, a1, u2]
    assert second.aligned.prompt_ids == chat_ids(tok, queries[1], ((queries[0], a1),))
    # the base prompt: the URIAL text, turn 1 as one more example, the query block
    text = urial + _example(queries[0], a1) + _block(queries[1])
    assert comparator.base.tokenizer.decode(second.base.prompt_ids) == tok.decode(tok(text)["input_ids"])
    assert second.base.prompt_ids == tok(text)["input_ids"]
    _, bundled = split_urial(urial)
    _, examples = split_urial(urial + _example(queries[0], a1))
    assert examples[:-1] == bundled and example_query(examples[-1]) == queries[0]
    # the bare prompt: the history example alone, then the query block
    bare = (_example(queries[0], a1) + _block(queries[1])).lstrip("\n")
    assert second.bare_prompt_ids == tok(bare)["input_ids"]


def test_turn_two_ranks_equal_plain_forward_passes(talk, queries, plain):
    models, tok = plain
    second = talk[1]
    aligned = [t.id for t in second.aligned.tokens]
    base = [t.id for t in second.base.tokens]
    assert aligned and base
    under_base = answer_rows(models["base"], second.base.prompt_ids, aligned)
    assert [t.other_rank for t in second.aligned.tokens] == _ranks(under_base, aligned)
    under_bare = answer_rows(models["base"], second.bare_prompt_ids, aligned)
    assert [t.other_rank for t in second.aligned_bare] == _ranks(under_bare, aligned)
    under_aligned = answer_rows(models["aligned"], chat_ids(tok, queries[1], second.history), base)
    assert [t.other_rank for t in second.base.tokens] == _ranks(under_aligned, base)
    own = torch.log_softmax(answer_rows(models["aligned"], second.aligned.prompt_ids, aligned), -1)
    assert [t.logprob for t in second.aligned.tokens] == pytest.approx(
        [float(own[i, t]) for i, t in enumerate(aligned)], abs=1e-4)


def test_every_turn_has_its_closure(talk):
    for result in talk:
        shifted = sum(t.shift == "shifted" for t in result.aligned.tokens) / len(result.aligned.tokens)
        bare = sum(t.shift == "shifted" for t in result.aligned_bare) / len(result.aligned_bare)
        assert bare > 0 and result.summary.closure == pytest.approx(1 - shifted / bare)


def test_a_turns_rescore_and_ablation_keep_its_history(comparator, talk):
    """Re-scoring turn 2's answer (an ablation's variants) keeps turn 1's example: under the full
    URIAL prompt and under the bare one it scores as the run did."""
    second = talk[1]
    for urial, tokens in ((second.urial, second.aligned.tokens), (None, second.aligned_bare)):
        rescored = comparator.rescore_aligned(second, urial)
        assert [t.other_rank for t in rescored.tokens] == [t.other_rank for t in tokens]
        assert [t.other_logprob for t in rescored.tokens] == pytest.approx([t.other_logprob for t in tokens], abs=1e-4)
    ablation = ablate(comparator, second)
    assert ablation.example_queries == tuple(example_query(e) for e in split_urial(second.urial)[1])
    assert ablation.score("full").closure == second.summary.closure


def test_a_cancel_between_turns_starts_no_other(comparator, queries, urial):
    cancel = CancelToken()
    done = []
    for result in converse(comparator, queries[:3], urial, PARAMS, cancel):
        done.append(result)
        cancel.cancel()
    assert len(done) == 1 and not done[0].cancelled


def test_gguf_chat_ids_single_turn_unchanged_and_history_rendered(comparator, queries, plain):
    _, tok = plain
    g = load_backend(ModelSpec(str(GGUF_DIR / "demo-aligned.f32.gguf"))).tokenizer
    history = (("Tell me about Kasla.", "Kasla is a town."),)
    assert g.chat_ids(queries[0]) == chat_ids(tok, queries[0]) == comparator.aligned.tokenizer.chat_ids(queries[0])
    assert g.chat_ids(queries[1], history) == chat_ids(tok, queries[1], history)
    assert g.chat_ids(queries[1], history) == comparator.aligned.tokenizer.chat_ids(queries[1], history)
