"""`analyze --format pretty --show-prompts`: the printed prompts are the ids of the JSON record, their text
is what the demo tokenizer decodes them to, and the base prompt splits where the query block starts."""

import json
import re

import pytest
from transformers import AutoTokenizer

from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR

from ..conftest import one_clear_line, run_main

QUERY = "Where was Drarre from?"
FLAGS = ("--query", QUERY, "--max-new-tokens", "5", "--top-k", "0")
# the query block a URIAL prompt is followed by (the URIAL repository's format, written out here)
BLOCK = f"\n# Query:\n```\n{QUERY}\n```\n\n# Answer:\n```\n"


def parse(pretty: str) -> dict[str, list[tuple[str, str, list[int]]]]:
    """Per prompt section (its rule's title): its parts as (label, text as printed, ids)."""
    sections: dict[str, list[tuple[str, str, list[int]]]] = {}
    lines = pretty.split("╭")[0].splitlines()  # the prompts come before the answers' panels
    i = 0
    while i < len(lines):
        if lines[i].startswith("prompt · "):
            current = sections.setdefault(lines[i].split(" · ")[1], [])
        elif m := re.fullmatch(r"\[(\w+)\] tokens (\d+)–(\d+)", lines[i]):
            j = next(k for k in range(i, len(lines)) if re.fullmatch(r"ids \d+–\d+:", lines[k]))
            text = "\n".join(lines[i + 1 : j])
            ids: list[int] = []
            i = j + 1
            while i < len(lines) and re.fullmatch(r"  [\d ]+", lines[i]):
                ids += map(int, lines[i].split())
                i += 1
            current.append((m[1], text, ids))
            continue
        i += 1
    return sections


def squeezed(text: str) -> str:
    """Text without whitespace or the newline marks: what wrapping to 80 columns cannot change."""
    return re.sub(r"\s", "", text.replace("↵", ""))


@pytest.fixture(scope="module")
def shown():
    pretty = run_main("analyze", *FLAGS, "--format", "pretty", "--show-prompts")
    assert pretty.returncode == 0, pretty.stderr
    jsonl = run_main("analyze", *FLAGS, "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    return parse(pretty.stdout), json.loads(jsonl.stdout), pretty.stdout


def test_the_printed_ids_are_the_records_prompt_ids(shown):
    sections, record, _ = shown
    assert list(sections) == ["aligned model: chat template", "base model: URIAL (default)",
                              "base model: bare prompt (the closure's baseline)"]
    ids = [sum((part[2] for part in parts), []) for parts in sections.values()]
    assert ids == [record["aligned"]["prompt_ids"], record["base"]["prompt_ids"], record["aligned_bare"]["prompt_ids"]]


def test_the_text_is_what_the_ids_decode_to_with_special_tokens(shown):
    sections, _, _ = shown
    for (title, parts), folder in zip(sections.items(), (ALIGNED_DIR, BASE_DIR, BASE_DIR), strict=True):
        tok = AutoTokenizer.from_pretrained(folder)
        for _, text, ids in parts:
            assert squeezed(text) == squeezed(tok.decode(ids, skip_special_tokens=False)), title
    aligned_text = sections["aligned model: chat template"][0][1]
    assert aligned_text.startswith("<|endoftext|><|user|>")  # the BOS and the chat template's tokens, literally
    assert "<|assistant|>" in aligned_text


def test_the_base_prompt_splits_where_the_query_block_starts(shown):
    sections, record, _ = shown
    (label_u, _, urial_ids), (label_q, query_text, query_ids) = sections["base model: URIAL (default)"]
    assert (label_u, label_q) == ("URIAL", "query")
    tok = AutoTokenizer.from_pretrained(BASE_DIR)
    full = tok.decode(record["base"]["prompt_ids"], skip_special_tokens=False)
    assert full.endswith(BLOCK)
    start, cut = len(full) - len(BLOCK), len(urial_ids)
    ids = record["base"]["prompt_ids"]
    # the URIAL part holds only prompt text before the block; its next token reaches into the block
    assert len(tok.decode(ids[:cut], skip_special_tokens=False)) <= start
    assert len(tok.decode(ids[: cut + 1], skip_special_tokens=False)) > start
    assert squeezed(query_text) == squeezed(BLOCK)


def test_ids_and_text_stay_within_80_columns(shown):
    _, _, pretty = shown
    head = pretty.split("╭")[0]  # the prompts, before the answers
    assert max(len(line.rstrip()) for line in head.splitlines()) <= 80


def test_without_the_flag_no_prompt_is_printed():
    proc = run_main("analyze", *FLAGS, "--format", "pretty")
    assert proc.returncode == 0, proc.stderr
    assert "prompt · " not in proc.stdout and "[URIAL]" not in proc.stdout


@pytest.mark.parametrize("flags", [("--format", "jsonl"), ("--format", "html"), ("--format", "csv"),
                                   ("--format", "pretty", "--samples", "2")])
def test_show_prompts_outside_a_pretty_comparison_is_refused_in_one_line(flags):
    line = one_clear_line(run_main("analyze", "--query", "hi", "--show-prompts", *flags))
    assert "--show-prompts" in line
