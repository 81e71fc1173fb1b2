"""The diversity screen (F9) driven with Pilot on the real demo pair: it shows what the engine measured."""

from __future__ import annotations

from textual.widgets import DataTable

from alignterm.engine.samples import Sampler, SamplingRequest
from alignterm.engine.values import DecodingParams
from alignterm.tui.screens.diversity import DiversityScreen

from .conftest import screen_lines, wait_until

PARAMS = DecodingParams(max_new_tokens=24, seed=3)


async def test_sampling_shows_the_engines_measures_and_escape_returns(make_app, comparator, demo_query):
    app = make_app(params=PARAMS)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("f9")
        screen = app.screen
        assert isinstance(screen, DiversityScreen)
        screen.query_one("#div-n").value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.result is not None, timeout=180)
        await app.workers.wait_for_complete()
        await pilot.pause()

        want = Sampler(comparator.base, comparator.aligned).run(
            SamplingRequest(demo_query, 2, app.urial_text, PARAMS))
        got = screen.result
        assert [s.text for side in got.samples.values() for s in side] == \
            [s.text for side in want.samples.values() for s in side]  # same seeds, same samples
        headline = got.measures.headline("jaccard")
        row = next(line for line in screen_lines(app) if line.strip().startswith("word Jaccard"))
        numbers = row.split()[2:5]  # aligned~aligned, base+hint~aligned, base+URIAL~aligned
        assert numbers == [f"{headline[k]:.2f}" for k in ("aligned~aligned", "base_hint~aligned", "base_urial~aligned")]
        assert screen.query_one("#div-table", DataTable).row_count == 3
        assert len(screen.query(".div-sample")) == 6

        await pilot.press("escape")
        assert app.screen is not screen and not isinstance(app.screen, DiversityScreen)


async def test_escape_cancels_sampling_and_the_screen_stays_usable(make_app):
    app = make_app(params=DecodingParams(max_new_tokens=64))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f9")
        screen = app.screen
        screen.query_one("#div-n").value = "16"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.samples) >= 1, settle=False, timeout=120)
        await pilot.press("escape")  # cancels, does not close
        await wait_until(pilot, lambda: screen.result is not None, timeout=60)
        assert app.screen is screen and screen.result.cancelled
        assert sum(len(v) for v in screen.result.samples.values()) < 48
        await pilot.press("escape")
        assert not isinstance(app.screen, DiversityScreen)
        await pilot.press("f9")  # the models are free again: a new screen samples
        assert isinstance(app.screen, DiversityScreen)


async def test_without_a_query_or_models_it_says_so(make_app):
    app = make_app(query="")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f9")
        await pilot.pause()
        assert not isinstance(app.screen, DiversityScreen)
        assert any("Type a query first" in str(n.message) for n in app._notifications)


async def test_a_sample_count_outside_2_to_32_is_a_notice(make_app):
    app = make_app(params=PARAMS)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f9")
        screen = app.screen
        for bad in ("1", "33", ""):
            screen.query_one("#div-n").value = bad
            await pilot.press("enter")
            await pilot.pause()
            assert not screen.running and screen.result is None
        assert sum("from 2 to 32" in str(n.message) for n in app._notifications) >= 1
