"""Keeping comparisons: autosave, save as / export, opening sessions, and saving on SIGHUP/SIGTERM.

A mixin of the app (tui/app.py): these methods read the comparison on screen from the app's
state (`result`, `session`, the model specs) and never touch a model. Every save is atomic
(sessions/store.py), and a dropped SSH connection or a stop request saves what is on screen
before the app leaves (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

from textual import work

from alignterm.engine.errors import failure_line
from alignterm.sessions import Session, SessionError, load_session
from alignterm.sessions.store import save_session, slug

from .screens.sessions import SaveAsScreen, SessionBrowser

# SIGHUP (the SSH connection dropped) and SIGTERM save the comparison on screen, then leave
SAVE_ON_SIGNALS = ("SIGHUP", "SIGTERM")
HANGUP_GRACE_S = 5.0  # how long a cancelled run may take to hand back its partial answers


class SessionKeeping:
    """The app's sessions: autosave, save as, export, open, and the save on leaving."""

    @work(thread=True, exit_on_error=False, group="autosave")
    def _autosave(self, session: Session, path: Path) -> None:
        """Save a finished run in the store, off the UI thread (atomically: a crash keeps older files whole)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_session(session, path)
        except Exception as err:  # a read-only or full disk: say so; the session stays in memory
            reason = (err.strerror or str(err)) if isinstance(err, OSError) else failure_line(err)
            self._deliver(self.notify, f"Autosave to {self.session_store.root} failed: {reason}. "  # type: ignore[union-attr]
                          "The comparison is kept in memory: ctrl+s saves it elsewhere.",
                          title="Session not saved", severity="error", timeout=30)

    # ---- sessions --------------------------------------------------------------------

    def open_session(self, session: Session) -> None:
        """Show a saved comparison exactly as it was, with no model; a run re-runs it on its models."""
        self._drop_runs()
        self.session = session
        result = session.result
        if (session.base, session.aligned) != (self.base_spec, self.aligned_spec):
            self.base_spec, self.aligned_spec = session.base, session.aligned
            self.comparator, self.loader, self.load_error = None, None, None
        self.params = result.params
        missing = session.missing_models() if self.comparator is None else []
        self.read_only = f"{' and '.join(missing)} not found on this machine" if missing else None
        self.urial_text = result.urial
        self.urial_label = self._base_urial_label = session.urial_label if result.urial is not None else "none"
        self.editor.show_prompt(result.urial, self.urial_label)
        self.query_input.value = result.query
        self._title_base_pane()
        self.inspector.show(None)
        self.stats.reset()
        self.stats.set_urial_label(self.urial_label)
        self.stats.set_base_label(self.urial_label)
        self._show_result(result)
        self._update_status()
        name = session.path.name if session.path is not None else "session"
        if self.read_only is not None:
            self.notify(f"Opened {name} read-only: its models ({self.read_only}) are needed to run it again.",
                        title="Session", severity="warning", timeout=15)
        else:
            self.notify(f"Opened {name}: replayed without a model; Enter re-runs it.", title="Session")

    def open_session_file(self, path: Path) -> None:
        try:
            session = load_session(path)
        except SessionError as err:
            self.notify(str(err), title="Session not opened", severity="error", timeout=15)
            return
        self.open_session(session)

    def _current_session(self) -> Session | None:
        """The comparison on screen as a session (None, with a notice, when there is none)."""
        if self.result is None:
            self.notify("Nothing to save yet: run a query first.", severity="warning")
            return None
        if self.session is None or self.session.result is not self.result:
            self.session = Session.now(self.result, self.base_spec, self.aligned_spec, self._base_urial_label)
        return self.session

    def action_sessions(self) -> None:
        if self.session_store is None:
            self.notify("No session store (sessions are off in this app).", severity="warning")
            return
        self.push_screen(SessionBrowser(self.session_store), lambda path: path and self.open_session_file(path))

    def action_save_session(self) -> None:
        if (session := self._current_session()) is None:
            return
        folder = self.session_store.root if self.session_store is not None else Path.cwd()
        default = session.path or folder / f"{slug(session.result.query)}.yaml"
        hint = "Enter saves: .yaml (or any other suffix) a session file, .html a self-contained page."
        self.push_screen(SaveAsScreen("Save session as", default, hint), lambda path: path and self._save_as(session, path))

    def action_export_html(self) -> None:
        if (session := self._current_session()) is None:
            return
        default = Path.cwd() / f"{slug(session.result.query)}.html"
        hint = "Enter writes one HTML file: both answers, top-k per token on hover, the summary, a shift plot."
        self.push_screen(SaveAsScreen("Export HTML", default, hint), lambda path: path and self._save_as(session, path))

    def _save_as(self, session: Session, path: Path) -> None:
        from alignterm.atomic import atomic_write
        from alignterm.formats.html import HtmlWriter
        from alignterm.sessions.format import session_record

        try:
            if path.suffix.lower() in (".html", ".htm"):
                with atomic_write(path) as f:
                    page = HtmlWriter(f, self.theme_files.get(self.theme))
                    page.write(session_record(session))
                    page.close()
            else:
                save_session(session, path)
        except OSError as err:
            self.notify(f"cannot write {path}: {err.strerror or err}", title="Not saved", severity="error", timeout=15)
            return
        page = path.suffix.lower() in (".html", ".htm")
        self.notify(f"Saved {path}", title="Exported HTML page" if page else "Session saved")

    def _install_signal_handlers(self) -> None:
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
            self._signals.append(signum)

    def _on_leave_signal(self, signum: int) -> None:
        """Cancel a run (its partial answers are kept), save what is on screen, exit with 128 + signum."""
        if self.leaving_on is not None:
            return
        self.leaving_on = signum
        if self._run_cancel is not None:
            self._run_cancel.cancel()  # _run_finished saves and leaves when the cancelled result arrives
            self.set_timer(HANGUP_GRACE_S, self._save_and_leave)  # never wait on a stuck model for ever
        else:
            self._save_and_leave()

    def _save_and_leave(self) -> None:
        if self.saved_on_signal is None:
            self.saved_on_signal = self._save_for_later()
        code = 128 + (self.leaving_on or 0)
        if self.leaving_on == getattr(signal, "SIGHUP", None) and not self.is_headless:
            # the terminal is gone: Textual's shutdown would write to it, and once its output
            # thread has died on the closed terminal that write blocks for ever (seen 1 in 5
            # under load); the comparison is saved and there is no screen left to restore
            os._exit(code)
        self.exit(return_code=code)

    def _save_for_later(self) -> Path | None:
        """Write the comparison on screen to the store unless it is already in a file; where it is."""
        if self.result is None or self.session_store is None:
            return None
        session = self.session
        if session is None or session.result is not self.result:
            session = self.session = Session.now(self.result, self.base_spec, self.aligned_spec,
                                                 self._base_urial_label)
        if session.path is not None:
            return session.path  # autosaved or opened from a file: already safe
        autosaving = self._autosave_to
        # an autosave still under way writes the same file: writing it here too costs nothing
        path = autosaving[1] if autosaving and autosaving[0] is session else self.session_store.new_path(session)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_session(session, path)
            return path
        except Exception:  # the terminal is gone: nobody to tell, and nothing more to try
            return None

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals.clear()
