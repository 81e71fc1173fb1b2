"""Real tiny models built for these tests (transformers folders the real backends load)."""

from __future__ import annotations

import shutil
from pathlib import Path

from alignterm.engine.demo import ALIGNED_DIR

# What a hostile or broken vocabulary can make a model print: a colour change, an OSC 52
# clipboard write, a terminal bell, a carriage return, NUL, a zero-width space and a
# right-to-left override (each as its own added token).
HOSTILE = ["\x1b[31;1m", "\x1b]52;c;cm0gLXJmIH4=\x07", "\x07", "\r", "\x00", "\u200b", "\u202e"]
RAW_CONTROLS = ["\x1b", "\x07", "\r", "\x00", "\u200b", "\u202e", "\x9b"]
SHOWN = ["\\x1b[31;1m", "\\x1b]52;c;cm0gLXJmIH4=\\x07", "\\x07", "\\x0d", "\\x00", "\\u200b", "\\u202e"]
FRAGMENT_BYTE = 0xE6  # the first byte of a three-byte UTF-8 character, a token of its own


def _byte_level(byte: int) -> str:
    """The character a byte-level BPE vocabulary (GPT-2's mapping) uses for one raw byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    if byte in printable:
        return chr(byte)
    return chr(256 + [b for b in range(256) if b not in printable].index(byte))


def hostile_model(folder: Path) -> Path:
    """The demo tokenizer plus the HOSTILE tokens, and a 1-layer Llama that emits them in a cycle.

    Its attention and MLP outputs are zero, so the last hidden state is the input token's
    embedding: a one-hot "slot" vector. Every ordinary token is slot 0 and leads to
    HOSTILE[0]; the k-th cycle token leads to the next one. The cycle holds the HOSTILE
    tokens and the lone byte FRAGMENT_BYTE (which decodes to U+FFFD on its own).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(ALIGNED_DIR)
    tok.add_tokens(HOSTILE)
    cycle = [*tok.convert_tokens_to_ids(HOSTILE), tok.convert_tokens_to_ids(_byte_level(FRAGMENT_BYTE))]
    hidden = len(cycle) + 1
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden * 2, intermediate_size=8, num_hidden_layers=1,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=512,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.model.norm.weight.fill_(1.0)
        for layer in model.model.layers:
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        emb, head = model.model.embed_tokens.weight, model.lm_head.weight
        emb[:, 0] = 1.0  # slot 0: every ordinary token
        for k, tid in enumerate(cycle):
            emb[tid, 0] = 0.0
            emb[tid, k + 1] = 1.0
            head[cycle[(k + 1) % len(cycle)], k + 1] = 5.0
        head[cycle[0], 0] = 5.0
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def wide_model(folder: Path, vocab_size: int = 2_000_000, mlp_size: int = 1_000_000) -> Path:
    """A tiny Llama (hidden size 8) with a huge output layer over the demo tokenizer, and a huge MLP.

    Its weights take 160 MB, but each position's logits take vocab_size * 4 bytes and each
    prompt position's MLP activations mlp_size * 8 bytes: a 300-token URIAL prompt needs 2.4 GB
    (a scorer keeps only the prompt's last logits row, so the MLP is what grows with the prompt).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=8, intermediate_size=mlp_size, num_hidden_layers=1,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=1024,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    for f in ALIGNED_DIR.iterdir():
        if f.name.startswith(("tokenizer", "chat_template")):
            shutil.copy(f, folder / f.name)
    return folder
