"""The session store: every finished run autosaved, atomically, in the user's data folder.

Default folder: `$XDG_DATA_HOME/alignterm/sessions/` (platformdirs). Every save is a temp
file, fsynced, then renamed over the target (`atomic_write`), so a crash mid-save leaves
the previous file whole; a temp file a crash leaves behind starts with a dot and is never
listed. The store never rewrites a file it reads.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import platformdirs

from ..atomic import atomic_write
from ..engine.prompts import NONE, bundled_urial_names, load_urial
from .format import Session, SessionError, dumps, parse

SUFFIX = ".yaml"


def save_session(session: Session, path: Path) -> None:
    """Write `session` to `path` atomically: a crash mid-write leaves the old file whole."""
    with atomic_write(path) as f:
        f.write(dumps(session))
    session.path = path


def default_dir() -> Path:
    return platformdirs.user_data_path("alignterm") / "sessions"


def slug(query: str, length: int = 40) -> str:
    """A file-name-safe summary of a query: its first words, lower case, joined by dashes."""
    words = re.findall(r"\w+", query.lower())
    return "-".join(words)[:length].strip("-") or "session"


@dataclass(frozen=True)
class StoredSession:
    """One file of the store as the session browser lists it."""

    path: Path
    query: str = ""
    created: str = ""
    shifted: float | None = None  # the aligned answer's shifted share
    error: str | None = None  # why the file cannot be opened, if it cannot
    prompt: str = ""  # the URIAL prompt the run used, by name (prompt_name)
    turn: int = 1  # a conversation's turn (format 3's history holds the turns before it)

    def matches(self, search: str) -> bool:
        """Whether the query or the prompt's name contains `search` (any case)."""
        return any(search.casefold() in field.casefold() for field in (self.query, self.prompt))


@cache
def _bundled_prompts() -> dict[str, str]:
    """The bundled URIAL prompts' texts by name."""
    return {name: text for name in bundled_urial_names() if name != NONE and (text := load_urial(name)) is not None}


def prompt_name(name: str | None, text: str | None) -> str:
    """A short name for a run's URIAL prompt: "bare", a bundled name, or the recorded one.

    The text decides where it can (a copy of a bundled prompt is that prompt); otherwise the
    recorded name, shortened to a file's stem, marked "*" if it names a bundled prompt whose
    text was changed (as the editor marks an edited one), or "custom" when none was recorded.
    """
    if text is None:
        return "bare"
    bundled = _bundled_prompts()
    same = [n for n, t in bundled.items() if t == text]
    if same:
        return same[0]
    stem = Path(name).stem if name and name != NONE else ""
    if not stem:
        return "custom"
    return f"{stem}*" if stem in bundled else stem


def _prompt_of(doc: dict[str, Any]) -> str:
    urial = doc.get("urial")
    if isinstance(urial, dict):  # format 2: {name, text}
        name, text = urial.get("name"), urial.get("text")
    else:  # format 1: the name, and the text apart
        name, text = urial, doc.get("urial_text")
    # a hand-edited file may hold anything here: the list shows it rather than failing
    return prompt_name(None if name is None else str(name), None if text is None else str(text))


def _document(path: Path, text: str) -> dict[str, Any]:
    """The file's header: parsed from the part before the answers where it is all there (fast for
    a long list); format 1 wrote its summary and prompt after the answers, so its whole file."""
    try:
        doc = parse(text.split("\naligned:", 1)[0], str(path))
        if "summary" in doc:
            return doc
    except SessionError:
        pass
    return parse(text, str(path))


def _listing(path: Path) -> StoredSession:
    """The file's query, date, shift and prompt, read from its header."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return StoredSession(path, error=f"cannot read: {getattr(err, 'strerror', None) or err}")
    try:
        doc = _document(path, text)
    except SessionError as err:
        return StoredSession(path, error=str(err))
    try:
        aligned = doc["summary"]["aligned"]
        shifted = aligned["shifted"] / aligned["n"] if aligned["n"] else 0.0
    except (KeyError, TypeError, ZeroDivisionError):
        shifted = None
    history = doc.get("history")
    return StoredSession(path, str(doc.get("query", "")), str(doc.get("created", "")), shifted,
                         prompt=_prompt_of(doc), turn=len(history) + 1 if isinstance(history, list) else 1)


class SessionStore:
    """The folder of saved sessions."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_dir()
        # names handed out but perhaps not written yet (an autosave still in its thread): two
        # saves of the same query in the same second must not get one name, or the later
        # write would replace the other session
        self._claimed: set[Path] = set()
        self._lock = threading.Lock()

    def new_path(self, session: Session) -> Path:
        """A fresh file name, never handed out before: the run's time and the query's first words."""
        stamp = re.sub(r"[^0-9T]", "", session.created[:19]).replace("T", "-") or "session"
        stem = f"{stamp}-{slug(session.result.query)}"
        path = self.root / f"{stem}{SUFFIX}"
        n = 2
        with self._lock:
            while path.exists() or path in self._claimed:
                path = self.root / f"{stem}-{n}{SUFFIX}"
                n += 1
            self._claimed.add(path)
        return path

    def save(self, session: Session) -> Path:
        """Write `session` to a new file in the store."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.new_path(session)
        save_session(session, path)
        return path

    def entries(self, search: str = "") -> list[StoredSession]:
        """The store's sessions, newest first, whose query or prompt name contains `search` (any case)."""
        if not self.root.is_dir():
            return []
        files = [p for p in self.root.glob(f"*{SUFFIX}") if not p.name.startswith(".")]
        listed = sorted((_listing(p) for p in files), key=lambda e: (e.created, e.path.name), reverse=True)
        return [e for e in listed if e.matches(search)] if search else listed

    def delete(self, path: Path) -> None:
        path.unlink(missing_ok=True)
