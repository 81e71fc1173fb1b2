"""Killing the process in the middle of saving never costs a session (architecture §4: atomic saves)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from alignterm.sessions import SessionStore, load_session
from alignterm.sessions.store import save_session

# Saves in a loop, as the app does: over the same file (save-as) and as new autosave files.
WRITER = """
import sys
from pathlib import Path
from alignterm.sessions import SessionStore, load_session
from alignterm.sessions.store import save_session

session = load_session(sys.argv[1])
store = SessionStore(Path(sys.argv[2]))
print("ready", flush=True)
for i in range(10**9):
    session.result.query = f"version {i}"
    save_session(session, Path(sys.argv[1]))
    store.save(session)
    print("saved", flush=True)
"""


def test_sigkill_during_saves_leaves_every_session_whole(demo_session, tmp_path):
    target = tmp_path / "saved.yaml"
    store = SessionStore(tmp_path / "store")
    save_session(demo_session, target)
    rng = random.Random(1)
    for _ in range(8):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(store.root)],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline() == "ready\n"
        assert writer.stdout.readline() == "saved\n"  # one whole round of saves, however slow the machine
        time.sleep(rng.uniform(0.0, 0.5))  # then the kill lands anywhere in a later round
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        survivor = load_session(target)  # the previous version or the new one, never a part
        assert survivor.result.query == demo_session.result.query or survivor.result.query.startswith("version ")
        assert survivor.result.aligned == demo_session.result.aligned
        for entry in store.entries():
            assert entry.error is None, entry.error
            assert load_session(entry.path).result.base == demo_session.result.base
    assert store.entries(), "the writer never finished a save: the test proved nothing"


def test_two_saves_of_one_query_in_one_second_never_share_a_file(demo_session, tmp_path):
    """The app autosaves a finished run in a thread; a save on SIGHUP right after (same query,
    same second) used to get the same name before the autosave had written it, and the later
    write replaced the other session."""
    store = SessionStore(tmp_path)
    first = store.new_path(demo_session)  # handed out, not written yet
    second = store.new_path(demo_session)
    assert first != second
    save_session(demo_session, second)
    save_session(demo_session, first)
    assert len(store.entries()) == 2
