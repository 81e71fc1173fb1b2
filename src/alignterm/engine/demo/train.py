"""Training of the demo pair: tokenizer, base pre-training, aligned fine-tune.

Everything runs on CPU in a few minutes. Callers seed the RNGs and fix the thread
count (see build.py); the functions here only draw from torch's global generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

EOT, USER, ASSISTANT, SYSTEM, END = "<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"
SPECIAL_TOKENS = [EOT, USER, ASSISTANT, SYSTEM, END]  # ids 0..4, in this order
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
VOCAB_SIZE = 2048
SEQ_LEN = 640  # covers the default URIAL prompt (~330 tokens) plus a long answer


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """Byte-level BPE (exact round trip of any text); BOS prepended by add_special_tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{EOT} $A", pair=f"{EOT} $A $B:1", special_tokens=[(EOT, 0)]),
    ])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOT, eos_token=EOT, pad_token=EOT,
        extra_special_tokens=[USER, ASSISTANT, SYSTEM, END], clean_up_tokenization_spaces=False,
        model_max_length=SEQ_LEN,
    )


def new_model(tok: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    # Hidden and intermediate sizes are multiples of 32 so the pair quantizes to GGUF Q8_0.
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=192, intermediate_size=512, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(config)


def pack_documents(tok: PreTrainedTokenizerFast, docs: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole documents, each as <|endoftext|> doc, packed greedily into SEQ_LEN windows.

    Windows start at a document start, as prompts do at run time (BOS + page); a
    document's trailing <|endoftext|> teaches the model to end a page.
    """
    eot = SPECIAL_TOKENS.index(EOT)  # the tokenizer gives the special tokens their list positions as ids
    windows: list[list[int]] = []
    current: list[int] = []
    for ids in tok(docs, add_special_tokens=False)["input_ids"]:
        seq = ([eot] + ids + [eot])[:SEQ_LEN]
        if len(current) + len(seq) > SEQ_LEN:
            windows.append(current)
            current = []
        current += seq
    windows.append(current)
    input_ids = torch.full((len(windows), SEQ_LEN), eot, dtype=torch.long)
    labels = torch.full((len(windows), SEQ_LEN), -100, dtype=torch.long)
    for i, w in enumerate(windows):
        input_ids[i, : len(w)] = torch.tensor(w)
        labels[i, : len(w)] = torch.tensor(w)
    return input_ids, labels


def chat_examples(tok: PreTrainedTokenizerFast, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Chat-template conversations; the loss covers only the answer and its <|end|>."""
    end = tok.convert_tokens_to_ids(END)
    rows = []
    for query, answer in pairs:
        prompt = tok.apply_chat_template([{"role": "user", "content": query}], add_generation_prompt=True,
                                         tokenize=True, return_dict=False)
        reply = tok(answer, add_special_tokens=False)["input_ids"] + [end]
        rows.append((prompt + reply, [-100] * len(prompt) + reply))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
    return input_ids, labels


def train(model: LlamaForCausalLM, input_ids: torch.Tensor, labels: torch.Tensor, *, epochs: float,
          lr: float, batch_size: int, log: Callable[[str], None], name: str) -> None:
    """AdamW with linear warm-up and cosine decay; `epochs` may be fractional."""
    steps = max(1, int(epochs * len(input_ids) / batch_size))
    warmup = max(1, steps // 20)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / steps))))
    order = torch.cat([torch.randperm(len(input_ids)) for _ in range(math.ceil(epochs) + 1)])
    # Padding past the longest row of a batch is cut off: short chat rows train faster.
    real = (labels != -100).long().cumsum(1).argmax(1) + 1
    model.train()
    start = time.monotonic()
    for step in range(steps):
        idx = order[step * batch_size: (step + 1) * batch_size]
        width = int(real[idx].max())
        loss = model(input_ids=input_ids[idx, :width], labels=labels[idx, :width]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == steps - 1:
            log(f"{name}: step {step + 1}/{steps} loss {loss.item():.3f} ({time.monotonic() - start:.0f}s)")
    model.eval()


def generation_config(tok: PreTrainedTokenizerFast, stop_tokens: list[str]) -> GenerationConfig:
    """Greedy decoding (the paper's setting), stopping at the given tokens."""
    eos = [tok.convert_tokens_to_ids(t) for t in stop_tokens]
    return GenerationConfig(do_sample=False, num_beams=1, bos_token_id=tok.bos_token_id,
                            eos_token_id=eos if len(eos) > 1 else eos[0], pad_token_id=tok.pad_token_id)
