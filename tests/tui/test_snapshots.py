"""Snapshots (pytest-textual-snapshot) at 80×24 and 160×48, on the real demo pair.

Update them with `pytest tests/tui/test_snapshots.py --snapshot-update` after checking the
report. Tokens/s is pinned (SteadyRate) so that a screenshot does not depend on the clock.
"""

from __future__ import annotations

import pytest

from alignterm.engine.values import ModelSpec
from alignterm.tui.app import AlignTermApp

from .conftest import SteadyRate, run_query, wait_until

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


@pytest.fixture
def steady_app(make_app, comparator):
    return make_app(comparator=SteadyRate(comparator))


async def run_steadily(pilot) -> None:
    """Run the demo query with the text cursors not blinking (a blink would flip cells)."""
    pilot.app.query_input.cursor_blink = False
    pilot.app.editor.text_area.cursor_blink = False
    await run_query(pilot)


@SIZES
def test_finished_comparison(snap_compare, steady_app, size):
    assert snap_compare(steady_app, terminal_size=size, run_before=run_steadily)


@SIZES
def test_inspector_on_a_shifted_token(snap_compare, make_app, comparator, size):
    # the bare prompt: the demo URIAL prompt closes every shift of the demo answer
    steady_app = make_app(comparator=SteadyRate(comparator), urial="none")

    async def inspect(pilot):
        await run_steadily(pilot)
        await pilot.press("f3", "n")

    assert snap_compare(steady_app, terminal_size=size, run_before=inspect)


@SIZES
def test_urial_editor_open(snap_compare, steady_app, size):
    async def edit(pilot):
        await run_steadily(pilot)
        await pilot.press("f2")

    assert snap_compare(steady_app, terminal_size=size, run_before=edit)


@SIZES
def test_model_load_error(snap_compare, demo_specs, size):
    app = AlignTermApp(ModelSpec("/nonexistent/base-model"), demo_specs[1], query="", monochrome=False)

    async def failed(pilot):
        await wait_until(pilot, lambda: app.load_error is not None)

    assert snap_compare(app, terminal_size=size, run_before=failed)
