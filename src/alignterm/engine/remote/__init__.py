"""Models on OpenAI-compatible servers (architecture §5): the backend, its HTTP client and the
dialect of each server it speaks."""

from .backend import RemoteBackend, RemoteScorer, RemoteTokenizer
from .client import RemoteError, ServerDown, ServerUnreachable

__all__ = ["RemoteBackend", "RemoteError", "RemoteScorer", "RemoteTokenizer", "ServerDown", "ServerUnreachable"]
