"""Figures 4-5: the real app fed by a synthetic event source as fast as it can, and start-up.

The source stands in for the engine only here, in a benchmark: it yields ready-made
TokenEvents (with top-10 lists, as the engine's) for both sides, interleaved, so what is
measured is the app's own cost: the inbox hand-off, the answer panes' layout and the
repaint of their last lines.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

from alignterm.engine import shift
from alignterm.engine.compare import summarize_pair
from alignterm.engine.events import (
    ComparisonResult,
    RunFinished,
    RunStarted,
    SideFinished,
    SideResult,
    TokenEvent,
    TopEntry,
)
from alignterm.engine.values import ModelSpec

from .common import report

WORDS = ["Hello", "!", " The", " town", " of", " Kasla", " lies", " on", " the", " river", ".", "\n", " However", ","]
TARGET_RATE = 2000
TARGET_LATENCY_MS = 50


def token(side: str, i: int) -> TokenEvent:
    rank = (1, 1, 1, 1, 1, 2, 1, 5)[i % 8]
    top = tuple(TopEntry(j, WORDS[j % len(WORDS)], -0.1 * j) for j in range(10))
    return TokenEvent(side, i, i % 50, WORDS[i % len(WORDS)], -0.5, -1.5, rank, shift.category(rank), 0.1, top, top)


class SyntheticComparator:
    """Yields `n` ready-made tokens per side as fast as the app takes them."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.events = {side: [token(side, i) for i in range(n)] for side in ("aligned", "base")}

    def run(self, request, cancel=None):
        yield RunStarted((0,), (0,))
        sides = {"aligned": [], "base": []}
        for i in range(self.n):
            for side in sides:
                if cancel is not None and cancel.cancelled:
                    break
                ev = self.events[side][i]
                sides[side].append(ev)
                yield ev
        for side, tokens in sides.items():
            yield SideFinished(side, "length", "".join(t.text for t in tokens), 0.0)
        result = ComparisonResult(request.query, request.urial, request.params,
                                  SideResult([0], sides["aligned"]), SideResult([0], sides["base"]),
                                  summarize_pair(sides["aligned"], sides["base"], None))
        yield RunFinished(result)


def _app(n: int):
    from alignterm.tui.app import AlignTermApp

    spec = ModelSpec("synthetic")
    return AlignTermApp(spec, spec, urial="none", query="Tell me about Kasla.", comparator=SyntheticComparator(n))


async def _stream(n: int) -> tuple[float, list[float]]:
    """Seconds to show n tokens per side, and key-to-cursor latencies (ms) sampled meanwhile."""
    app = _app(n)
    latencies = []
    async with app.run_test(size=(160, 48)) as pilot:
        panes = [app.pane("aligned"), app.pane("base")]
        start = time.perf_counter()
        await pilot.press("enter")
        panes[0].focus()
        while len(panes[0].tokens) < n or len(panes[1].tokens) < n:
            if panes[0].tokens and len(latencies) < 40:
                latencies.append(await _key_latency(app, panes[0]))
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        await pilot.pause()
    return elapsed, latencies


async def _key_latency(app, pane) -> float:
    """A cursor key for the focused pane while it streams; milliseconds until the cursor has moved."""
    from textual import events

    before = pane.cursor
    t = time.perf_counter()
    app.post_message(events.Key("left" if before > 0 else "right", None))  # as the terminal driver does
    while pane.cursor == before:
        await asyncio.sleep(0.0005)
        if time.perf_counter() - t > 2:
            break
    return (time.perf_counter() - t) * 1000


async def _append_cost(sizes=(1_000, 10_000, 50_000), appends: int = 200) -> list[tuple[int, float]]:
    """Milliseconds to append one token and render its line, for panes already holding n tokens."""
    app = _app(1)
    out = []
    async with app.run_test(size=(160, 48)):
        pane = app.pane("aligned")
        for n in sizes:
            pane.set_tokens(token("aligned", i) for i in range(n))
            t = time.perf_counter()
            for i in range(appends):
                pane.append(token("aligned", n + i))
                pane.render_line(pane.size.height - 1)
            out.append((n, (time.perf_counter() - t) * 1000 / appends))
    return out


async def _memory(n: int = 10_000) -> float:
    """MB held by a pane for n tokens (the TokenEvents, which the engine makes anyway, included)."""
    app = _app(1)
    async with app.run_test(size=(160, 48)):
        pane = app.pane("aligned")
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        pane.set_tokens(token("aligned", i) for i in range(n))
        pane.render_line(0)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    return (after - before) / 1e6


def startup(repeat: int = 3) -> None:
    """Launch to first frame, models loading in the background; and to the first token on the demo pair."""
    code = (
        "import time, sys; t0 = float(sys.argv[1])\n"
        "from alignterm.cli import main\n"
        "from alignterm.tui import app as A\n"
        "async def pilot(p):\n"
        "    print('frame', time.time() - t0, flush=True)\n"
        "    while p.app.comparator is None: await p.pause(0.05)\n"
        "    await p.press('enter')\n"
        "    while not p.app.pane('aligned').tokens: await p.pause(0.01)\n"
        "    print('token', time.time() - t0, flush=True)\n"
        "    p.app.exit()\n"
        "A.AlignTermApp.run = lambda self, **kw: A.App.run(self, headless=True, auto_pilot=pilot)\n"
        "main([])\n"
    )
    frames, tokens = [], []
    for _ in range(repeat):
        env = dict(os.environ, XDG_DATA_HOME="/tmp/alignterm-bench-data", XDG_CONFIG_HOME="/tmp/alignterm-bench-cfg")
        out = subprocess.run([sys.executable, "-c", code, repr(time.time())], capture_output=True, text=True,
                             env=env, timeout=300).stdout
        values = dict(line.split() for line in out.splitlines() if line.startswith(("frame", "token")))
        frames.append(float(values["frame"]))
        tokens.append(float(values["token"]))
    report("5 start-up: launch to first frame", statistics.median(frames), target="< 1.5 s",
           ok=statistics.median(frames) < 1.5)
    report("5 start-up: launch to first token (demo pair)", statistics.median(tokens))


def run() -> None:
    n = 20_000
    elapsed, latencies = asyncio.run(_stream(n))
    rate = n / elapsed
    report("4 UI tokens/s per pane, both streaming", rate, unit="tok/s", target=f">= {TARGET_RATE}",
           ok=rate >= TARGET_RATE)
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    report(f"4 UI key-to-cursor latency p95 ({len(latencies)} keys)", p95, unit="ms",
           target=f"< {TARGET_LATENCY_MS}", ok=p95 < TARGET_LATENCY_MS)
    report("4 UI memory per 10,000 tokens", asyncio.run(_memory()), unit="MB")
    costs = asyncio.run(_append_cost())
    for size, ms in costs:
        report(f"4 UI append + render, pane of {size:,} tokens", ms, unit="ms")
    startup()
