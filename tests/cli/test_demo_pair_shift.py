"""The bundled demo pair shows the URIAL paper's shift picture (issue #15): measured through
`alignterm analyze` on its 12 queries, greedy, 128 new tokens, as a user would run it."""

from __future__ import annotations

import json
import re

import pytest

from alignterm.cli import main
from alignterm.engine.demo import QUERIES_FILE
from alignterm.engine.demo.corpus import style_phrases


def _analyze(folder, urial: str) -> list[dict]:
    out = folder / f"{urial}.jsonl"
    code = main(["analyze", "--queries", str(QUERIES_FILE), "--urial", urial, "--max-new-tokens", "128",
                 "--format", "jsonl", "-o", str(out)])
    assert code == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    return _analyze(tmp_path_factory.mktemp("bare"), "none")


@pytest.fixture(scope="module")
def urial(tmp_path_factory):
    return _analyze(tmp_path_factory.mktemp("urial"), "default")


def shares(token_lists) -> dict[str, float]:
    tokens = [t for tokens in token_lists for t in tokens]
    return {c: sum(t["shift"] == c for t in tokens) / len(tokens) for c in ("unshifted", "marginal", "shifted")}


def style_mask(tokens: list[dict]) -> list[bool]:
    """Per token: whether it overlaps a style phrase (any name in a caveat) by a non-space character."""
    text = "".join(t["text"] for t in tokens)
    marked = [False] * len(text)
    for phrase in style_phrases():
        head, tail = phrase[0], re.escape(phrase[1:]).replace(re.escape("{name}"), r"[A-Z][a-z]+")
        rx = (f"[{head.upper()}{head.lower()}]" if head.isalpha() else re.escape(head)) + tail
        for m in re.finditer(rx, text):
            marked[m.start():m.end()] = [True] * (m.end() - m.start())
    mask, pos = [], 0
    for t in tokens:
        mask.append(any(marked[i] and not text[i].isspace() for i in range(pos, pos + len(t["text"]))))
        pos += len(t["text"])
    return mask


def test_the_aligned_answers_under_the_bare_prompt_show_the_papers_shares(bare):
    s = shares(r["aligned"]["tokens"] for r in bare)
    assert 0.75 <= s["unshifted"] <= 0.92 and 0.05 <= s["marginal"] <= 0.15 and 0.03 <= s["shifted"] <= 0.10, s


def test_shifted_tokens_are_style_tokens_spread_through_the_answer_most_often_early(bare):
    shifted = style = 0
    per_answer, first, rest = [], [0, 0], [0, 0]
    for r in bare:
        tokens = r["aligned"]["tokens"]
        positions = [i for i, t in enumerate(tokens) if t["shift"] == "shifted"]
        per_answer.append(len(positions))
        mask = style_mask(tokens)
        shifted += len(positions)
        style += sum(mask[i] for i in positions)
        for i, t in enumerate(tokens):
            bucket = first if i < 8 else rest
            bucket[0] += t["shift"] == "shifted"
            bucket[1] += 1
    assert style / shifted >= 0.8, (style, shifted)
    assert sum(per_answer) / len(per_answer) >= 3, per_answer
    assert first[0] / first[1] > 2 * rest[0] / rest[1], (first, rest)  # the first 8 positions, then falling off


def test_a_urial_prompt_recovers_much_not_all_and_the_base_still_answers_its_own_way(bare, urial):
    bare_shifted = shares(r["aligned"]["tokens"] for r in bare)["shifted"]
    urial_shifted = shares(r["aligned"]["tokens"] for r in urial)["shifted"]
    closure = 1 - urial_shifted / bare_shifted
    assert 0.3 <= closure <= 0.8, closure
    differ = sum(r["base"]["text"].strip() != r["aligned"]["text"].strip() for r in urial)
    assert differ >= 8, differ
    assert shares(r["base"]["tokens"] for r in bare)["shifted"] >= 0.03  # what alignment suppresses


def test_no_base_answer_starts_with_a_leaked_prompt_word(bare, urial):
    leaked = [r["base"]["text"][:20] for rs in (bare, urial) for r in rs
              if re.match(r"\s*(Answer|Query|Summary|Instruction|#|```)", r["base"]["text"])]
    assert not leaked
