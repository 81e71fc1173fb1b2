"""Real pairs beyond "same vocabulary": fine-tunes that add or rename special tokens, vocabularies
that really differ, the app on a SentencePiece family, and load progress."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignterm.cli import main
from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.errors import TokenizerMismatch
from alignterm.engine.loading import load_backend
from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.tui.app import AlignTermApp
from alignterm.tui.model_host import LoadStep

from ..tui.conftest import run_query, screen_lines, wait_until
from .build import Family


def _chatml_finetune(family: Family, folder: Path) -> int:
    """The aligned model with <|im_start|>/<|im_end|> added (a ChatML fine-tune of Mistral), made to
    begin its answer with <|im_start|>: a token the base model does not have. Its id."""
    tok = AutoTokenizer.from_pretrained(family.hf_aligned)
    model = AutoModelForCausalLM.from_pretrained(family.hf_aligned, dtype=torch.float32)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    model.resize_token_embeddings(len(tok))
    new = tok.convert_tokens_to_ids("<|im_start|>")
    with torch.no_grad():
        rows = model.get_output_embeddings().weight
        rows[new] = rows[family.aligned_answer_ids[0]] * 3  # outranks the answer's first token
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    return new


def test_a_finetune_that_adds_tokens_is_accepted_and_its_own_tokens_are_not_scored(families, tmp_path, capfd):
    family = families["llama2"]
    new = _chatml_finetune(family, tmp_path / "chatml")
    base, aligned = ModelSpec(str(family.hf_base), device="cpu"), ModelSpec(str(tmp_path / "chatml"), device="cpu")
    comparator = Comparator.load(base, aligned)
    assert "the aligned vocabulary has 2 tokens the base lacks (32000 '<|im_start|>', 32001 '<|im_end|>')" \
        in comparator.vocab.notice
    result = comparator.compare(ComparisonRequest(family.queries[0], None, DecodingParams(max_new_tokens=12)))
    tokens = result.aligned.tokens
    assert tokens[0].id == new and tokens[0].logprob > -1.0  # the aligned model's own measure stays
    for t in tokens:  # its own token has no measure under the base model; every other token has one
        assert (t.other_rank, t.shift, t.kl, t.other_logprob) == (None,) * 4 if t.id == new else t.shift is not None
    assert all(t.shift is not None for t in result.base.tokens)
    assert result.summary.aligned.unscored == sum(t.id == new for t in tokens) < len(tokens)

    capfd.readouterr()  # what building the fine-tune printed
    code = main(["analyze", "--query", family.queries[0], "--base", base.spec, "--aligned", aligned.spec,
                 "--urial", "none", "--max-new-tokens", "4"])
    out, err = capfd.readouterr()
    assert code == 0 and err.startswith("alignterm: note: base and aligned vocabularies differ only in special tokens")
    assert json.loads(out)["aligned"]["tokens"][0]["other_rank"] is None


def test_a_finetune_that_renames_a_reserved_token_is_accepted_with_a_notice(families, tmp_path):
    family = families["llama3"]
    folder = tmp_path / "renamed"
    shutil.copytree(family.hf_aligned, folder)
    tok = AutoTokenizer.from_pretrained(folder)
    reserved = tok.convert_tokens_to_ids("<|reserved_special_token_0|>")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        path = folder / name
        if path.exists():
            path.write_text(path.read_text().replace("<|reserved_special_token_0|>", "<tool_call>"))
    assert AutoTokenizer.from_pretrained(folder).convert_ids_to_tokens(reserved) == "<tool_call>"
    comparator = Comparator.load(ModelSpec(str(family.hf_base), device="cpu"), ModelSpec(str(folder), device="cpu"))
    assert comparator.vocab.notice == (
        f"base and aligned vocabularies differ only in special tokens: 1 special tokens are named differently "
        f"({reserved} '<|reserved_special_token_0|>'/'<tool_call>'); those tokens get no measure under the other model")
    assert not comparator.vocab.shared(reserved) and comparator.vocab.shared(reserved - 1)


def test_different_vocabularies_are_still_refused(families):
    with pytest.raises(TokenizerMismatch, match=r"^base and aligned tokenizers differ: token \d+ is "):
        Comparator.load(ModelSpec(str(families["llama3"].hf_base), device="cpu"),
                        ModelSpec(str(families["qwen2"].hf_aligned), device="cpu"))


async def test_the_app_shows_a_sentencepiece_answer_with_its_spaces_and_characters(families):
    family = families["llama2"]
    base, aligned = ModelSpec(str(family.hf_base), device="cpu"), ModelSpec(str(family.hf_aligned), device="cpu")
    app = AlignTermApp(base, aligned, "none", DecodingParams(max_new_tokens=64), family.queries[0],
                       comparator=Comparator.load(base, aligned), monochrome=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        assert "".join(t.text for t in app.pane("aligned").tokens) == " " + family.aligned_answer
        screen = "\n".join(screen_lines(app))
        for words in ("Bonjour !  こんにちは 🙂🦙 — naïve", "café,   鱻 ✓", "Hallo   Welt… Grüße aus Köln", "你好, ½ ✓"):
            assert words in screen, words
        assert "\ufffd" not in screen


def test_loading_reports_the_weights_as_they_load(families):
    seen: list[str] = []
    load_backend(ModelSpec(str(families["qwen2"].hf_base), device="cpu"), seen.append)
    assert seen and seen[-1].startswith("Loading weights") and seen[-1].endswith("/" + seen[-1].split("/")[-1])
    done, total = seen[-1].rsplit(" ", 1)[1].split("/")
    assert done == total and int(total) > 0


async def test_the_app_loading_line_says_how_far_the_load_is(families):
    family = families["llama3"]
    app = AlignTermApp(ModelSpec(str(family.hf_base), device="cpu"), ModelSpec(str(family.hf_aligned), device="cpu"),
                       "none", DecodingParams(max_new_tokens=8), family.queries[0], monochrome=False)
    shown: list[str] = []  # the status line after each loading step the app handled

    def hook(message) -> None:
        if isinstance(message, LoadStep):
            shown.append(message.step.text)

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await wait_until(pilot, lambda: app.comparator is not None or app.load_error is not None, timeout=300)
        assert app.load_error is None
        assert shown and shown[-1] == app.compare.status_line.detail  # the line draws the last step
    for side in ("base", "aligned"):
        assert any(s.startswith(f"loading the {side} model… Loading weights") for s in shown), shown
