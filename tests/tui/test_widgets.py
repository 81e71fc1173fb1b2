"""Widget unit tests on hand-made TokenEvents: layout, line cache, cursor, inspector, stats, history.

These check the widgets' own logic (wrapping, repainting, navigation); the measures they
show come from the engine in test_app.py.
"""

from __future__ import annotations

import json

from textual.app import App, ComposeResult

from alignterm.display import sparkline
from alignterm.engine.events import SideSummary, Summary, TokenEvent, TopEntry
from alignterm.tui.history import QueryHistory
from alignterm.tui.palette import DEFAULT_PALETTE
from alignterm.tui.widgets.answer_pane import AnswerPane
from alignterm.tui.widgets.inspector import TokenInspector
from alignterm.tui.widgets.stats_bar import StatsBar


def token(i: int, text: str, shift: str = "unshifted", rank: int = 1, differs: bool = False) -> TokenEvent:
    top = (TopEntry(i, text, -0.1), TopEntry(999, " other", -2.0))
    other_top = (TopEntry(999, " other", -0.5), TopEntry(i, text, -1.0)) if differs else top
    return TokenEvent("aligned", i, i, text, -0.1, -1.0, rank, shift, 0.25, top, other_top)  # type: ignore[arg-type]


class PaneApp(App):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return DEFAULT_PALETTE.css_variables()

    def compose(self) -> ComposeResult:
        yield AnswerPane("aligned", id="pane")
        yield TokenInspector(id="inspector")


def line_texts(pane: AnswerPane) -> list[str]:
    return ["".join(s.text for s in pane.render_answer_line(y)) for y in range(pane.line_count)]


async def test_tokens_wrap_at_token_boundaries_and_newlines():
    app = PaneApp()
    async with app.run_test(size=(24, 12)) as pilot:
        pane = app.query_one(AnswerPane)
        width = pane.scrollable_content_region.width
        words = ["Hello", "!", " Milbra", " is", " a", " town", " in", " the", " Zeltros", " region", ".", "\n", "It", " lies"]
        pane.extend(token(i, w) for i, w in enumerate(words))
        await pilot.pause()
        lines = line_texts(pane)
        assert all(len(line) <= width for line in lines)
        assert "".join(lines).replace(" ", "") == "".join(words).replace(" ", "").replace("\n", "")
        assert any(line.startswith("It") for line in lines)  # the newline token ends its line
        assert not any(line.startswith(" ") for line in lines)  # a wrapped word starts flush left
        for w in ("Hello!", "Milbra", "Zeltros", "region."):  # no word is split while it fits a line
            assert any(w in line for line in lines), (w, lines)


async def test_a_token_longer_than_the_line_is_split_and_control_characters_are_escaped():
    app = PaneApp()
    async with app.run_test(size=(16, 12)) as pilot:
        pane = app.query_one(AnswerPane)
        pane.extend([token(0, "x" * 40), token(1, "\x1b[31mred\x07")])
        await pilot.pause()
        text = "".join(line_texts(pane))
        assert "x" * 40 in text
        assert "\x1b" not in text and "\x07" not in text and "\\x1b[31mred\\x07" in text


async def test_appending_a_token_repaints_only_the_last_line():
    app = PaneApp()
    async with app.run_test(size=(30, 20)) as pilot:
        pane = app.query_one(AnswerPane)
        pane.extend(token(i, f" word{i}") for i in range(40))
        await pilot.pause()
        for y in range(pane.line_count):
            pane.render_answer_line(y)  # fill the line cache
        cached = dict(pane._cache)
        last = pane.line_count - 1
        pane.append(token(40, " more"))
        kept = [y for y in cached if y in pane._cache and pane._cache[y] is cached[y]]
        assert kept == [y for y in range(last)], "only the last line may be invalidated"


async def test_cursor_moves_by_token_line_and_to_shifted_tokens():
    app = PaneApp()
    async with app.run_test(size=(30, 20)) as pilot:
        pane = app.query_one(AnswerPane)
        shifts = ["unshifted", "shifted", "marginal", "unshifted", "shifted"] * 6
        pane.extend(token(i, f" w{i:02d}", s, 1 if s == "unshifted" else 5) for i, s in enumerate(shifts))
        await pilot.pause()
        pane.focus()
        await pilot.pause()
        assert pane.has_focus
        await pilot.press("right")  # (the pane had focus before it had tokens: no cursor yet)
        assert pane.cursor == 0
        await pilot.press("right", "right")
        assert pane.cursor == 2
        await pilot.press("n")
        assert pane.cursor == 4 and pane.cursor_token.shift == "shifted"
        await pilot.press("p")
        assert pane.cursor == 2 and pane.cursor_token.shift == "marginal"  # n / p stop on marginal tokens too
        await pilot.press("p")
        assert pane.cursor == 1
        await pilot.press("down")
        y0 = pane._layout.token_lines[1]
        assert pane._layout.token_lines[pane.cursor] == y0 + 1
        await pilot.press("end")
        assert pane.cursor == len(shifts) - 1
        await pilot.press("home")
        assert pane.cursor == 0


async def test_cursor_and_top1_styles_are_drawn():
    app = PaneApp()
    async with app.run_test(size=(30, 10)) as pilot:
        pane = app.query_one(AnswerPane)
        pane.extend([token(0, "Sure", "shifted", 9, differs=True), token(1, " thing")])
        pane.move_cursor(1)
        await pilot.pause()
        segments = [s for s in pane.render_answer_line(0) if s.text]
        assert segments[0].style.underline and not segments[1].style.underline
        assert segments[1].style.reverse and not segments[0].style.reverse  # the cursor: the token as a block


async def test_inspector_shows_whitespace_and_the_chosen_token():
    app = PaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        inspector = app.query_one(TokenInspector)
        inspector.show(token(3, " However", "shifted", 7, differs=True))
        await pilot.pause()
        text = "\n".join("".join(s.text for s in strip) for strip in app.screen._compositor.render_strips())
        assert "·However" in text and "rank 7 under base" in text and "top-1 differs" in text
        assert "▶1 ·However" in text and "▶2 ·However" in text


def test_sparkline_scales_to_the_largest_bucket():
    assert sparkline([0, 4, 8, 2]) == "▁▅█▃"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([1, 2]) == "▅█"
    assert sparkline([]) == ""


async def test_stats_bar_shows_a_summary():
    class StatsApp(App):
        def get_theme_variable_defaults(self):
            return DEFAULT_PALETTE.css_variables()

        def compose(self):
            yield StatsBar()

    app = StatsApp()
    async with app.run_test(size=(100, 5)) as pilot:
        bar = app.query_one(StatsBar)
        aligned = SideSummary(20, 17, 2, 1, 8, (1, 0, 0), (8, 8, 4))
        base = SideSummary(10, 10, 0, 0, 8, (0, 0), (8, 2))
        bar.set_summary(Summary(aligned, base, SideSummary(20, 15, 2, 3), 0.5))
        bar.set_speed("aligned", 12.5)
        await pilot.pause()
        base_line, aligned_line, closure_line = bar.plain_lines()  # the panes' order: base first
        assert "U 75.0%" in aligned_line and "S 15.0%" in aligned_line  # the bare lens: base + bare prompt
        bar.lens = "urial"
        base_line, aligned_line, closure_line = bar.plain_lines()
        assert "20 tok" in aligned_line and "U 85.0%" in aligned_line and "S  5.0%" in aligned_line
        assert "12.5 tok/s" in aligned_line and "█▁▁" in aligned_line
        assert "10 tok" in base_line and "U 100.0%" in base_line
        assert "bare 15.0% → URIAL 5.0%" in closure_line and "closure 0.50" in closure_line


def test_query_history_browses_and_persists(tmp_path):
    path = tmp_path / "history.jsonl"
    history = QueryHistory(path)
    for q in ("one", "two", "two", "three"):
        history.add(q)
    assert history.entries == ["one", "two", "three"]
    assert history.previous("draft") == "three"
    assert history.previous("three") == "two"
    assert history.next() == "three"
    assert history.next() == "draft"
    assert history.next() is None
    assert [json.loads(line) for line in path.read_text().splitlines()] == ["one", "two", "three"]
    assert QueryHistory(path).entries == ["one", "two", "three"]
    path.write_text('"ok"\nnot json\n')
    assert QueryHistory(path).entries == ["ok"]


def test_inbox_keeps_order_wakes_once_and_bounds_the_producer():
    import threading

    from alignterm.tui.inbox import Inbox

    wakes = []
    inbox = Inbox(lambda: wakes.append(1), limit=3)
    for i in range(3):
        inbox.put(i)
    assert len(wakes) == 1  # one wake-up until the UI drains
    done = threading.Event()
    producer = threading.Thread(target=lambda: (inbox.put(3), done.set()))
    producer.start()
    assert not done.wait(0.2)  # full: the producer waits for the UI
    assert inbox.take_all() == [0, 1, 2]
    assert done.wait(5)
    producer.join()
    assert inbox.take_all() == [3] and len(wakes) == 2
    inbox.close()
    for i in range(5):
        inbox.put(i)  # a closed inbox never blocks
