"""AnswerPane: the token cursor in every theme and in monochrome, n / p, and word wrap.

Hand-made TokenEvents in a bare app holding one pane, as in test_widgets.py.
"""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.color import Color, rgb_to_lab
from textual.theme import Theme

from alignterm.engine.events import TokenEvent, TopEntry
from alignterm.themes import BUNDLED, load_themes
from alignterm.tui.palette import DEFAULT_PALETTE
from alignterm.tui.widgets.answer_pane import AnswerPane

RANKS = {"unshifted": 1, "marginal": 2, "shifted": 9, None: None}


def token(i: int, text: str, shift: str | None = "unshifted") -> TokenEvent:
    top = (TopEntry(i, text, -0.1), TopEntry(999, " other", -2.0))
    other_logprob = None if shift is None else -1.0  # None: unscored (a server that cannot score)
    return TokenEvent("aligned", i, i, text, -0.1, other_logprob, RANKS[shift], shift, None, top, top)  # type: ignore[arg-type]


class PaneApp(App):
    """One answer pane, in one of the bundled themes (by default Textual's own theme)."""

    def __init__(self, theme: str | None = None) -> None:
        super().__init__()
        if theme is not None:
            files, notices = load_themes()
            assert not notices
            t = files[theme]
            self.register_theme(Theme(name=t.name, dark=t.dark, variables=t.css_variables(), **t.app))
            self.theme = t.name

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return DEFAULT_PALETTE.css_variables()

    def compose(self) -> ComposeResult:
        yield AnswerPane("aligned", id="pane")


def line_texts(pane: AnswerPane) -> list[str]:
    return ["".join(s.text for s in pane.render_answer_line(y)) for y in range(pane.line_count)]


def token_segments(pane: AnswerPane, index: int) -> list:
    return [s for y in range(pane.line_count) for s in pane.render_answer_line(y)
            if s.text and s.style.meta.get("token") == index]


# ---- 1. the cursor is told apart from every category, in every theme and in mono ----------


def look(style: Style, base: Style) -> tuple:
    """What a terminal shows for `style`: the colours as drawn (reverse applied) and the text attributes."""
    fg = (style.color or base.color).get_truecolor()
    bg = (style.bgcolor or base.bgcolor).get_truecolor()
    if style.reverse:
        fg, bg = bg, fg
    return fg, bg, bool(style.bold), bool(style.italic), bool(style.underline), bool(style.overline)


def lab_distance(a, b) -> float:
    la, lb = rgb_to_lab(Color(*a)), rgb_to_lab(Color(*b))
    return ((la.L - lb.L) ** 2 + (la.a - lb.a) ** 2 + (la.b - lb.b) ** 2) ** 0.5


CATEGORIES = ["unshifted", "marginal", "shifted", None]


@pytest.mark.parametrize("mono", [False, True], ids=["colour", "mono"])
@pytest.mark.parametrize("theme", BUNDLED)
async def test_the_cursor_differs_from_every_category_in_every_theme(theme, mono):
    app = PaneApp(theme)
    async with app.run_test(size=(60, 8)) as pilot:
        pane = app.query_one(AnswerPane)
        pane.monochrome = mono
        words = ["alpha", " beta", " gamma", " delta"]
        pane.extend(token(i, w, c) for i, (w, c) in enumerate(zip(words, CATEGORIES)))
        await pilot.pause()
        base = pane.rich_style
        plain = [token_segments(pane, i)[0].style for i in range(4)]
        plain_looks = [look(s, base) for s in plain]
        assert len(set(plain_looks[:3])) == 3, "the scored categories differ from each other"
        colours = [(s.color or base.color).get_truecolor() for s in plain]  # each category's own colour
        for i, category in enumerate(CATEGORIES):
            pane.move_cursor(i)
            await pilot.pause()
            [segment] = token_segments(pane, i)
            under = look(segment.style, base)
            for j, other in enumerate(CATEGORIES):
                assert under != plain_looks[j], f"{theme}: cursor on {category} looks like {other}: {segment.style}"
            # the cursor adds no colour of its own: a blue token stays blue, only drawn as a block
            assert {under[0], under[1]} <= {colours[i], base.bgcolor.get_truecolor()}, (theme, category, segment.style)
            if not mono:
                nearest = min(range(4), key=lambda j: lab_distance(under[1], colours[j]))
                assert nearest == i, f"{theme}: cursor on {category} has the background of {CATEGORIES[nearest]}"
            for j in set(range(4)) - {i}:  # the other tokens are drawn as before
                assert token_segments(pane, j)[0].style == plain[j]


@pytest.mark.parametrize("mono", [False, True], ids=["colour", "mono"])
async def test_a_space_under_the_cursor_is_drawn_differently(mono):
    app = PaneApp("dark")
    async with app.run_test(size=(60, 8)) as pilot:
        pane = app.query_one(AnswerPane)
        pane.monochrome = mono
        tokens = [token(2 * k + 1, w, c) for k, (w, c) in enumerate(zip(["a", "b", "c", "d"], CATEGORIES))]
        spaces = [token(2 * k + 2, "  ", c) for k, c in enumerate(CATEGORIES)]
        pane.extend(sorted([token(0, "x"), *tokens, *spaces], key=lambda t: t.position))
        await pilot.pause()
        base = pane.rich_style
        for space in spaces:
            i = space.position
            before = look(token_segments(pane, i)[0].style, base)
            pane.move_cursor(i)
            await pilot.pause()
            after = look(token_segments(pane, i)[0].style, base)
            # a space shows only its background and an underline
            assert (before[1], before[4]) != (after[1], after[4]), (space.shift, before, after)


# ---- 2. n / p stop on marginal tokens too ------------------------------------------------------


async def test_n_and_p_stop_on_shifted_and_marginal_tokens():
    app = PaneApp()
    async with app.run_test(size=(40, 8)) as pilot:
        pane = app.query_one(AnswerPane)
        rings: list[int] = []
        app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
        shifts = ["unshifted", "marginal", "unshifted", "shifted"]
        pane.extend(token(i, f" w{i}", s) for i, s in enumerate(shifts))
        pane.focus()
        await pilot.pause()
        assert pane.has_focus and pane.cursor == -1
        await pilot.press("n")
        assert pane.cursor == 1 and not rings
        await pilot.press("n")
        assert pane.cursor == 3 and not rings
        await pilot.press("n")
        assert pane.cursor == 3 and rings == [1]
        await pilot.press("p")
        assert pane.cursor == 1 and rings == [1]
        binding = next(b for b in AnswerPane.BINDINGS if b.action == "next_shifted")
        assert "marginal" in binding.description


# ---- 3. word wrap keeps punctuation and word pieces with their word ----------------------------

PADEN = ["It", " lies", " on", " the", " river", " Pa", "den", ".", " However"]


def start_is_drawn_there(pane: AnswerPane, index: int) -> bool:
    """The (line, x) `_start_of` gives for token `index` is where its first cell is drawn."""
    y, x = pane._start_of(index)
    cells = 0
    for segment in pane.render_answer_line(y):
        if segment.style.meta.get("token") == index:
            return cells == x
        cells += segment.cell_length
    return False


async def test_punctuation_wraps_with_its_word():
    app = PaneApp()
    async with app.run_test(size=(31, 12)) as pilot:
        pane = app.query_one(AnswerPane)
        assert pane.scrollable_content_region.width == 26 == len("It lies on the river Paden")
        for i, text in enumerate(PADEN):  # streamed one at a time, the line cache full in between
            pane.append(token(i, text))
            for y in range(pane.line_count):
                pane.render_answer_line(y)
        await pilot.pause()
        lines = line_texts(pane)
        pane._cache.clear()
        assert line_texts(pane) == lines, "appending repainted every line it changed"
        assert lines[:2] == ["It lies on the river", "Paden. However"]
        assert not any(line.startswith(".") for line in lines)
        assert [pane._layout.token_lines[i] for i in range(len(PADEN))] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
        pane.set_tokens(list(pane.tokens))  # a full layout gives the same lines
        assert line_texts(pane) == lines


async def test_a_word_longer_than_the_line_still_splits():
    app = PaneApp()
    async with app.run_test(size=(31, 12)) as pilot:
        pane = app.query_one(AnswerPane)
        width = pane.scrollable_content_region.width
        words = ["A", " super", "cal", "ifrag", "ilistic", "expial", "idocious", "ly", "!", " Yes", "."]
        pane.extend(token(i, w) for i, w in enumerate(words))
        await pilot.pause()
        lines = line_texts(pane)
        assert all(len(line) <= width for line in lines)
        assert "".join(lines).replace(" ", "") == "".join(words).replace(" ", "")  # each character once
        assert not any("supercalifragilisticexpialidociously!" in line for line in lines)
        assert all(start_is_drawn_there(pane, i) for i in range(len(words)))


async def test_the_cursor_follows_a_moved_word():
    app = PaneApp()
    async with app.run_test(size=(31, 12)) as pilot:
        pane = app.query_one(AnswerPane)
        pane.extend(token(i, t) for i, t in enumerate(PADEN))
        await pilot.pause()
        assert all(start_is_drawn_there(pane, i) for i in range(len(PADEN)))
        assert pane._start_of(5) == (1, 0) and pane._start_of(7) == (1, 5)
        pane.move_cursor(7)  # the "."
        await pilot.pause()
        cursor_line = [s for s in pane.render_answer_line(1) if s.style.meta.get("token") == 7]
        assert [s.text for s in cursor_line] == ["."] and cursor_line[0].style.reverse
        await pilot.press("up")
        assert pane._start_of(pane.cursor)[0] == 0
        await pilot.press("down")
        assert pane._start_of(pane.cursor)[0] == 1


@pytest.mark.parametrize("theme", sorted(BUNDLED))
async def test_unscored_tokens_and_the_placeholder_are_muted_and_visible_in_every_theme(theme):
    """They were drawn white in every theme (a component class's `$text-muted` resolves to white),
    so on the light theme they could not be seen."""
    app = PaneApp(theme)
    async with app.run_test(size=(40, 6)) as pilot:
        pane = app.query_one(AnswerPane)
        pane.placeholder = "Type a query and press Enter."
        await pilot.pause()
        _, _, background, foreground = pane.colors
        placeholder = [s for s in pane.render_answer_line(0) if s.text.strip()][0].style.color
        pane.extend([token(0, "word", None)])
        await pilot.pause()
        unscored = [s for s in pane.render_answer_line(0) if s.text.strip()][0].style.color
        for colour in (placeholder, unscored):
            drawn = Color.from_rich_color(colour)
            assert drawn != background and drawn != foreground, (theme, drawn)
            assert abs(drawn.brightness - background.brightness) > 0.25, (theme, drawn, background)
