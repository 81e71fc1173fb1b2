"""Query history: the queries run so far, newest last, optionally kept in a file between runs."""

from __future__ import annotations

import json
from pathlib import Path

MAX_ENTRIES = 200


class QueryHistory:
    """A list of past queries with a browsing position, like a shell's history."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: list[str] = []
        self._pos: int | None = None  # index being shown while browsing, None when not browsing
        self._draft = ""
        if path is not None:
            self._read()

    def _read(self) -> None:
        if self.path is None:
            return
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return  # no history yet, or unreadable: start empty rather than fail
        for line in lines:
            try:
                query = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(query, str) and query.strip():
                self.entries.append(query)
        self.entries = self.entries[-MAX_ENTRIES:]

    def add(self, query: str) -> None:
        """Record a query that was run (a repeat of the newest entry is not recorded twice)."""
        self._pos = None
        if not query.strip() or (self.entries and self.entries[-1] == query):
            return
        self.entries.append(query)
        del self.entries[:-MAX_ENTRIES]
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(query) + "\n")
            except OSError:
                pass  # history is a convenience; never fail a run over it

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (None when there is none)."""
        if not self.entries:
            return None
        if self._pos is None:
            self._draft = current
            self._pos = len(self.entries)
        if self._pos == 0:
            return None
        self._pos -= 1
        return self.entries[self._pos]

    def next(self) -> str | None:
        """The entry after the one shown; the draft typed before browsing at the end."""
        if self._pos is None:
            return None
        self._pos += 1
        if self._pos >= len(self.entries):
            self._pos = None
            return self._draft
        return self.entries[self._pos]
