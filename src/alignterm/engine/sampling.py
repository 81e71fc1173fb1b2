"""Picking the next token from logits: greedy, or sampled the way transformers does it."""

from __future__ import annotations

from collections.abc import Generator, Sequence

import torch

from .values import DecodingParams, Step


def penalized(logits: torch.Tensor, params: DecodingParams, history: list[int]) -> torch.Tensor:
    """Logits after the repetition penalty over `history` (transformers' RepetitionPenaltyLogitsProcessor)."""
    if params.repetition_penalty == 1.0 or not history:
        return logits
    logits = logits.clone()
    seen = torch.tensor(sorted(set(history)), device=logits.device)
    vals = logits[seen]
    logits[seen] = torch.where(vals > 0, vals / params.repetition_penalty, vals * params.repetition_penalty)
    return logits


def sampling_weights(logits: torch.Tensor, params: DecodingParams, history: list[int]) -> torch.Tensor:
    """What a sample is drawn from: repetition penalty, temperature, then top-p, in transformers'
    order; unnormalized where top-p dropped tokens (multinomial normalizes)."""
    probs = torch.softmax(penalized(logits, params, history) / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > params.top_p
        sorted_p[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return probs


def pick_token(logits: torch.Tensor, params: DecodingParams, history: list[int], gen) -> int:
    """Greedy argmax (after the repetition penalty), or a sample from `sampling_weights`."""
    if params.greedy:
        return int(penalized(logits, params, history).argmax())
    return int(torch.multinomial(sampling_weights(logits, params, history), 1, generator=gen))


def generate_with(scorer, prompt_ids: Sequence[int], params: DecodingParams, context_length: int,
                  vocab_size: int | None) -> Generator[Step, None, None]:
    """Generation on an incremental scorer: one cached forward step per token. Only the tokenizer's
    `vocab_size` tokens can be drawn: the rows an output layer is padded with are not tokens."""
    scorer.set_context(prompt_ids)
    history = list(prompt_ids)
    gen = None
    if not params.greedy:
        gen = torch.Generator(device=scorer.next_logits.device).manual_seed(params.seed)
    budget = min(params.max_new_tokens, context_length - len(prompt_ids))
    for i in range(budget):
        logits = scorer.next_logits[:vocab_size]
        tok = pick_token(logits, params, history, gen)
        history.append(tok)
        yield Step(tok, logits)
        if i + 1 < budget:  # the last token needs no forward pass of its own
            scorer.score([tok])
