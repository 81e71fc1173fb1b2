"""Real servers on loopback: llama-cpp-python's server with the demo GGUF pair, and a stub HTTP server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import httpx
import pytest

from alignterm.engine.demo import ALIGNED_DIR, GGUF_DIR

API_KEY_ENV = "ALIGNTERM_TEST_API_KEY"
API_KEY = "sk-loopback-test-4f1c9b"  # the servers' key; it must never show up in any output
CHAT_TEMPLATE = str(ALIGNED_DIR / "chat_template.jinja")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def llama_server(side: str, api_key: str | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m llama_cpp.server` on a free loopback port with demo-{side}.f32.gguf; yields its /v1 URL and process.

    Ready once GET /v1/models answers; always killed (by its own PID) on the way out.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF_DIR / f"demo-{side}.f32.gguf"),
           "--host", "127.0.0.1", "--port", str(port), "--logits_all", "true", "--n_threads", "1"]
    if api_key:
        cmd += ["--api_key", api_key]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", headers=headers, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama-cpp-python's server did not start: {' '.join(cmd)}")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """The demo pair served by two llama-cpp-python servers that want an API key, taken from API_KEY_ENV."""
    os.environ[API_KEY_ENV] = API_KEY
    try:
        with llama_server("base", API_KEY) as base, llama_server("aligned", API_KEY) as aligned:
            yield base[0], aligned[0]
    finally:
        os.environ.pop(API_KEY_ENV, None)


Route = Callable[["Handler", dict], None]


class Handler(BaseHTTPRequestHandler):
    """Answers each path from the stub's table; records every request body."""

    server: "StubServer"

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append((self.path, body))
        self.server.routes[self.path](self, body)

    do_GET = do_POST = _route

    def send(self, status: int, body: bytes | str | dict, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_events(self, chunks: list[dict], finish: bool = True) -> None:
        """Server-sent events, as an OpenAI-compatible server streams; without `finish` the connection just drops."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        if finish:
            self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class StubServer(ThreadingHTTPServer):
    """A real HTTP server on a free loopback port, answering from a table of routes."""

    daemon_threads = True

    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__(("127.0.0.1", free_port()), Handler)
        self.routes = routes
        self.requests: list[tuple[str, dict]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def stub() -> Iterator[Callable[[dict[str, Route]], StubServer]]:
    """Start stub servers from route tables; all are shut down after the test."""
    started: list[StubServer] = []

    def start(routes: dict[str, Route]) -> StubServer:
        server = StubServer(routes)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()
