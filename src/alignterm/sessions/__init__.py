"""Sessions: saved comparisons that replay without a model (format), and the autosave store."""

from .format import FORMAT_VERSION, Session, SessionError, dumps, load_session, loads
from .store import SessionStore, StoredSession

__all__ = ["FORMAT_VERSION", "Session", "SessionError", "SessionStore", "StoredSession", "dumps", "load_session", "loads"]
