"""The real-family fixtures themselves, checked with plain transformers and raw llama_cpp (no alignterm code).

Each family's HF tokenizers pass llama.cpp's tokenizer test cases, its GGUF files tokenize and
compute the same as the HF folders, and both models give their intended greedy answers.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import llama_cpp
import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from . import build
from .build import BARE_PROMPT, FAMILIES, SIDES, Family

SIDE_DIRS = {"base": ("hf_base", "gguf_base"), "aligned": ("hf_aligned", "gguf_aligned")}


def hf_dir(family: Family, side: str) -> Path:
    return getattr(family, SIDE_DIRS[side][0])


def gguf_file(family: Family, side: str) -> Path:
    return getattr(family, SIDE_DIRS[side][1])


@functools.cache
def hf_tokenizer(folder: Path):
    """A folder's tokenizer, loaded once (Llama 3's and Qwen's take ~1 s)."""
    return AutoTokenizer.from_pretrained(folder)


@functools.cache
def hf_model(folder: Path):
    """A folder's model in float32, loaded once."""
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def answer(family: Family, side: str) -> tuple[str, list[int]]:
    """The intended answer text, and its ids followed by the end token."""
    if side == "aligned":
        return family.aligned_answer, [*family.aligned_answer_ids, family.aligned_end_id]
    return family.base_answer, [*family.base_answer_ids, family.base_end_id]


def chat_text(tok, query: str) -> str:
    """The aligned prompt's text: the chat template with one user message."""
    return tok.apply_chat_template([{"role": "user", "content": query}], tokenize=False, add_generation_prompt=True)


def hf_prompts(tok, family: Family, side: str, query: str) -> list[list[int]]:
    """The prompt as transformers builds it, plus llama.cpp's BOS-first form where only llama.cpp adds BOS."""
    if side == "aligned":
        ids = tok(chat_text(tok, query), add_special_tokens=False).input_ids
    else:
        ids = tok(BARE_PROMPT.format(query=query)).input_ids  # the tokenizer adds BOS where the family does
    prompts = [ids]
    if family.gguf_adds_bos and ids[:1] != [family.bos_id]:
        prompts.append([family.bos_id, *ids])
    return prompts


def hf_greedy(model, prompt: list[int], stop: set[int], limit: int) -> list[int]:
    """transformers' own greedy decoding until a stop id (do_sample off: the real generation configs sample)."""
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             do_sample=False, max_new_tokens=limit, eos_token_id=sorted(stop), pad_token_id=min(stop))
    return out[0, len(prompt) :].tolist()


def gguf_logits(llm: llama_cpp.Llama, ids: list[int]) -> np.ndarray:
    """llama.cpp's logits [len(ids), n_vocab] for a sequence."""
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def load_gguf(path: Path, vocab_only: bool = False, f32_cache: bool = False) -> llama_cpp.Llama:
    """Raw llama_cpp on a GGUF; llama.cpp's KV cache is f16 unless f32_cache."""
    kv = dict(type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32) if f32_cache else {}
    return llama_cpp.Llama(str(path), vocab_only=vocab_only, logits_all=True, n_ctx=256, verbose=False, **kv)


# ---------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("side", SIDES)
def test_hf_tokenizer_passes_llama_cpp_cases(family, llama_cpp_models, side):
    tok = hf_tokenizer(hf_dir(family, side))
    cases = build.read_cases(llama_cpp_models, FAMILIES[family.name].vocab)
    assert len(cases) == 46
    failed = [(text, ids, tok(text, add_special_tokens=False).input_ids) for text, ids in cases
              if tok(text, add_special_tokens=False).input_ids != ids]
    assert not failed, f"{len(failed)} of {len(cases)} cases differ, e.g. {failed[0]}"


@pytest.mark.parametrize("side", SIDES)
def test_gguf_tokenizes_like_hf(family, llama_cpp_models, side):
    tok = hf_tokenizer(hf_dir(family, side))
    llm = load_gguf(gguf_file(family, side), vocab_only=True)
    texts = [text for text, _ in build.read_cases(llama_cpp_models, FAMILIES[family.name].vocab)]
    texts += [family.aligned_answer, family.base_answer]
    for text in texts:
        want = tok(text, add_special_tokens=False).input_ids
        assert llm.tokenize(text.encode(), add_bos=False, special=False) == want, text
    for query in family.queries:  # prompts with special tokens: the chat template, BOS
        hf = hf_prompts(tok, family, side, query)[0]
        if side == "aligned":
            assert llm.tokenize(chat_text(tok, query).encode(), add_bos=False, special=True) == hf
        else:
            ids = llm.tokenize(BARE_PROMPT.format(query=query).encode(), add_bos=True, special=True)
            bos = [family.bos_id] if family.gguf_adds_bos and not family.adds_bos else []
            assert ids == bos + hf  # Phi-3: llama.cpp adds the BOS that HF does not


def test_bare_prompt_is_alignterms():
    from alignterm.engine.prompts import base_prompt

    for query in build.QUERIES:
        assert BARE_PROMPT.format(query=query) == base_prompt(query, None)


def test_answers_split_characters_over_byte_tokens(family):
    tok = hf_tokenizer(family.hf_aligned)
    for text, ids in ((family.aligned_answer, family.aligned_answer_ids), (family.base_answer, family.base_answer_ids)):
        assert tok.decode(list(ids)) == text and "  " in text and not text.isascii()
        pieces = [tok.decode([i]) for i in ids]
        assert any("\ufffd" in p for p in pieces), pieces  # a token holding part of a character's bytes


# ---------------------------------------------------------------- BOS / EOS / vocabularies


def test_family_settings(family, llama_cpp_models):
    spec = FAMILIES[family.name]
    toks = {side: hf_tokenizer(hf_dir(family, side)) for side in SIDES}
    for side, tok in toks.items():
        assert len(tok) == family.vocab_size == spec.n_tokens
        assert tok.bos_token_id == family.bos_id
        assert (tok("a").input_ids[:1] == [family.bos_id]) == family.adds_bos
        config = AutoConfig.from_pretrained(hf_dir(family, side))
        assert config.vocab_size == family.n_rows >= family.vocab_size
        facts = build.llama_cpp_facts(gguf_file(family, side))
        assert facts["n_tokens"] == family.n_rows and facts["add_bos"] == family.gguf_adds_bos
        assert set(facts["eog"]) == family.eog_ids
    assert toks["base"].eos_token_id == family.base_end_id
    assert toks["base"].chat_template is None
    gen = GenerationConfig.from_pretrained(family.hf_aligned).eos_token_id
    assert tuple(gen if isinstance(gen, list) else [gen]) == family.generation_eos_ids
    assert {family.aligned_end_id, toks["aligned"].eos_token_id} <= set(family.generation_eos_ids)
    assert {family.aligned_end_id, family.base_end_id} <= family.eog_ids
    meta = load_gguf(family.gguf_aligned, vocab_only=True).metadata
    assert meta["tokenizer.chat_template"] == toks["aligned"].chat_template
    assert "tokenizer.chat_template" not in load_gguf(family.gguf_base, vocab_only=True).metadata
    if family.name == "llama3":  # the base ends on an end token the chat template never writes
        assert family.base_end_id == 128001 and "<|end_of_text|>" not in toks["aligned"].chat_template


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("side", SIDES)
def test_hf_greedy_answer(family, side):
    tok = hf_tokenizer(hf_dir(family, side))
    model = hf_model(hf_dir(family, side))
    text, ids = answer(family, side)
    for query in family.queries:
        for prompt in hf_prompts(tok, family, side, query):
            got = hf_greedy(model, prompt, set(family.eog_ids) | set(family.generation_eos_ids), len(ids) + 5)
            assert got == ids, (query, tok.decode(got))
            assert tok.decode(got[:-1]) == text


@pytest.mark.parametrize("side", SIDES)
def test_gguf_matches_hf(family, side):
    tok = hf_tokenizer(hf_dir(family, side))
    model = hf_model(hf_dir(family, side))
    exact, default = load_gguf(gguf_file(family, side), f32_cache=True), load_gguf(gguf_file(family, side))
    _, ids = answer(family, side)
    for query in family.queries:
        for prompt in hf_prompts(tok, family, side, query):
            seq = prompt + ids
            with torch.no_grad():
                want = model(input_ids=torch.tensor([seq])).logits[0].numpy()
            got = gguf_logits(exact, seq)
            assert got.shape == want.shape == (len(seq), family.n_rows)
            assert np.abs(got - want).max() < 1e-3
            # Teacher-forced argmax is greedy decoding: llama.cpp gives the same answer, also with
            # its default f16 KV cache (whose logits are off by up to ~5e-2 here).
            assert gguf_logits(default, seq)[len(prompt) - 1 : -1].argmax(1).tolist() == ids


def test_rebuild_writes_the_same_files(families, llama_cpp_models, tmp_path):
    """Deterministic training: a rebuild of the smallest family gives byte-identical files."""
    build.build_family("llama2", llama_cpp_models, tmp_path, log=lambda line: None)
    cached = families["llama2"].hf_base.parent

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert digests(tmp_path) == digests(cached)
