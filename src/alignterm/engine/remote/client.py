"""The HTTP client every server dialect speaks through, and the errors a server's failures become."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

from ..errors import AlignTermError, BadInput

RETRIES = 2  # extra attempts of an idempotent call after a refused connection or a 502/503/504
RETRY_STATUS = (502, 503, 504)


class RemoteError(AlignTermError):
    """A server failed during a run: HTTP error, malformed answer, timeout, death mid-stream (exit code 1)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerDown(RemoteError):
    """Nothing answers at the server's address (any more)."""


class ServerUnreachable(BadInput):
    """Nothing answers at the URL the user gave, when loading (exit code 2)."""


def api_key(env_var: str | None) -> str | None:
    """The API key from the environment variable named by --api-key-env; the key itself is never stored."""
    if env_var is None:
        return None
    key = os.environ.get(env_var)
    if not key:
        raise BadInput(f"--api-key-env {env_var}: that environment variable is not set")
    return key


class Client:
    """httpx with one clear message per failure, bounded retries for idempotent calls, and the API key header."""

    def __init__(self, url: str, key: str | None, timeout: float) -> None:
        import httpx

        self.url = url.rstrip("/")
        root = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout = timeout
        self._http = httpx.Client(base_url=root, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def post(self, path: str, body: dict) -> Any:
        """POST an idempotent request (tokenize, score, greedy probe) and return its JSON."""
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: dict | None) -> Any:
        import httpx

        for attempt in range(RETRIES + 1):
            try:
                response = self._http.request(method, path, json=body)
            except httpx.ConnectError:
                if attempt == RETRIES:
                    raise self._down() from None
            except httpx.TimeoutException:
                raise self._too_slow(path) from None
            except httpx.HTTPError as err:
                raise RemoteError(f"{self.url}: {path} failed: {err}") from None
            else:
                if response.status_code not in RETRY_STATUS or attempt == RETRIES:
                    return self._json(response, path)
            time.sleep(0.2 * 2**attempt)
        raise AssertionError("the loop returns or raises")

    def stream(self, path: str, body: dict) -> Iterator[dict]:
        """The JSON objects of a server-sent-event stream; closing the iterator closes the connection."""
        import httpx

        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    self._json(response, path)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments and pings
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        return
                    yield self._parse(data, path)
        except httpx.ConnectError:
            raise self._down() from None
        except httpx.TimeoutException:
            raise self._too_slow(path) from None
        except httpx.TransportError:
            raise RemoteError(f"{self.url} stopped answering in the middle of an answer (did the server die?)") from None

    def _down(self) -> ServerDown:
        return ServerDown(f"cannot connect to {self.url}: connection refused (is the server running?)")

    def _too_slow(self, path: str) -> RemoteError:
        return RemoteError(f"{self.url}: {path} did not answer within {self.timeout:g} s (raise --timeout?)")

    def _json(self, response, path: str) -> Any:
        if response.status_code >= 400:
            detail = _error_detail(response.text)
            hint = " (check the API key given by --api-key-env)" if response.status_code in (401, 403) else ""
            raise RemoteError(f"{self.url}: {path} answered HTTP {response.status_code}: {detail}{hint}", response.status_code)
        return self._parse(response.text, path)

    def _parse(self, text: str, path: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise RemoteError(f"{self.url}: {path} answered with something that is not JSON: {text[:60]!r}") from None


def _error_detail(text: str) -> str:
    """The server's own error message (OpenAI, FastAPI or plain text shape), on one short line."""
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body))
        body = err.get("message", err) if isinstance(err, dict) else err
    line = str(body).strip().splitlines()[0] if str(body).strip() else "(empty body)"
    return line[:200]


def shape_error(url: str, path: str) -> RemoteError:
    """A server answered JSON, but not in the shape its dialect documents."""
    return RemoteError(f"{url}: {path} answered in an unexpected shape (not the server alignterm expected?)")
