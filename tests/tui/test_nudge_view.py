"""The nudged view (ctrl+n, tui/nudge_view.py) on the demo pair: the engine's nudged answer in the base
pane, its aligned-chosen tokens marked in colour and monochrome, γ re-runs, Esc cancels."""

from __future__ import annotations

import time

import pytest
from textual import events
from textual.widgets import Input

from alignterm.engine.events import NudgedToken
from alignterm.engine.nudge import DEFAULT_GAMMA, Nudger
from alignterm.engine.prompts import load_urial
from alignterm.tui.screens.nudge import GammaScreen

from .conftest import PARAMS, run_query, wait_until

MIXED = 0.8  # on the first demo query the base is below this at some word starts only (tests/engine/test_nudge.py)


@pytest.fixture(scope="module")
def engine_nudge(comparator):
    """The engine's own nudged answer (a Nudger of its own, as `analyze --nudge` makes), per γ."""
    nudger = Nudger(comparator)

    def nudge(query, gamma, reference=None):
        with comparator.lock:
            return nudger.nudge(query, load_urial("default"), PARAMS, gamma, reference=reference)

    return nudge


def picked(tokens):
    return [(t.id, t.text, t.chosen_by) for t in tokens]


async def show_nudged(pilot) -> None:
    """ctrl+n, then wait for the nudged run to end."""
    app = pilot.app
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: app.compare.nudge.result is not None and not app.running)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_ctrl_n_shows_the_engine_nudged_answer_and_back(make_app, demo_query, engine_nudge):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        result = app.result
        await show_nudged(pilot)
        expected = engine_nudge(demo_query, DEFAULT_GAMMA, reference=result)
        pane = app.pane("base")
        assert picked(pane.tokens) == picked(expected.tokens)
        assert app.compare.nudge.result.summary == expected.summary
        assert pane.border_title == "Nudged (γ = 0.40)"
        assert f"aligned {expected.summary.aligned_share:.0%}" in pane.border_subtitle
        # the stats bar says it shows the nudged answer, not the base answer's counts
        base_row = app.stats.plain_lines()[0]
        assert base_row.startswith("Nudged") and f"{expected.summary.aligned_share * 100:.1f}%" in base_row
        assert app.result is result and list(app.pane("aligned").tokens) == result.bare_tokens
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert list(pane.tokens) == result.base.tokens
        assert pane.border_title == "Base + URIAL (default)"
        assert app.stats.nudged is None and app.stats.plain_lines()[0].startswith("Base")


def _screen_text(app):
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


@pytest.mark.parametrize("mono", [False, True], ids=["colour", "monochrome"])
async def test_aligned_chosen_tokens_carry_their_own_style(make_app, mono):
    app = make_app(monochrome=mono)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        app.compare.nudge.gamma = MIXED
        await show_nudged(pilot)
        pane = app.pane("base")
        styles = {"aligned": set(), "base": set()}
        for y in range(pane.line_count):
            for segment in pane.render_answer_line(y):
                if segment.text.strip():
                    token = pane.tokens[segment.style.meta["token"]]
                    style = segment.style
                    styles[token.chosen_by].add((style.color, bool(style.bold), bool(style.underline)))
        assert styles["aligned"] and styles["base"]
        assert all(bold and underline for _, bold, underline in styles["aligned"])
        assert not any(bold or underline for _, bold, underline in styles["base"])
        aligned_colours = {colour for colour, _, _ in styles["aligned"]}
        if mono:  # no colour at all: the text style alone tells them apart
            assert aligned_colours == {c for c, _, _ in styles["base"]}
        else:  # the theme's success colour, which no category uses
            success = app.theme_variables["success"].lower()
            assert {c.triplet.hex for c in aligned_colours} == {success}
            assert success not in {app.theme_variables[f"shift-{c}"].lower() for c in ("unshifted", "marginal", "shifted")}
        # the inspector, on a token the aligned model chose: who, the base's top-1 p there, both top-k
        await pilot.press("f3")
        index = next(i for i, t in enumerate(pane.tokens) if t.chosen_by == "aligned")
        pane.focus()
        pane.move_cursor(index)
        await pilot.pause()
        token = pane.tokens[index]
        assert app.inspector.token is token and token.aligned_top and token.top and token.base_top1 < MIXED
        shown = " ".join(_screen_text(app))
        assert "chosen by the aligned model" in shown and f"base top-1 p {token.base_top1:.2f}" in shown
        assert "aligned top-k" in shown and "base top-k" in shown


async def test_gamma_change_reruns_the_nudged_side_only(make_app, demo_query, engine_nudge):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        result = app.result
        await show_nudged(pilot)
        first = list(app.pane("base").tokens)
        app.action_set_gamma()
        await wait_until(pilot, lambda: isinstance(app.screen, GammaScreen))
        app.screen.query_one(Input).value = "1.5"
        await pilot.press("enter")
        assert isinstance(app.screen, GammaScreen)  # refused: γ is a probability
        app.screen.query_one(Input).value = "0.8"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.compare.nudge.result is not None
                         and app.compare.nudge.result.gamma == MIXED and not app.running)
        await app.workers.wait_for_complete()
        await pilot.pause()
        expected = engine_nudge(demo_query, MIXED, reference=result)
        assert picked(app.pane("base").tokens) == picked(expected.tokens) != picked(first)
        assert app.pane("base").border_title == "Nudged (γ = 0.80)"
        assert app.result is result  # the comparison was not run again
        app.action_step_gamma(-0.05)
        await wait_until(pilot, lambda: app.compare.nudge.result is not None
                         and app.compare.nudge.result.gamma == 0.75 and not app.running)
        await app.workers.wait_for_complete()
        assert picked(app.compare.nudge.result.tokens) == picked(engine_nudge(demo_query, 0.75).tokens)


class HeldAfterFirstToken:
    """The app's real nudger, holding its run after the first token until it is cancelled (so Esc
    meets a running nudge however fast the demo pair is)."""

    def __init__(self, nudger) -> None:
        self._nudger = nudger

    def run(self, query, urial, params, gamma, cancel, reference=None):
        for event in self._nudger.run(query, urial, params, gamma, cancel, reference):
            yield event
            if isinstance(event, NudgedToken):
                deadline = time.monotonic() + 30
                while not cancel.cancelled and time.monotonic() < deadline:
                    time.sleep(0.005)


async def test_escape_cancels_the_nudged_run(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        real = app.host.nudger()
        app.host.nudger = lambda: HeldAfterFirstToken(real)
        app.post_message(events.Key("ctrl+n", None))
        await wait_until(pilot, lambda: len(app.compare.nudge.tokens) >= 1, settle=False)
        assert app.running
        app.post_message(events.Key("escape", None))
        await wait_until(pilot, lambda: app.compare.nudge.result is not None)
        await app.workers.wait_for_complete()
        await pilot.pause()
        nudged = app.compare.nudge.result
        assert nudged.cancelled and not app.running
        assert 1 <= len(nudged.tokens) <= 2  # stopped at the next token
        assert picked(app.pane("base").tokens) == picked(nudged.tokens)
        assert "cancelled" in app.pane("base").border_subtitle
