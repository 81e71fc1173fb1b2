"""Picking the next token from logits: greedy, or sampled the way transformers does it."""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

from .backend import DecodingParams, Step


def pick_token(logits: torch.Tensor, params: DecodingParams, history: list[int], gen) -> int:
    """Greedy argmax, or a sample after repetition penalty, temperature and top-p (in that order)."""
    if params.repetition_penalty != 1.0 and history:
        logits = logits.clone()
        seen = torch.tensor(sorted(set(history)), device=logits.device)
        vals = logits[seen]
        logits[seen] = torch.where(vals > 0, vals / params.repetition_penalty, vals * params.repetition_penalty)
    if params.greedy:
        return int(logits.argmax())
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > params.top_p
        sorted_p[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return int(torch.multinomial(probs, 1, generator=gen))


def generate_with(scorer, prompt_ids: Sequence[int], params: DecodingParams, context_length: int,
                  vocab_size: int) -> Iterator[Step]:
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
