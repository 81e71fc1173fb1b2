"""SessionKeeper: autosave, save as / export, the sessions browser, and saving on SIGHUP/SIGTERM.

An object of its own (not a mixin reading the app's attributes): the comparison screen
hands it the comparison on screen as a `Session` (architecture §4) and it writes it,
never touching a model. Every save is atomic (sessions/store.py), and a dropped SSH
connection or a stop request saves what is on screen before the app leaves
(docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from alignterm.engine.errors import failure_line
from alignterm.sessions import Session, SessionError, SessionStore, load_session
from alignterm.sessions.store import save_session, slug

from .screens.sessions import SaveAsScreen, SessionBrowser

if TYPE_CHECKING:
    from textual.app import App

    from alignterm.engine.events import ComparisonResult
    from alignterm.engine.values import ModelSpec

# SIGHUP (the SSH connection dropped) and SIGTERM save the comparison on screen, then leave
SAVE_ON_SIGNALS = ("SIGHUP", "SIGTERM")
HANGUP_GRACE_S = 5.0  # how long a cancelled run may take to hand back its partial answers


def write_session(session: Session, path: Path) -> None:
    """Save `session` at `path`, making its folder first (the store's may not exist yet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_session(session, path)


class SessionKeeper:
    """The app's sessions: the one on screen, autosave, save as, export, open, and the save on leaving.

    `on_screen()` is the comparison on screen as a session (None when there is none),
    `cancel_run()` cancels a run (False when none runs) and `open(session)` shows one.
    """

    def __init__(self, app: App[int], store: SessionStore | None, theme_files: dict,
                 on_screen: Callable[[], Session | None], cancel_run: Callable[[], bool],
                 open: Callable[[Session], None]) -> None:
        self.app, self.store, self._theme_files = app, store, theme_files
        self._on_screen, self._cancel_run, self._open = on_screen, cancel_run, open
        self.session: Session | None = None  # the comparison on screen, once saved or opened
        self._autosave_to: tuple[Session, Path] | None = None  # the last autosave started, and its file
        self.signals: list[int] = []  # the signals whose handler this keeper installed
        self.leaving_on: int | None = None  # the signal (SIGHUP, SIGTERM) the app is leaving on
        self.saved_on_signal: Path | None = None  # where the comparison on screen was saved as it left

    def session_for(self, result: ComparisonResult, base: ModelSpec, aligned: ModelSpec, urial_label: str) -> Session:
        """The session of `result`: the one already kept for it, else a new one (not yet saved)."""
        if self.session is None or self.session.result is not result:
            self.session = Session.now(result, base, aligned, urial_label)
        return self.session

    # ---- autosave --------------------------------------------------------------------

    def autosave(self, session: Session) -> None:
        """Save a finished run in the store, off the UI thread (atomically: a crash keeps older files whole)."""
        if self.store is None:
            return
        target = self._autosave_to = (session, self.store.new_path(session))
        self.app.run_worker(lambda: self._autosave(*target), thread=True,
                            exit_on_error=False, group="autosave")

    def _autosave(self, session: Session, path: Path) -> None:
        try:
            write_session(session, path)
        except Exception as err:  # a read-only or full disk: say so; the session stays in memory
            reason = (err.strerror or str(err)) if isinstance(err, OSError) else failure_line(err)
            root = self.store.root if self.store is not None else path.parent
            try:
                self.app.call_from_thread(
                    self.app.notify, f"Autosave to {root} failed: {reason}. "
                    "The comparison is kept in memory: ctrl+s saves it elsewhere.",
                    title="Session not saved", severity="error", timeout=30)
            except RuntimeError:
                pass  # the app has gone

    # ---- open, save as, export -------------------------------------------------------

    def open_file(self, path: Path) -> None:
        try:
            session = load_session(path)
        except SessionError as err:
            self.app.notify(str(err), title="Session not opened", severity="error", timeout=15)
            return
        self._open(session)

    def browse(self) -> None:
        if self.store is None:
            self.app.notify("No session store (sessions are off in this app).", severity="warning")
            return
        self.app.push_screen(SessionBrowser(self.store), self._opened)

    def _opened(self, path: Path | None) -> None:
        if path is not None:  # None: the browser was closed without choosing
            self.open_file(path)

    def _current(self) -> Session | None:
        """The comparison on screen as a session (None, with a notice, when there is none)."""
        session = self._on_screen()
        if session is None:
            self.app.notify("Nothing to save yet: run a query first.", severity="warning")
        return session

    def save_as_dialog(self) -> None:
        if (session := self._current()) is None:
            return
        folder = self.store.root if self.store is not None else Path.cwd()
        default = session.path or folder / f"{slug(session.result.query)}.yaml"
        hint = "Enter saves: .yaml (or any other suffix) a session file, .html a self-contained page."
        self.app.push_screen(SaveAsScreen("Save session as", default, hint), partial(self._chosen, session))

    def export_dialog(self) -> None:
        if (session := self._current()) is None:
            return
        default = Path.cwd() / f"{slug(session.result.query)}.html"
        hint = "Enter writes one HTML file: both answers, top-k per token on hover, the summary, a shift plot."
        self.app.push_screen(SaveAsScreen("Export HTML", default, hint), partial(self._chosen, session))

    def _chosen(self, session: Session, path: Path | None) -> None:
        if path is not None:  # None: the dialog was cancelled
            self.save_as(session, path)

    def save_as(self, session: Session, path: Path) -> None:
        """Write `session` at `path`: a page for .html / .htm, else a session file."""
        from alignterm.atomic import atomic_write
        from alignterm.formats.html import HtmlWriter
        from alignterm.sessions.format import session_record

        page = path.suffix.lower() in (".html", ".htm")
        try:
            if page:
                with atomic_write(path) as f:
                    writer = HtmlWriter(f, self._theme_files.get(self.app.theme))
                    writer.write(session_record(session))
                    writer.close()
            else:
                save_session(session, path)
        except OSError as err:
            self.app.notify(f"cannot write {path}: {err.strerror or err}", title="Not saved", severity="error",
                            timeout=15)
            return
        self.app.notify(f"Saved {path}", title="Exported HTML page" if page else "Session saved")

    # ---- leaving on a signal ---------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """Save the comparison on screen when the terminal goes away (SIGHUP) or the system stops us (SIGTERM)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread (an app embedded in a thread goes without)
        loop = asyncio.get_running_loop()
        for name in SAVE_ON_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                loop.add_signal_handler(signum, self._on_leave_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # no signal handlers on this platform / loop
            self.signals.append(signum)

    def remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.signals:
            loop.remove_signal_handler(signum)
        self.signals.clear()

    def _on_leave_signal(self, signum: int) -> None:
        """Cancel a run (its partial answers are kept), save what is on screen, exit with 128 + signum."""
        if self.leaving_on is not None:
            return
        self.leaving_on = signum
        if self._cancel_run():  # the screen calls save_and_leave when the cancelled result arrives
            self.app.set_timer(HANGUP_GRACE_S, self.save_and_leave)  # never wait on a stuck model for ever
        else:
            self.save_and_leave()

    def save_and_leave(self) -> None:
        if self.saved_on_signal is None:
            self.saved_on_signal = self._save_for_later()
        code = 128 + (self.leaving_on or 0)
        if self.leaving_on == getattr(signal, "SIGHUP", None) and not self.app.is_headless:
            # the terminal is gone: Textual's shutdown would write to it, and once its output
            # thread has died on the closed terminal that write blocks for ever (seen 1 in 5
            # under load); the comparison is saved and there is no screen left to restore
            os._exit(code)
        self.app.exit(return_code=code)

    def _save_for_later(self) -> Path | None:
        """Write the comparison on screen to the store unless it is already in a file; where it is."""
        session = self._on_screen()
        if session is None or self.store is None:
            return None
        if session.path is not None:
            return session.path  # autosaved or opened from a file: already safe
        autosaving = self._autosave_to
        # an autosave still under way writes the same file: writing it here too costs nothing
        path = autosaving[1] if autosaving and autosaving[0] is session else self.store.new_path(session)
        try:
            write_session(session, path)
            return path
        except Exception:  # the terminal is gone: nobody to tell, and nothing more to try
            return None
