"""The stats bar and the session browser as a first run shows them (Pilot, no model loaded).

The app opens the version-1 session file, whose models are not on this machine: it replays
read-only, so nothing here waits for a model. Its answers have no shifted token (the aligned
answer under the bare prompt has one), which is the case the sparkline got wrong.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.color import Color

from alignterm.display import SPARK
from alignterm.engine.prompts import load_urial
from alignterm.sessions import SessionStore, load_session
from alignterm.tui.app import AlignTermApp
from alignterm.tui.screens.sessions import SessionBrowser

from .conftest import PARAMS, screen_lines

V1 = Path(__file__).parent.parent / "sessions" / "data" / "session-v1.yaml"


def replay_app(tmp_path: Path, demo_specs, **options) -> AlignTermApp:
    """The app replaying the v1 session read-only, with its settings and history in `tmp_path`."""
    options.setdefault("session", load_session(V1))
    return AlignTermApp(*demo_specs, comparator=None, params=PARAMS, query="", monochrome=False,
                        config_file=tmp_path / "config.yaml", history_file=tmp_path / "history.jsonl", **options)


def bar_rows(app) -> list[list[tuple[str, object]]]:
    """The stats bar's rows as drawn: (text, style) per segment."""
    bar = app.stats
    return [[(seg.text, seg.style) for seg in bar.render_line(y)] for y in range(bar.size.height)]


def in_colour(style, colour: str) -> bool:
    return style is not None and style.color is not None and style.color.triplet is not None and \
        Color.from_rich_color(style.color) == Color.parse(colour)


def coloured(row, colour: str) -> str:
    """The text of the row's segments drawn in `colour`."""
    return "".join(text for text, style in row if in_colour(style, colour))


async def test_no_shifted_token_draws_nothing_in_the_shifted_colour(tmp_path, demo_specs):
    app = replay_app(tmp_path, demo_specs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")  # the URIAL lens: the aligned answer with no shifted token
        red = app.theme_variables["shift-shifted"]
        summary = app.result.summary
        assert summary.aligned.shifted == summary.base.shifted == 0 and summary.aligned.shifted_by_bucket
        base_row, aligned_row, closure_row = bar_rows(app)
        for row in (base_row, aligned_row):
            assert any(c in "".join(text for text, _ in row) for c in SPARK)  # the sparkline is drawn
            assert coloured(row, red) == ""
        # the closure line: the bare prompt's shift is red, the URIAL answer's 0.0% is not
        assert coloured(closure_row, red).strip() == "8.3%"

        # with shifted tokens in the first bucket only, that bucket alone is drawn red
        shifted = dataclasses.replace(summary.aligned, marginal=0, unshifted=11, shifted=1,
                                      shifted_by_bucket=(1, 0))
        app.stats.set_summary(dataclasses.replace(summary, aligned=shifted))
        await pilot.pause()
        aligned_red = coloured(bar_rows(app)[1], red)
        assert SPARK[-1] in aligned_red and SPARK[0] not in aligned_red and "S  8.3%" in aligned_red


async def test_stats_rows_follow_the_panes_base_first(tmp_path, demo_specs):
    app = replay_app(tmp_path, demo_specs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        base, aligned = app.pane("base").region, app.pane("aligned").region
        assert (base.x, base.y) < (aligned.x, aligned.y)  # the panes: Base left (or on top)
        rows = screen_lines(app)[app.stats.region.y:app.stats.region.bottom]
        assert rows[0].strip().startswith("Base+URIAL") and rows[1].strip().startswith("Aligned")
        assert rows[2].strip().startswith("URIAL default")
        assert [line.split()[0] for line in app.stats.plain_lines()[:2]] == ["Base", "Aligned"]


async def test_the_session_browser_names_the_prompt_each_run_used(tmp_path, demo_specs):
    store = SessionStore(tmp_path / "sessions")
    v1 = load_session(V1)

    def saved(minute: int, label: str, text: str | None) -> Path:
        result = dataclasses.replace(v1.result, urial=text)
        return store.save(dataclasses.replace(v1, urial_label=label, result=result,
                                              created=f"2026-12-01T08:{minute:02}:00+00:00"))

    custom = "# Instruction\n\nAnswer in one line.\n"
    names = {
        saved(1, "default", load_urial("default")): "default",
        saved(2, "preamble", load_urial("preamble")): "preamble",
        saved(3, "none", None): "bare",
        saved(4, "/home/me/prompts/terse.txt", custom): "terse",  # a prompt file: its name
        saved(5, "default*", custom): "default*",  # the editor's mark for an edited prompt
        saved(6, "", custom): "custom",  # no name recorded
        saved(7, "/home/me/copy-of-default.txt", load_urial("default")): "default",  # the bundled text
    }
    app = replay_app(tmp_path, demo_specs, session_store=store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f6")
        browser = app.screen
        assert isinstance(browser, SessionBrowser)
        options = browser.option_list
        shown = {e.path: str(options.get_option_at_index(i).prompt) for i, e in enumerate(browser.entries)}
        for path, name in names.items():
            columns = shown[path].split("  ")
            assert name in [c.strip() for c in columns], (name, shown[path])
        await pilot.press(*"preamble")
        assert [e.path for e in browser.entries] == [p for p, n in names.items() if n == "preamble"]
        await pilot.press(*["backspace"] * len("preamble"), *"bare")
        assert [e.path for e in browser.entries] == [p for p, n in names.items() if n == "bare"]
        assert "bare" in "\n".join(screen_lines(app))
