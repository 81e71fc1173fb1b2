"""engine.tally against a plain count of the same tokens."""

from __future__ import annotations

import random

import pytest

from alignterm.engine.events import CATEGORIES, TokenEvent
from alignterm.engine.tally import SideTally


def _token(i: int, shift: str | None, kl: float | None) -> TokenEvent:
    return TokenEvent(side="aligned", position=i, id=i, text="x", logprob=-1.0, other_logprob=-2.0,
                      other_rank=None if shift is None else 1, shift=shift, kl=kl)  # type: ignore[arg-type]


def test_tally_matches_a_plain_count():
    rng = random.Random(7)
    tokens = [_token(i, rng.choice([*CATEGORIES, None]), rng.choice([None, rng.random()])) for i in range(500)]
    tally = SideTally()
    tally.add_many(tokens[:123])
    for token in tokens[123:]:
        tally.add(token)
    scored = [t for t in tokens if t.shift is not None]
    assert tally.n == len(tokens) and tally.scored == len(scored)
    assert tally.unscored == sum(t.shift is None for t in tokens)
    for cat in CATEGORIES:
        count = sum(t.shift == cat for t in tokens)
        assert getattr(tally, cat) == count
        assert tally.share(cat) == pytest.approx(count / len(scored))
    kls = [t.kl for t in tokens if t.kl is not None]
    assert tally.mean_kl == pytest.approx(sum(kls) / len(kls))


def test_an_empty_or_unscored_tally_has_no_shares():
    tally = SideTally()
    assert tally.share("shifted") == 0.0 and tally.mean_kl is None
    tally.add(_token(0, None, None))
    assert tally.n == 1 and tally.scored == 0 and tally.share("unshifted") == 0.0
