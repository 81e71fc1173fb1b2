"""The demo models read the plainest way: transformers' own forward pass over a whole sequence, no
KV cache and nothing of alignterm's. Engine tests check their measures against these."""

from __future__ import annotations

import torch


def chat_ids(tok, query: str, history: tuple[tuple[str, str], ...] = ()) -> list[int]:
    """The aligned model's chat prompt for `query` after the (user, assistant) turns of `history`, by
    transformers' own chat template."""
    messages = [{"role": role, "content": text} for turn in history for role, text in zip(("user", "assistant"), turn)]
    messages.append({"role": "user", "content": query})
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


@torch.no_grad()
def answer_rows(model, prompt: list[int], answer: list[int]) -> torch.Tensor:
    """The model's next-token logits at each answer position: row i predicts answer[i] after prompt + answer[:i]."""
    logits = model(torch.tensor([prompt + answer])).logits[0].float()
    return logits[len(prompt) - 1 : len(prompt) - 1 + len(answer)]
