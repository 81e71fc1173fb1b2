"""Untrusted token text never reaches the terminal raw."""

from alignterm.display import visible


def test_control_and_invisible_characters_become_visible_escapes():
    raw = "a\x1b[31mred\x07\r\x00\u200b\u202e\x1b]52;c;aGk=\x07"
    shown = visible(raw)
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown and "\x00" not in shown
    assert "\u200b" not in shown and "\u202e" not in shown
    assert shown.startswith("a\\x1b[31mred\\x07\\x0d\\x00\\u200b\\u202e")


def test_plain_text_newlines_and_unicode_pass_through():
    assert visible("Hello, wörld 🌍\n\tok") == "Hello, wörld 🌍\n\tok"


def test_whitespace_can_be_made_visible_for_the_inspector():
    assert visible(" \n\t", show_whitespace=True) == "·↵\n→"
