"""Soak: hundreds of consecutive comparisons in the real app on the demo pair, watching for leaks.

    python -m bench.soak [--runs 500] [--max-new-tokens 32] [--engine]
    python -m bench soak

The app runs headless (Textual's test driver, driven by Pilot as the TUI tests drive it),
with a session store that autosaves every run, the URIAL prompt on, and the demo queries
in turn. Resident memory (VmRSS) and the number of threads are recorded once the models
are loaded, after the first run (the start of the comparison: models, caches and widgets
warm), every 50 runs, and at the end;
every run's answers are checked against the first run of the same query (greedy decoding
must give the same tokens every time). `--engine` drives `Comparator.run` directly instead.
Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

SIDES = ("aligned", "base")


def rss_mb() -> float:
    """Resident memory of this process (MiB), from /proc where there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the peak, where /proc is missing


def _answers(result) -> tuple:
    return tuple(tuple(t.id for t in result.side(side).tokens) for side in SIDES)


class Record:
    def __init__(self) -> None:
        self.rows: list[tuple[int, float, int, float]] = []  # runs done, RSS MiB, threads, seconds
        self.started = time.perf_counter()

    def take(self, runs: int) -> None:
        row = (runs, rss_mb(), threading.active_count(), time.perf_counter() - self.started)
        self.rows.append(row)
        print(f"  after {row[0]:4d} runs: RSS {row[1]:7.1f} MiB, {row[2]:2d} threads, {row[3]:7.1f} s", flush=True)


async def soak_app(runs: int, max_new_tokens: int, folder: Path) -> tuple[Record, int]:
    from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR, demo_queries
    from alignterm.engine.values import DecodingParams, ModelSpec
    from alignterm.sessions import SessionStore
    from alignterm.tui.app import AlignTermApp

    queries = [q["query"] for q in demo_queries()]
    store = SessionStore(folder / "sessions")
    app = AlignTermApp(ModelSpec(str(BASE_DIR), device="cpu"), ModelSpec(str(ALIGNED_DIR), device="cpu"), "default",
                       DecodingParams(max_new_tokens=max_new_tokens), queries[0], session_store=store,
                       history_file=folder / "history.jsonl", config_file=folder / "config.yaml",
                       themes_dir=folder / "themes", monochrome=False)
    record = Record()
    first: dict[str, tuple] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while app.comparator is None:
            if app.load_error:
                raise SystemExit(f"cannot load the demo pair: {app.load_error}")
            await asyncio.sleep(0.05)
        await pilot.pause()
        record.take(0)  # models loaded, nothing run yet
        for i in range(runs):
            query = queries[i % len(queries)]
            app.query_input.value = query
            app.start_run()
            while app.running or app.result is None:
                await asyncio.sleep(0.002)
            await app.workers.wait_for_complete()
            await pilot.pause()
            answers = _answers(app.result)
            if first.setdefault(query, answers) != answers:
                raise SystemExit(f"run {i + 1}: the answers to {query!r} changed")
            if i == 0 or (i + 1) % 50 == 0 or i + 1 == runs:
                record.take(i + 1)
    saved = len(store.entries())
    return record, saved


def soak_engine(runs: int, max_new_tokens: int) -> Record:
    from alignterm.engine.compare import Comparator, ComparisonRequest
    from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR, demo_queries
    from alignterm.engine.events import RunFinished
    from alignterm.engine.prompts import load_urial
    from alignterm.engine.values import DecodingParams, ModelSpec

    queries = [q["query"] for q in demo_queries()]
    comparator = Comparator.load(ModelSpec(str(BASE_DIR), device="cpu"), ModelSpec(str(ALIGNED_DIR), device="cpu"))
    urial = load_urial("default")
    record = Record()
    record.take(0)
    first: dict[str, tuple] = {}
    for i in range(runs):
        query = queries[i % len(queries)]
        request = ComparisonRequest(query, urial, DecodingParams(max_new_tokens=max_new_tokens))
        result = next(e.result for e in comparator.run(request) if isinstance(e, RunFinished))
        if first.setdefault(query, _answers(result)) != _answers(result):
            raise SystemExit(f"run {i + 1}: the answers to {query!r} changed")
        if i == 0 or (i + 1) % 50 == 0 or i + 1 == runs:
            record.take(i + 1)
    return record


def run(runs: int = 500, max_new_tokens: int = 32, engine: bool = False) -> None:
    import torch

    from alignterm.tui.app import reserve_a_core_for_the_ui

    from .common import machine, report

    reserve_a_core_for_the_ui()  # as the app does: one torch thread per core but one
    print(f"soak: {runs} comparisons on the demo pair, URIAL default, max_new_tokens {max_new_tokens}, "
          f"{'engine' if engine else 'app (headless, autosave on)'}; {machine()}, {torch.get_num_threads()} torch "
          f"threads, pid {os.getpid()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="alignterm-soak-") as tmp:
        if engine:
            record, saved = soak_engine(runs, max_new_tokens), None
        else:
            record, saved = asyncio.run(soak_app(runs, max_new_tokens, Path(tmp)))
    # judged from the 50th run: the first runs fill caches, and the event loop starts its executor thread
    warm = next((row for row in record.rows if row[0] >= 50), record.rows[1])
    (n0, rss0, threads0, t0), (n1, rss1, threads1, t1) = warm, record.rows[-1]
    per_run = (t1 - t0) / max(n1 - n0, 1)
    report(f"soak: RSS after run {n0} -> after run {n1}", rss1, rss0, target="growth < 10%", unit="MiB",
           ok=rss1 <= rss0 * 1.10)
    report(f"soak: threads after run {n0} -> after run {n1}", threads1, threads0, target="no growth", unit="thr",
           ok=threads1 <= threads0)
    report("soak: seconds per comparison", per_run, unit="s")
    if saved is not None:
        print(f"  autosaved sessions: {saved} of {runs}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--engine", action="store_true", help="drive Comparator.run instead of the app")
    args = parser.parse_args()
    run(args.runs, args.max_new_tokens, args.engine)


if __name__ == "__main__":
    main()
