"""TUI test helpers: waits, screen text, a steady tokens/s for snapshots (the app fixtures are in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path

from textual import events

from alignterm.engine.events import RunFinished, SideFinished, TokenEvent

from ..conftest import APP_PARAMS as PARAMS  # noqa: F401  (make_app's default, used by the tests here)


class SteadyRate:
    """The real comparator with tokens/s fixed in its SideFinished and RunFinished events.

    Only for snapshots: everything else, model and measures included, is the engine's own;
    a wall-clock speed would make every screenshot different.
    """

    def __init__(self, comparator) -> None:
        self._comparator = comparator

    def run(self, request, cancel=None):
        for event in self._comparator.run(request, cancel):
            if isinstance(event, SideFinished):
                event = replace(event, tokens_per_s=100.0)
            elif isinstance(event, RunFinished):
                event.result.aligned.tokens_per_s = event.result.base.tokens_per_s = 100.0
            yield event

    def __getattr__(self, name):
        return getattr(self._comparator, name)


class CountingRuns:
    """The real comparator, counting the TokenEvents each side's run has yielded so far.

    What the engine has produced, as opposed to what the panes show yet (the inbox holds
    the difference); the app keeps no such count."""

    def __init__(self, comparator) -> None:
        self._comparator = comparator
        self.yielded = {"aligned": 0, "base": 0}

    def run(self, request, cancel=None):
        self.yielded = yielded = {"aligned": 0, "base": 0}
        for event in self._comparator.run(request, cancel):
            if isinstance(event, TokenEvent):
                yielded[event.side] += 1
            yield event

    def __getattr__(self, name):
        return getattr(self._comparator, name)


async def wait_until(pilot, predicate, timeout: float = 60.0, settle: bool = True) -> None:
    """Let the app work until `predicate()` holds (the timeout only guards against a hang).

    `settle` then lets the app process what is queued; leave it off to act mid-run, since
    a streaming run keeps the queue busy until it ends."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.005)
    if settle:
        await pilot.pause()


async def run_query(pilot, query: str | None = None) -> None:
    """Run the query box's query (or `query`) with Enter and wait for the run to end."""
    app = pilot.app
    if query is not None:
        app.query_input.value = query
    app.query_input.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.result is not None and not app.running)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def run_and_cancel(pilot, after_tokens: int) -> None:
    """Start a run with Enter, press Escape once the aligned pane has `after_tokens` tokens, wait for its end.

    Keys are posted as a terminal's driver delivers them: Pilot.press waits for the app to go
    idle afterwards, which a streaming run only does when it ends."""
    app = pilot.app
    app.query_input.focus()
    await pilot.pause()
    app.post_message(events.Key("enter", "\r"))
    await wait_until(pilot, lambda: len(app.pane("aligned").tokens) >= after_tokens, settle=False)
    app.post_message(events.Key("escape", None))
    await wait_until(pilot, lambda: app.result is not None)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for_rescore(pilot) -> None:
    """Wait for the debounced URIAL edit to be re-scored and shown."""
    app = pilot.app
    await wait_until(pilot, lambda: app.rescored is not None and not app.stats.rescoring)
    await app.workers.wait_for_complete()
    await pilot.pause()


def screen_lines(app) -> list[str]:
    """The screen's text, one string per row."""
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


README = Path(__file__).resolve().parents[2] / "README.md"
KEY_NAMES = {"Esc": "escape", "Enter": "enter", "Tab": "tab", "?": "question_mark"}


def readme_keys() -> list[tuple[list[str], str, str]]:
    """The README's key table (the one headed Key | Where | Action): (keys as Textual names them,
    where, action) per row."""
    rows, in_table = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == ["Key", "Where", "Action"]:
            in_table = True
            continue
        if not in_table or cells[0] == "---":
            continue
        if not line.startswith("|"):
            break
        keys = [KEY_NAMES.get(k, k.lower())
                for k in re.split(r"\s*/\s*|,\s*", cells[0])]
        rows.append((keys, cells[1], cells[2]))
    return rows
