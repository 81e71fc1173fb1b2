"""Token text in context (engine/token_text.py) on a Llama-2-style SentencePiece tokenizer:
word-start spaces, byte-fallback tokens of multi-byte characters. The real families'
tokenizers are checked in tests/families; this one is built here so the rule is tested
without them."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers

from alignterm.engine.token_text import TextStream, lone_token_text, texts_in_context

WORDS = ["▁Bon", "jour", "▁!", "▁caf", "é", "▁na", "ïve", "▁—", "▁", "▁the", "▁cat"]


@pytest.fixture(scope="module")
def spm():
    """Llama 2's pipeline: prepend ▁, spaces as ▁, byte fallback, decoder strips the first space."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    vocab.update({w: 259 + i for i, w in enumerate(WORDS)})
    tok = Tokenizer(models.BPE(vocab, [], unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    return tok


def decode(tok):
    return lambda ids: tok.decode(list(ids), skip_special_tokens=False)


def test_texts_join_to_the_answer_with_its_spaces_and_whole_characters(spm):
    context = spm.encode("the cat").ids
    answer = spm.encode("Bonjour ! café 鱻 naïve —").ids
    texts = texts_in_context(decode(spm), context, answer)
    full = spm.decode(context + answer)
    assert "".join(texts) == full[len(spm.decode(context)):] == " Bonjour ! café 鱻 naïve —"
    assert "\ufffd" not in "".join(texts)
    # 鱻 is three byte tokens: the first two carry nothing, the third the whole character
    i = texts.index("鱻")
    assert texts[i - 2 : i] == ["", ""] and answer[i - 2 : i + 1] == [3 + 0xE9, 3 + 0xB1, 3 + 0xBB]


def test_an_answer_cut_inside_a_character_ends_with_the_replacement_it_really_wrote(spm):
    context = spm.encode("the cat").ids
    answer = spm.encode("café 鱻").ids[:-1]  # the last byte of 鱻 never came
    texts = texts_in_context(decode(spm), context, answer)
    assert texts[-2:] == ["", "\ufffd\ufffd"] and "".join(texts) == " café \ufffd\ufffd"


def test_the_stream_holds_a_partial_character_and_peeks_without_taking(spm):
    context = spm.encode("the").ids
    stream = TextStream(decode(spm), context)
    assert stream.push(spm.token_to_id("▁cat")) == [" cat"]
    assert stream.push(3 + 0xE9) is None and stream.held == 1
    assert stream.peek([3 + 0xB1, 3 + 0xBB]) == "鱻"
    assert stream.push(3 + 0xB1) is None
    assert stream.push(3 + 0xBB) == ["", "", "鱻"] and stream.held == 0


def test_a_lone_lead_byte_gets_its_own_replacement_once_it_is_no_character(spm):
    stream = TextStream(decode(spm), spm.encode("the").ids)
    assert stream.push(3 + 0xE6) is None
    assert stream.push(spm.token_to_id("▁cat")) == ["\ufffd", " cat"]


def test_a_lone_token_shows_bytes_that_are_not_a_character_as_hex():
    assert lone_token_text(b" Bon") == " Bon"
    assert lone_token_text("鱻".encode()[:2]) == "<0xE9><0xB1>"
    assert lone_token_text(b"caf\xc3") == "caf<0xC3>"
