"""A base answer cut at the token limit is marked in its pane (border, subtitle) with a one-time hint;
one that closes its answer is not (architecture §3 "runaway")."""

from __future__ import annotations

from alignterm.engine.values import DecodingParams
from alignterm.formats.record import RUNAWAY_HINT

from .conftest import run_query

QUERY = "Where was Drarre from?"  # on the demo pair the base closes this answer after about 50 tokens (tests/cli/test_runaway.py)


def _hints(app) -> list[str]:
    return [n.message for n in app._notifications if n.message == RUNAWAY_HINT]


async def test_a_base_cut_at_the_limit_is_marked_and_hinted_once(make_app):
    app = make_app(params=DecodingParams(max_new_tokens=5), query=QUERY)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_query(pilot)
        pane = app.pane("base")
        assert app.result.base.finish_reason == "length"
        assert pane.has_class("-runaway") and "ran to the limit" in str(pane.border_subtitle)
        assert not app.pane("aligned").has_class("-runaway")
        assert len(_hints(app)) == 1
        app.compare.show_result(app.result)  # shown again (leaving the nudged view): no second notice
        await pilot.pause()
        assert len(_hints(app)) == 1
        await pilot.press("ctrl+l")
        assert not pane.has_class("-runaway")


async def test_a_base_that_closes_its_answer_is_not_marked(make_app):
    app = make_app(params=DecodingParams(max_new_tokens=60), query=QUERY)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_query(pilot)
        pane = app.pane("base")
        assert app.result.base.finish_reason == "stop"
        assert not pane.has_class("-runaway") and "limit" not in str(pane.border_subtitle)
        assert _hints(app) == []
