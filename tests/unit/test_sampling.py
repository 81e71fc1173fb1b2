"""Sampling (engine/sampling.py) against transformers' own logits processors, on the same logits."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from alignterm.engine.sampling import pick_token, sampling_weights
from alignterm.engine.values import DecodingParams

HISTORY = [3, 17, 17, 42, 5]


def _transformers_probs(logits: torch.Tensor, params: DecodingParams, history: list[int]) -> torch.Tensor:
    processors = LogitsProcessorList()
    if params.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(params.repetition_penalty))
    processors.append(TemperatureLogitsWarper(params.temperature))
    if params.top_p < 1.0:
        processors.append(TopPLogitsWarper(params.top_p))
    scores = processors(torch.tensor([history]), logits[None].clone())
    return torch.softmax(scores, -1)[0]


@pytest.mark.parametrize("params", [
    DecodingParams(temperature=0.7),
    DecodingParams(temperature=1.3, top_p=0.9),
    DecodingParams(temperature=1.0, top_p=0.5, repetition_penalty=1.3),
    DecodingParams(temperature=0.5, repetition_penalty=0.8),
])
def test_the_sampled_distribution_is_transformers_own(params):
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        logits = torch.randn(300, generator=gen) * 3
        logits[HISTORY] += 4  # the repeated tokens are among the likely ones, so the penalty matters
        ours = sampling_weights(logits, params, HISTORY)
        ours = ours / ours.sum()
        theirs = _transformers_probs(logits, params, HISTORY)
        assert torch.equal(ours > 0, theirs > 0)  # the same kept set
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_greedy_takes_the_penalized_argmax():
    logits = torch.tensor([0.0, 5.0, 4.0, 1.0])
    assert pick_token(logits, DecodingParams(), [1], None) == 1
    assert pick_token(logits, DecodingParams(repetition_penalty=2.0), [1], None) == 2  # 5/2 < 4


def test_seeded_samples_are_reproducible_and_seeds_differ():
    logits = torch.randn(500, generator=torch.Generator().manual_seed(1))
    params = DecodingParams(temperature=1.0, top_p=0.95)

    def draw(seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        return [pick_token(logits, params, [], gen) for _ in range(30)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
