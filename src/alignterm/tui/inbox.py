"""Inbox: a run's events on their way from the worker thread to the UI, in order, in batches.

The worker never waits for the UI to draw a token (a blocking hand-off per token lets a
fast model flood the event loop, so a key such as Escape waits behind the stream). It
appends to the inbox and asks the UI, once, to drain it; the UI takes everything waiting
in one go. At most `limit` events wait, so the worker stays close to what is on screen
and a cancelled run has little left to show.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any


class Inbox:
    """A bounded, ordered hand-off from one producer thread to the UI thread."""

    def __init__(self, wake: Callable[[], object], limit: int = 32) -> None:
        self._wake = wake  # thread-safe: asks the UI to call take_all() soon
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._wake_pending = False
        self.limit = limit
        self.closed = False

    def put(self, item: Any, stop: Callable[[], bool] = lambda: False) -> None:
        """Add `item`, waiting while the inbox is full (unless `stop()` or the inbox is closed)."""
        with self._cond:
            while len(self._items) >= self.limit and not (self.closed or stop()):
                self._cond.wait(0.05)
            self._items.append(item)
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            self._wake()

    def take_all(self) -> list[Any]:
        """Everything waiting, oldest first (called on the UI thread)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._wake_pending = False
            self._cond.notify_all()
        return items

    def close(self) -> None:
        """The UI is going away: never make a producer wait again."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
