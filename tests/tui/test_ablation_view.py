"""The URIAL ablation in the app (palette "URIAL ablation", tui/nudge_view.py): its table equals the
engine's `ablate` on the same result; a bare-prompt run or no run gets one notice."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable

from alignterm.engine.ablation import ablate
from alignterm.tui.screens.nudge import ABLATION_COLUMNS, AblationScreen, ablation_rows

from .conftest import run_query, wait_until


def table_rows(screen: AblationScreen) -> list[tuple[str, ...]]:
    table = screen.query_one(DataTable)
    return [tuple(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]


async def test_the_ablation_table_is_the_engine_ablation(make_app, comparator):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        result = app.result
        await pilot.press("ctrl+p")
        await pilot.press(*"URIAL ablation")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette)
                         and app.screen.query_one(CommandList).option_count > 0, timeout=10)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AblationScreen))
        assert not app.running
        with comparator.lock:
            expected = ablate(comparator, result)
        assert expected is not None
        shown = app.screen.ablation
        assert [(s.name, s.examples, s.summary.counts(), s.closure, s.recovered) for s in shown.scores] == [
            (s.name, s.examples, s.summary.counts(), s.closure, s.recovered) for s in expected.scores]
        table = app.screen.query_one(DataTable)
        assert tuple(str(c.label) for c in table.ordered_columns) == ABLATION_COLUMNS
        assert table_rows(app.screen) == ablation_rows(expected)
        assert table_rows(app.screen)[0][0] == "full" and table_rows(app.screen)[-1][0] == "bare"
        # Enter on the full prompt's row marks the tokens it recovered in the aligned pane
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, AblationScreen)
        full = expected.score("full").recovered
        pane = app.pane("aligned")
        assert [pane.tokens[i].position for i in pane.recovered] == list(full)


async def test_escape_cancels_the_ablation(make_app, comparator):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        with comparator.lock:  # the ablation's worker waits for the models, so Esc meets it running
            app.action_urial_ablation()
            assert app.running and "URIAL ablation" in str(app.compare.status_line.render())
            await pilot.press("escape")
        await wait_until(pilot, lambda: not app.running)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, AblationScreen)
        assert any("cancelled" in n.message for n in app._notifications)


async def test_a_bare_prompt_run_or_no_run_gets_one_notice(make_app):
    app = make_app(urial="none")
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_urial_ablation()
        await pilot.pause()
        assert [n.message for n in app._notifications] == [
            "The URIAL ablation takes a finished comparison apart: run a query first."]
        await run_query(pilot)
        app.action_urial_ablation()
        await pilot.pause()
        assert not app.running and not isinstance(app.screen, AblationScreen)
        assert [n.message for n in app._notifications][-1].startswith("The comparison used the bare prompt")
        assert sum("bare prompt" in n.message for n in app._notifications) == 1
