"""Faults during work: cancel at any moment, Ctrl-C while loading, resizes mid-run, SIGHUP.

SIGKILL during a save is tests/sessions/test_autosave_kill.py.
"""

from __future__ import annotations

import gc
import os
import pty
import random
import re
import select
import signal
import subprocess
import sys
import threading
import time

from textual import events
from textual.widgets._footer import FooterKey

from alignterm.engine.compare import ComparisonRequest
from alignterm.engine.demo import ALIGNED_DIR, QUERIES_FILE
from alignterm.engine.events import RunFinished, TokenEvent
from alignterm.engine.prompts import load_urial
from alignterm.engine.values import CancelToken, DecodingParams
from alignterm.sessions import SessionStore, load_session

from ..conftest import shown
from ..tui.conftest import PARAMS, run_and_cancel, run_query, wait_until

SIDES = ("aligned", "base")


def _threads() -> set[str]:
    """The threads alive, but the event loop's own executor (which lives as long as the loop)."""
    return {t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")}


def measures(result) -> tuple:
    """What two runs of one request must agree on exactly (floats carry KV-cache noise)."""
    return tuple((t.id, t.other_rank, t.shift) for side in SIDES for t in result.side(side).tokens) + (
        result.summary.aligned.counts(), result.summary.base.counts(), result.summary.closure is None)


def test_cancelling_100_runs_at_random_moments_leaves_the_engine_correct(comparator, queries):
    urial = load_urial("default")
    requests = [ComparisonRequest(q, urial, DecodingParams(max_new_tokens=24)) for q in queries[:3]]
    reference = [measures(comparator.compare(r)) for r in requests]
    threads = threading.active_count()
    rng = random.Random(20240)
    cancelled = 0
    for i in range(100):
        request = requests[i % len(requests)]
        cancel = CancelToken()
        how = rng.choice(["after-events", "from-a-thread", "abandon"])
        timer = None
        if how == "from-a-thread":  # as Escape does: another thread, any moment
            timer = threading.Timer(rng.uniform(0.0, 0.15), cancel.cancel)
            timer.start()
        stop_after = rng.randint(0, 40)
        result = None
        for n, event in enumerate(comparator.run(request, cancel)):
            if n == stop_after and how == "after-events":
                cancel.cancel()
            if n == stop_after and how == "abandon":
                break  # the consumer just stops reading (the generator is closed)
            if isinstance(event, RunFinished):
                result = event.result
        if timer is not None:
            timer.join()
        if result is not None and result.cancelled:
            cancelled += 1
            for side in SIDES:  # the partial answers are whole tokens with their measures
                assert all(isinstance(t, TokenEvent) and t.shift for t in result.side(side).tokens)
        # the next run after any interruption is the uninterrupted one
        following = requests[(i + 1) % len(requests)]
        if i % 4 == 0 or i == 99:
            assert measures(comparator.compare(following)) == reference[(i + 1) % len(requests)], f"after run {i}"
    assert cancelled >= 30  # most interruptions really did land mid-run
    assert threading.active_count() == threads


async def test_escape_at_random_moments_in_the_app_then_a_correct_run(make_app, comparator, demo_query):
    params = DecodingParams(max_new_tokens=32)
    reference = measures(comparator.compare(ComparisonRequest(demo_query, load_urial("default"), params)))
    threads = _threads()
    rng = random.Random(7)
    gc.collect()
    earlier = {id(o) for o in gc.get_objects() if isinstance(o, FooterKey)}  # other tests' apps, not yet freed
    app = make_app(params=params)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(8):
            app.query_input.focus()
            await pilot.pause()
            app.post_message(events.Key("enter", "\r"))
            want = rng.randint(0, 20)
            await wait_until(pilot, lambda: app.running, settle=False)
            await wait_until(pilot, lambda: sum(len(app.pane(s).tokens) for s in SIDES) >= want or not app.running,  # noqa: B023
                             settle=False)
            app.post_message(events.Key("escape", None))
            await wait_until(pilot, lambda: not app.running)
            await app.workers.wait_for_complete()
            assert not comparator.lock.locked()
            for side in SIDES:  # what is shown is what the engine made, cancelled or not
                assert list(app.pane(side).tokens) == shown(app.result, side, app.lens)
        await run_query(pilot)
        assert not app.result.cancelled and measures(app.result) == reference
        await app.workers.wait_for_complete()
        gc.collect()  # the footer's keys, recomposed at every run, do not pile up (they once did)
        footer_keys = [o for o in gc.get_objects() if isinstance(o, FooterKey) and id(o) not in earlier]
        assert len(footer_keys) <= 2 * len(app.query(FooterKey)), len(footer_keys)
    assert not comparator.lock.locked()
    assert _threads() <= threads, _threads()  # every worker thread ended


async def test_resizing_to_40x12_and_back_while_streaming(make_app, comparator, demo_query):
    reference = measures(comparator.compare(ComparisonRequest(demo_query, load_urial("default"), PARAMS)))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_input.focus()
        await pilot.pause()
        app.post_message(events.Key("enter", "\r"))
        await wait_until(pilot, lambda: len(app.pane("aligned").tokens) >= 3, settle=False)
        await pilot.resize_terminal(40, 12)
        await wait_until(pilot, lambda: app.has_class("-narrow") and app.has_class("-short"), settle=False)
        await pilot.resize_terminal(120, 40)
        await wait_until(pilot, lambda: app.result is not None and not app.running)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.has_class("-narrow") and not app.has_class("-short")
        assert not app.result.cancelled and measures(app.result) == reference
        for side in SIDES:
            pane = app.pane(side)
            assert list(pane.tokens) == shown(app.result, side, app.lens)
            drawn = "".join(seg.text for y in range(pane.size.height) for seg in pane.render_line(y))
            assert drawn.strip()  # repainted at the restored size


# ---- Ctrl-C while the models load ---------------------------------------------------------

def _cli_with_load_pair(definition: str) -> str:
    """A child process running the CLI with the engine's pair loading (`load_checked_pair`) replaced
    by `definition` (a `def load_pair(...)`, which may call `real`, the true one)."""
    return f"""
import os, signal, sys
from alignterm.engine import compare, loading

real = loading.load_checked_pair
{definition}
compare.load_checked_pair = load_pair
from alignterm.cli import main
sys.exit(main(sys.argv[1:]))
"""


LOAD_MARKERS = _cli_with_load_pair("""
def load_pair(*args, **kwargs):  # says when loading starts and ends; loads for real
    print("loading", flush=True)
    pair = real(*args, **kwargs)
    print("loaded", flush=True)
    return pair
""")


def test_ctrl_c_while_loading_the_models_exits_130_with_one_line(wide_dir):
    # An interrupt that lands inside an import (numpy, transformers' lazy modules) can leave a
    # half-made module that fails later as some other error, or is swallowed by a library's own
    # `except ImportError`; either way the user pressed Ctrl-C and must read "interrupted".
    before_loaded = 0
    for delay in (0.0, 0.05, 0.2):
        proc = subprocess.Popen([sys.executable, "-c", LOAD_MARKERS, "analyze", "--query", "hi", "--base",
                                 str(wide_dir), "--aligned", str(ALIGNED_DIR), "--format", "jsonl"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "loading\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        before_loaded += "loaded" not in out
        assert proc.returncode == 130 and err == "alignterm: interrupted\n", (delay, proc.returncode, err)
    assert before_loaded, "every interrupt came after loading: the test proved nothing"


CONVERTED_INTERRUPT = _cli_with_load_pair("""
def load_pair(*args, **kwargs):  # a library that turns the interrupt into its own error, as numpy's import does
    try:
        os.kill(os.getpid(), signal.SIGINT)
        signal.pause()
    except KeyboardInterrupt:
        raise ImportError("cannot load module more than once per process")
""")


def test_ctrl_c_that_a_library_turns_into_another_error_still_reads_interrupted():
    proc = subprocess.run([sys.executable, "-c", CONVERTED_INTERRUPT, "analyze", "--query", "hi", "--format", "jsonl"],
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "alignterm: interrupted\n", "")


SWALLOWED_INTERRUPT = _cli_with_load_pair("""
def load_pair(*args, **kwargs):  # a library whose bare `except:` swallows the interrupt, then loading goes on
    try:
        os.kill(os.getpid(), signal.SIGINT)
        signal.pause()
    except BaseException:
        pass
    return real(*args, **kwargs)
""")


def test_ctrl_c_that_a_library_swallows_still_stops_the_run():
    proc = subprocess.run([sys.executable, "-c", SWALLOWED_INTERRUPT, "analyze", "--queries", str(QUERIES_FILE),
                           "--format", "jsonl"], capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "alignterm: interrupted\n", "")


# ---- SIGHUP: the SSH connection dropped -----------------------------------------------------


async def _cancelled_run(pilot) -> None:
    await run_and_cancel(pilot, after_tokens=2)
    assert pilot.app.result.cancelled


async def test_sighup_saves_the_comparison_on_screen_then_exits(make_app, tmp_path):
    store = SessionStore(tmp_path / "store")
    app = make_app(session_store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await _cancelled_run(pilot)  # a cancelled run is not autosaved: only SIGHUP can save it
        assert store.entries() == []
        assert signal.SIGHUP in app.keeper.signals  # else the signal would end pytest itself
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(pilot, lambda: app.return_code is not None, settle=False)
    assert app.return_code == 129
    [entry] = store.entries()
    assert entry.path == app.saved_on_signal and load_session(entry.path).result == app.result


async def test_sighup_mid_run_keeps_the_partial_answers(make_app, tmp_path):
    store = SessionStore(tmp_path / "store")
    app = make_app(session_store=store, params=DecodingParams(max_new_tokens=400))
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_input.focus()
        await pilot.pause()
        app.post_message(events.Key("enter", "\r"))
        await wait_until(pilot, lambda: len(app.pane("aligned").tokens) >= 3, settle=False)
        assert signal.SIGHUP in app.keeper.signals
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(pilot, lambda: app.return_code is not None, settle=False)
    assert app.return_code == 129
    saved = load_session(app.saved_on_signal)
    assert saved.result.cancelled and len(saved.result.aligned.tokens) >= 3
    assert saved.result == app.result


def _read_until(fd: int, wanted: tuple[bytes, ...], seen: bytearray, timeout: float = 120) -> bytes:
    """Read the app's terminal output until one of `wanted` (regular expressions) shows up; which one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in wanted:
            if re.search(w, seen):
                return w
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    raise AssertionError(f"the app never showed {wanted}; it showed {bytes(seen[-400:])!r}")


RUNNING_WITH_TOKENS = "running · [1-9][0-9]* tok".encode()  # the status line while a run has made tokens


def test_an_ssh_drop_saves_the_session_before_the_app_exits(tmp_path):
    """The real app on a pseudo-terminal: a cancelled run on screen, then the terminal goes away."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: alignterm on the demo pair, the pty its controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "alignterm", "--max-new-tokens", "400"], env)
    seen = bytearray()
    try:
        _read_until(fd, (b"ready",), seen)
        for _ in range(3):
            del seen[:]
            os.write(fd, b"\r")
            _read_until(fd, (RUNNING_WITH_TOKENS,), seen)  # tokens on screen, so the cancelled run has some
            os.write(fd, b"\x1b")
            if _read_until(fd, (b"cancelled", b"done"), seen) == b"cancelled":
                break
        else:
            raise AssertionError("every run ended before Escape reached it")
    finally:
        os.close(fd)  # the SSH connection drops: the kernel sends SIGHUP
    deadline = time.monotonic() + 60
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the app did not exit after SIGHUP")
        time.sleep(0.1)
    sessions = SessionStore(tmp_path / "data" / "alignterm" / "sessions").entries()
    cancelled = [load_session(e.path).result for e in sessions if e.error is None]
    assert any(r.cancelled and (r.aligned.tokens or r.base.tokens) for r in cancelled), sessions
    assert os.waitstatus_to_exitcode(status[1]) == 129
