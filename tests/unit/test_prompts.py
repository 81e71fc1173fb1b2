"""Prompt building in the exact URIAL format, and the base answer's stop rules."""

import pytest

from alignterm.engine import prompts
from alignterm.engine.errors import BadInput

URIAL = (
    "# Instruction\n\nBe helpful.\n\n"
    "# Query:\n```\nWhat is Zorbin?\n```\n\n"
    "# Answer:\n```\nHello! Zorbin is a town.\n```\n"
)


def test_urial_prompt_for_a_known_query_is_the_golden_string():
    got = prompts.base_prompt("Who founded Quellin?", URIAL)
    assert got == (
        "# Instruction\n\nBe helpful.\n\n"
        "# Query:\n```\nWhat is Zorbin?\n```\n\n"
        "# Answer:\n```\nHello! Zorbin is a town.\n```\n"
        "\n# Query:\n```\nWho founded Quellin?\n```\n\n# Answer:\n```\n"
    )


def test_bare_prompt_is_the_query_block_alone():
    assert prompts.base_prompt("Who founded Quellin?", None) == (
        "# Query:\n```\nWho founded Quellin?\n```\n\n# Answer:\n```\n"
    )


def test_bundled_prompts_are_listed_and_load():
    names = prompts.bundled_urial_names()
    assert {"default", "preamble", "none"} <= set(names)
    default = prompts.load_urial("default")
    assert default.startswith("# Instruction") and default.count("# Query:") == 3
    assert default.count("# Answer:") == 3 and default.endswith("```\n")
    preamble = prompts.load_urial("preamble")
    assert preamble.startswith("# Instruction") and "# Query:" not in preamble
    assert prompts.load_urial("none") is None


def test_urial_file_by_path(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text(URIAL, encoding="utf-8")
    assert prompts.load_urial(str(f)) == URIAL


@pytest.mark.parametrize("content", ["", "just some text\nwith no markers\n"])
def test_a_file_that_is_not_a_urial_prompt_is_refused(tmp_path, content):
    f = tmp_path / "bad.txt"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(BadInput):
        prompts.load_urial(str(f))


def test_unknown_urial_name_is_refused_with_the_choices():
    with pytest.raises(BadInput, match="default"):
        prompts.load_urial("no-such-prompt")


@pytest.mark.parametrize(
    "text,cut",
    [
        ("Zorbin is a town.\n```\n\n# Query:\n", len("Zorbin is a town.")),
        ("Zorbin is a town.\n# User", len("Zorbin is a town.")),
        ("Zorbin is a town.", None),
        ("It uses ``` fences.\n```\n# Query", len("It uses ``` fences.")),
    ],
)
def test_stop_cut_drops_the_stop_string_and_the_closing_fence(text, cut):
    assert prompts.stop_cut(text) == cut


@pytest.mark.parametrize(
    "tail,expected",
    [("\n", True), ("\n``", True), ("```\n\n#", True), ("\n# Qu", True), ("Hello", False), ("\n# Title", False),
     ("", False)],
)
def test_held_back_text_is_what_may_grow_into_a_stop(tail, expected):
    assert prompts.may_start_stop(tail) is expected


def test_empty_query_is_refused():
    with pytest.raises(BadInput, match="empty"):
        prompts.check_query("   \n")
