"""Bad prompt and session inputs, and a session folder that cannot be written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from alignterm import atomic
from alignterm.sessions import FORMAT_VERSION, SessionStore, load_session
from alignterm.sessions.store import save_session
from alignterm.tui.screens.sessions import SaveAsScreen

from ..tui.conftest import run_query, wait_until
from .conftest import cli, one_line, snapshot

NO_MARKERS = "Be helpful and polite.\nAnswer every question.\n"


def _notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def _long_urial(tmp_path: Path) -> Path:
    """A well-formed URIAL prompt far longer than the demo models' 1024-token context."""
    path = tmp_path / "long.txt"
    path.write_text("# Instruction\n" + "Be very helpful. " * 600 + "\n", encoding="utf-8")
    return path


async def test_an_empty_query_in_the_app_is_a_notice_and_nothing_runs(make_app):
    app = make_app(query="")
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_input.value = "   "
        app.query_input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "Type a query first." in _notices(app)
        assert not app.running and app.result is None
        await run_query(pilot, "Who are you?")  # still usable
        assert app.result.aligned.tokens


@pytest.mark.parametrize("command", [["analyze", "--query", "hi"], []], ids=["analyze", "app"])
def test_a_urial_file_without_the_markers_is_one_line(command, tmp_path, capfd):
    bad = tmp_path / "bad.txt"
    bad.write_text(NO_MARKERS)
    code, out, err = cli(capfd, *command, "--urial", str(bad))
    assert one_line(code, err) == (f"alignterm: error: {bad} is not a URIAL prompt: it has neither a "
                                   "'# Instruction' nor a '# Query:' block")
    assert bad.read_text() == NO_MARKERS and out == ""


def test_a_urial_prompt_that_leaves_no_room_is_one_line(tmp_path, capfd):
    code, _, err = cli(capfd, "analyze", "--query", "hi", "--urial", str(_long_urial(tmp_path)))
    line = one_line(code, err)
    assert "leave no room in the models' context" in line and "shorten the query or the URIAL prompt" in line


async def test_bad_urial_prompts_in_the_app_are_notices_and_the_app_stays_usable(make_app, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(NO_MARKERS)
    long = _long_urial(tmp_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        first = app.result
        await pilot.press("f2")
        assert not app.editor.load(str(bad))  # refused: the prompt in use stays
        await pilot.pause()
        assert any("is not a URIAL prompt" in n for n in _notices(app))
        assert app.editor.load(str(long))  # a real prompt, but too long to re-score the answer under
        await wait_until(pilot, lambda: any(n.title == "Re-score failed" for n in app._notifications))
        assert any("do not fit the base model's context of 1024 tokens" in n for n in _notices(app))
        assert app.result is first  # the answers on screen are kept
        app.start_run()  # a run with it cannot start either: a notice, not a crash
        await wait_until(pilot, lambda: any(n.title == "Run failed" for n in app._notifications))
        assert any("leave no room in the models' context" in n for n in _notices(app))
        await app.workers.wait_for_complete()
        assert app.editor.load("default")
        await run_query(pilot)
        assert [t.id for t in app.result.aligned.tokens] == [t.id for t in first.aligned.tokens]


def _cut_mid_line(text: str) -> str:
    return text[: len(text) * 2 // 3]


def _cut_at_a_line(text: str) -> str:
    """The file as a crash while writing it in place would leave it: its last base tokens missing."""
    return text[: text.rindex("\n", 0, len(text) - 200) + 1]


def _newer(text: str) -> str:
    return text.replace(f"alignterm_session: {FORMAT_VERSION}", "alignterm_session: 99", 1)


def _python_tag(text: str) -> str:
    return text.replace("\nquery:", "\nquery: !!python/object/apply:os.system ['touch {marker}']\nold_query:", 1)


SESSION_EDITS = {
    "cut-mid-line": (_cut_mid_line, "not valid YAML"),
    "cut-at-a-line": (_cut_at_a_line, "its base tokens do not match its summary (the file is cut short"),
    "newer-format": (_newer, f"made by a newer alignterm (format 99; this one reads up to {FORMAT_VERSION}): upgrade alignterm"),
    "python-object-tag": (_python_tag, "refused a YAML tag that would run code"),
}


@pytest.mark.parametrize("case", list(SESSION_EDITS))
def test_a_bad_session_file_is_one_line_and_left_byte_for_byte(case, demo_session, tmp_path, capfd):
    path = tmp_path / "s.yaml"
    save_session(demo_session, path)
    edit, message = SESSION_EDITS[case]
    marker = tmp_path / "ran"
    path.write_text(edit(path.read_text()).replace("{marker}", str(marker)))
    before = snapshot(tmp_path)
    code, out, err = cli(capfd, "--session", str(path))
    line = one_line(code, err)
    assert str(path) in line and message in line and out == ""
    assert snapshot(tmp_path) == before and not marker.exists()


# ---- a session folder that cannot be written ---------------------------------------------


def _read_only(store: Path, monkeypatch) -> None:
    """EROFS for any file created in the store (as on a read-only mount; root ignores chmod)."""
    store.mkdir(parents=True)
    os.chmod(store, 0o555)  # what a user who is not root meets
    real = atomic.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == store.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)


def _full(store: Path, monkeypatch) -> None:
    """ENOSPC when a file in the store is flushed to the disk (a full disk)."""
    store.mkdir(parents=True)
    real = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(store.resolve())):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)


@pytest.mark.parametrize("fault,reason", [(_read_only, "Read-only file system"), (_full, "No space left on device")],
                         ids=["read-only", "full"])
async def test_a_failed_autosave_is_a_notice_and_the_session_can_be_saved_elsewhere(
        fault, reason, make_app, tmp_path, monkeypatch):
    store = tmp_path / "store"
    fault(store, monkeypatch)
    app = make_app(session_store=SessionStore(store))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await run_query(pilot)
            await wait_until(pilot, lambda: any(n.title == "Session not saved" for n in app._notifications))
            assert f"Autosave to {store} failed: {reason}. The comparison is kept in memory: ctrl+s saves it " \
                   "elsewhere." in _notices(app)
            assert snapshot(store) == {}  # no partial file, no temp file left behind
            assert app.session is not None and app.session.result is app.result and app.session.path is None
            await pilot.press("ctrl+s")
            assert isinstance(app.screen, SaveAsScreen)
            elsewhere = tmp_path / "elsewhere" / "kept.yaml"
            elsewhere.parent.mkdir()
            app.screen.query_one("#save-path").value = str(elsewhere)
            await pilot.press("enter")
            await pilot.pause()
            assert load_session(elsewhere).result == app.result
            assert app.is_running
    finally:
        os.chmod(store, 0o755)
