"""The TDS maths on hand-computed examples."""

import math

import pytest
import torch

from alignterm.engine import shift
from alignterm.engine.events import TokenEvent


def test_rank_counts_strictly_higher_tokens_so_ties_share_a_rank():
    logits = torch.tensor([[2.0, 1.0, 1.0, 0.5, 3.0]] * 5)
    ids = torch.tensor([4, 0, 1, 2, 3])
    assert shift.ranks(logits, ids).tolist() == [1, 2, 3, 3, 5]


@pytest.mark.parametrize("rank,expected", [(1, "unshifted"), (2, "marginal"), (3, "marginal"), (4, "shifted"), (900, "shifted")])
def test_category_boundaries(rank, expected):
    assert shift.category(rank) == expected


def test_kl_of_identical_distributions_is_zero():
    logits = torch.randn(3, 50)
    assert torch.all(shift.kl_divergence(logits, logits) == 0.0)


def test_kl_matches_a_hand_computed_value():
    p = torch.log(torch.tensor([[0.5, 0.5]]))
    q = torch.log(torch.tensor([[0.25, 0.75]]))
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert shift.kl_divergence(p, q).item() == pytest.approx(expected, abs=1e-6)


def _tok(pos, rank, text="x"):
    return TokenEvent("aligned", pos, 0, text, -1.0, -2.0, rank, shift.category(rank), 0.5)


def test_summary_counts_shares_buckets_and_top_shifted():
    tokens = [_tok(0, 9, "Hello"), _tok(1, 1), _tok(2, 2), _tok(3, 1), _tok(8, 5, "Hello"), _tok(9, 4, "Sure")]
    s = shift.summarize(tokens, bucket_size=8)
    assert (s.n, s.unshifted, s.marginal, s.shifted) == (6, 2, 1, 3)
    assert s.share("shifted") == pytest.approx(0.5)
    assert s.shifted_by_bucket == (1, 2)
    assert s.tokens_by_bucket == (4, 2)
    assert s.top_shifted[0] == ("Hello", 2)
    assert s.mean_kl == pytest.approx(0.5)


def test_closure_is_the_share_of_bare_shift_that_the_prompt_removes():
    bare = shift.summarize([_tok(i, 5 if i < 4 else 1) for i in range(20)])  # 20% shifted
    urial = shift.summarize([_tok(i, 5 if i < 1 else 1) for i in range(20)])  # 5% shifted
    assert shift.closure(bare, urial) == pytest.approx(0.75)
    no_shift = shift.summarize([_tok(i, 1) for i in range(5)])
    assert shift.closure(no_shift, urial) is None


def test_empty_answer_has_zero_shares():
    s = shift.summarize([])
    assert s.n == 0 and s.share("shifted") == 0.0 and s.mean_kl is None
