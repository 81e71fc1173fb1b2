"""The incremental KV-cache scorer equals one plain forward pass, on the real demo models."""

import torch

from alignterm.engine.prompts import base_prompt, load_urial


def _plain_logits(backend, ids):
    with torch.inference_mode():
        return backend.model(input_ids=torch.tensor([ids])).logits[0].float()


def test_token_by_token_scoring_equals_one_forward_pass(comparator, queries):
    base = comparator.base
    prompt = base.tokenizer.encode(base_prompt(queries[0], load_urial("default")), add_bos=True)
    answer = base.tokenizer.encode(" Hello! It is a small town on the river. I hope this helps!")
    full = _plain_logits(base, prompt + answer)[len(prompt) - 1 : -1]

    scorer = base.scorer()
    scorer.set_context(prompt)
    stepwise = torch.cat([scorer.score([t]) for t in answer])
    assert (stepwise - full).abs().max().item() < 1e-4

    one_pass = base.scorer()
    one_pass.set_context(prompt)
    assert (one_pass.score(answer) - full).abs().max().item() < 1e-4


def test_prefix_reuse_after_an_edit_equals_a_cold_score(comparator, queries):
    base = comparator.base
    urial = load_urial("default")
    answer = base.tokenizer.encode(" Sure! It is known for its bridge.")
    before = base.tokenizer.encode(base_prompt(queries[0], urial), add_bos=True)
    edited = base.tokenizer.encode(base_prompt(queries[0], urial.replace("I hope this helps!", "Hope it helps.")), add_bos=True)

    warm = base.scorer()
    warm.set_context(before)
    warm.score(answer)
    warm.set_context(edited)  # crops back to the shared prefix, feeds only the edited tail
    cold = base.scorer()
    cold.set_context(edited)
    assert (warm.score(answer) - cold.score(answer)).abs().max().item() < 1e-4
    assert warm.length == cold.length == len(edited) + len(answer)


def test_greedy_generation_equals_transformers_generate(comparator, queries):
    from alignterm.engine.values import DecodingParams

    aligned = comparator.aligned
    prompt = aligned.tokenizer.chat_ids(queries[0])
    ours = [s.id for s in aligned.generate(prompt, DecodingParams(max_new_tokens=24))]
    with torch.inference_mode():
        # an explicit mask: BOS doubles as the pad token here, and generate would mask it out
        x = torch.tensor([prompt])
        ref = aligned.model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=24, do_sample=False,
                                     eos_token_id=None, pad_token_id=0)[0, len(prompt):].tolist()
    n = min(len(ours), len(ref))  # transformers stops at the eos; our generator leaves that to compare
    assert n >= 5 and ours[:n] == ref[:n]
