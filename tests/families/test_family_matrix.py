"""alignterm on the real families (Llama 3, Qwen2.5, Llama 2/Mistral, Phi-3): HF, GGUF and a mixed
pair, bare and URIAL prompts. Every expectation comes from transformers or raw llama_cpp, or from
what the fixtures were trained to answer (tests/families/build.py), never from alignterm itself.
"""

from __future__ import annotations

import functools
from pathlib import Path

import llama_cpp
import numpy as np
import pytest
import torch

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.prompts import base_prompt, load_urial
from alignterm.engine.values import DecodingParams, ModelSpec

from .build import Family
from .test_family_tokenizers import chat_text, hf_model, hf_tokenizer

BACKENDS = {  # which file each side loads: (base, aligned)
    "hf": ("hf_base", "hf_aligned"),
    "gguf": ("gguf_base", "gguf_aligned"),
    "mixed": ("gguf_base", "hf_aligned"),
}
URIALS = ("none", "default")
PARAMS = DecodingParams(max_new_tokens=64)  # the trained answers are 30-50 tokens
QUERIES = 2  # of the family's 3 queries (same answers): enough to see each prompt vary


@functools.cache
def _comparator(family: Family, backend: str) -> Comparator:
    base, aligned = (ModelSpec(str(getattr(family, f)), device="cpu") for f in BACKENDS[backend])
    return Comparator.load(base, aligned)


@functools.cache
def _result(family: Family, backend: str, urial: str, query: str):
    return _comparator(family, backend).compare(ComparisonRequest(query, load_urial(urial), PARAMS, live=False))


@functools.cache
def _raw_gguf(path: Path) -> llama_cpp.Llama:
    return llama_cpp.Llama(str(path), logits_all=True, n_ctx=1024, verbose=False)


def _logits(family: Family, backend: str, side: str, ids: list[int]) -> np.ndarray:
    """The model's logits [len(ids), rows] from a plain forward pass: transformers or raw llama_cpp."""
    field = BACKENDS[backend][0 if side == "base" else 1]
    path = getattr(family, field)
    if field.startswith("hf"):
        with torch.no_grad():
            return hf_model(path)(input_ids=torch.tensor([ids])).logits[0].float().numpy()
    llm = _raw_gguf(path)
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def _in_context(tok, prompt: list[int], answer: list[int]) -> str:
    """What `answer` adds to the decoded prompt, by transformers' own decode."""
    return tok.decode(prompt + answer)[len(tok.decode(prompt)):]


@pytest.fixture(scope="module", autouse=True)
def _free_the_pairs():
    """The cached pairs hold a dozen models and their llama.cpp contexts: let them go after this module."""
    yield
    for cached in (_result, _comparator, _raw_gguf):
        cached.cache_clear()


@pytest.fixture(params=[(b, u) for b in BACKENDS for u in URIALS], ids=lambda p: f"{p[0]}-{p[1]}")
def case(request, family):
    backend, urial = request.param
    return family, backend, urial


def test_token_texts_are_the_answer_text_in_context(case):
    family, backend, urial = case
    tok = hf_tokenizer(family.hf_aligned)
    for query in family.queries[:QUERIES]:
        result = _result(family, backend, urial, query)
        for side in (result.aligned, result.base):
            ids = [t.id for t in side.tokens]
            joined = "".join(t.text for t in side.tokens)
            assert joined == side.text == _in_context(tok, side.prompt_ids, ids)
            assert joined.count("\ufffd") == tok.decode(ids).count("\ufffd")  # none the model did not write
        assert result.aligned.text.strip() == family.aligned_answer.strip()


def test_prompts_bos_and_the_real_end_tokens(case):
    family, backend, urial = case
    tok = hf_tokenizer(family.hf_aligned)
    base_tok = hf_tokenizer(family.hf_base)
    gguf_base = BACKENDS[backend][0].startswith("gguf")
    for query in family.queries[:QUERIES]:
        result = _result(family, backend, urial, query)
        chat = tok.apply_chat_template([{"role": "user", "content": query}], add_generation_prompt=True,
                                       tokenize=False)
        assert result.aligned.prompt_ids == tok(chat, add_special_tokens=False).input_ids
        assert chat == chat_text(tok, query)
        want_base = base_tok(base_prompt(query, load_urial(urial))).input_ids  # with the BOS HF adds, if any
        adds_bos = family.gguf_adds_bos if gguf_base else family.adds_bos
        if adds_bos and not family.adds_bos:  # Phi-3: its GGUF says add a BOS, its HF tokenizer adds none
            want_base = [family.bos_id, *want_base]
        assert result.base.prompt_ids == want_base
        bos_count = result.base.prompt_ids.count(family.bos_id) if family.bos_id is not None else 0
        assert bos_count == (1 if adds_bos else 0) and (not adds_bos or result.base.prompt_ids[0] == family.bos_id)
        # the aligned answer ends on the end-of-turn token it was trained to write
        assert [t.id for t in result.aligned.tokens] == list(family.aligned_answer_ids)
        assert result.aligned.finish_reason == "eos"
        if urial == "none":  # the base answer ends on the base eos (Llama 3: <|end_of_text|>, not <|eot_id|>)
            assert [t.id for t in result.base.tokens] == list(family.base_answer_ids)
            assert result.base.finish_reason == "eos"


def test_ranks_equal_an_independent_forward_pass(case):
    family, backend, urial = case
    query = family.queries[0]
    result = _result(family, backend, urial, query)
    shared = family.vocab_size  # padded rows (Qwen) are not tokens
    for side, other in (("aligned", "base"), ("base", "aligned")):
        answer = result.side(side)
        context = result.side(other).prompt_ids
        ids = [t.id for t in answer.tokens]
        logits = _logits(family, backend, other, context + ids)[len(context) - 1 : -1, :shared]
        want = [int((row > row[i]).sum()) + 1 for row, i in zip(logits, ids)]
        assert [t.other_rank for t in answer.tokens] == want, side


def test_hf_and_gguf_give_the_same_prompts_answers_and_texts(family):
    for urial in URIALS:
        for query in family.queries[:QUERIES]:
            hf, gguf = _result(family, "hf", urial, query), _result(family, "gguf", urial, query)
            assert gguf.aligned.prompt_ids == hf.aligned.prompt_ids
            assert [t.id for t in gguf.aligned.tokens] == [t.id for t in hf.aligned.tokens]
            assert [t.text for t in gguf.aligned.tokens] == [t.text for t in hf.aligned.tokens]
            if family.gguf_adds_bos == family.adds_bos:
                assert gguf.base.prompt_ids == hf.base.prompt_ids
            if urial == "none":  # the trained answer; a URIAL prompt's base answer is untrained noise
                assert [(t.id, t.text) for t in gguf.base.tokens] == [(t.id, t.text) for t in hf.base.tokens]


def test_lone_tokens_never_look_alike(family):
    """Top-k entries show a token alone: every id of the vocabulary reads differently, on HF and GGUF."""
    comparator = _comparator(family, "mixed")  # GGUF base, HF aligned
    hf = hf_tokenizer(family.hf_base)
    for tokenizer in (comparator.base.tokenizer, comparator.aligned.tokenizer):
        pieces = [tokenizer.piece(i) for i in range(family.vocab_size)]
        assert len(set(pieces)) == family.vocab_size
        # U+FFFD only in tokens that hold that character (every vocabulary here has some): it is
        # in transformers' own decoding of the token, and more of them than partial characters
        replaced = [i for i, piece in enumerate(pieces) if "\ufffd" in piece]
        assert all("\ufffd" in hf.decode([i]) for i in replaced)
        assert len(replaced) < 20 < sum("\ufffd" in hf.decode([i]) for i in range(family.vocab_size))


def test_both_backends_stop_on_the_whole_end_of_generation_set(family):
    """A Llama 3 answer that ends in <|end_of_text|> ends there on GGUF too (the aligned GGUF's eos is
    <|eot_id|>; llama.cpp's end-of-generation set has both, and <|eom_id|>), as on HF."""
    for hf_field, gguf_field in (("hf_base", "gguf_base"), ("hf_aligned", "gguf_aligned")):
        hf = _comparator(family, "hf").base if hf_field == "hf_base" else _comparator(family, "hf").aligned
        gguf = _comparator(family, "gguf").base if gguf_field == "gguf_base" else _comparator(family, "gguf").aligned
        assert gguf.tokenizer.eos_ids == family.eog_ids  # llama_vocab_is_eog, read by the fixture builder
        # HF also stops on its generation_config's ids, which a GGUF does not carry (Phi-3.5: <|assistant|>)
        assert hf.tokenizer.eos_ids <= gguf.tokenizer.eos_ids | set(family.generation_eos_ids)
        assert {family.aligned_end_id, family.base_end_id} <= hf.tokenizer.eos_ids
    assert set(family.generation_eos_ids) & family.eog_ids <= _comparator(family, "hf").aligned.tokenizer.eos_ids


@pytest.mark.parametrize("name", ["llama2", "phi3"])
def test_a_length_cut_gives_the_same_answer_on_hf_and_gguf(families, name):
    """SentencePiece: the base answer cut right after a lone `▁` (held: it may start the closing fence)
    or inside a character; HF's decoder drops a lone space that llama.cpp's keeps, so the held space
    was kept on one backend and dropped on the other."""
    family = families[name]
    space = list(family.base_answer_ids).index(hf_tokenizer(family.hf_base).convert_tokens_to_ids("▁"))
    for n in (space + 1, space + 2):  # ends on the space; ends inside the emoji after it
        answers: dict[str, list] = {}
        for backend in ("hf", "gguf"):
            result = _comparator(family, backend).compare(
                ComparisonRequest(family.queries[0], None, DecodingParams(max_new_tokens=n), live=False))
            answers[backend] = [(t.id, t.text) for t in result.base.tokens]
            assert result.base.finish_reason == "length"
        assert answers["hf"] == answers["gguf"], n
        if n == space + 1:
            assert [i for i, _ in answers["hf"]] == list(family.base_answer_ids[:space])
    # the held space is dropped at the cut (trailing whitespace); cut inside the emoji, it stays
    assert [i for i, _ in answers["hf"]] == list(family.base_answer_ids[: space + 2])
    assert answers["hf"][-2:] == [(family.base_answer_ids[space], " "), (family.base_answer_ids[space + 1], "\ufffd")]
