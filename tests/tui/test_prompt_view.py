"""ctrl+f shows the prompts each model saw for the run on screen: their ids are the result's, the base
prompt's URIAL part and query part are told apart; with no run yet, a notice; Esc closes."""

from __future__ import annotations

import io
import re

from rich.console import Console

from alignterm.engine.values import DecodingParams
from alignterm.tui.screens.prompts import PromptsScreen

from .conftest import run_query, screen_lines, wait_until

TITLES = {"aligned model": "aligned", "base model: URIAL": "base", "base model: bare": "bare"}


def rendered(screen: PromptsScreen) -> str:
    """The screen's prompts as plain text (what its Static draws, at a fixed width)."""
    console = Console(width=96, record=True, file=io.StringIO())
    console.print(screen.prompts)
    return console.export_text()


def shown_ids(text: str) -> dict[str, list[int]]:
    """Per prompt ("aligned", "base", "bare"), the ids printed under its "ids a–b:" labels, in order."""
    ids: dict[str, list[int]] = {}
    current, in_ids = "", False
    for line in text.splitlines():
        if m := re.search(r"prompt · (aligned model|base model: URIAL|base model: bare)", line):
            current, in_ids = TITLES[m.group(1)], False
        elif re.match(r"ids \d+–\d+:", line):
            in_ids = True
        elif in_ids and re.fullmatch(r"\s+[\d ]+", line):
            ids.setdefault(current, []).extend(map(int, line.split()))
        else:
            in_ids = False
    return ids


async def test_the_prompts_are_the_results_with_the_urial_part_marked(make_app):
    app = make_app(params=DecodingParams(max_new_tokens=8))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+f")
        assert not isinstance(app.screen, PromptsScreen)
        assert [n.message for n in app._notifications][-1].startswith("No run yet")
        await run_query(pilot)
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptsScreen))
        result, text = app.result, rendered(app.screen)
        assert result.urial is not None  # the app's default prompt: a URIAL run, so the bare prompt is shown too
        assert shown_ids(text) == {"aligned": result.aligned.prompt_ids, "base": result.base.prompt_ids,
                                   "bare": result.bare_prompt_ids}
        assert "[URIAL] tokens 0–" in text and "[query] tokens " in text
        assert any("The prompts the models saw" in line for line in screen_lines(app))
        await pilot.press("escape")
        assert not isinstance(app.screen, PromptsScreen)
