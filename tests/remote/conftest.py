"""Real servers on loopback: llama-cpp-python's server with the demo GGUF pair, and a stub HTTP server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

    server: StubServer

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


def _serve(routes: dict[str, Route], started: list[StubServer]) -> StubServer:
    server = StubServer(routes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started.append(server)
    return server


def _shut_down(started: list[StubServer]) -> None:
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stub() -> Iterator[Callable[[dict[str, Route]], StubServer]]:
    """Start stub servers from route tables; all are shut down after the test."""
    started: list[StubServer] = []
    yield lambda routes: _serve(routes, started)
    _shut_down(started)


class LlamaServerStub:
    """llama.cpp's own server (`llama-server`) as its README documents the endpoints alignterm uses
    (/v1/models owned_by "llamacpp", /props, /tokenize, /detokenize, /apply-template, streaming
    /completion with n_probs), answering with a real demo GGUF model run by llama_cpp in-process:
    the shapes are the documented ones, the numbers are the model's own."""

    def __init__(self, path: str) -> None:
        import llama_cpp

        self.llm = llama_cpp.Llama(model_path=path, n_ctx=2048, logits_all=True, n_threads=1, verbose=False)
        self.lock = threading.Lock()
        self.name = os.path.basename(path)

    def _piece(self, token: int) -> str:
        return self.llm.detokenize([token]).decode("utf-8", errors="replace")

    def _entry(self, token: int, lp) -> dict:
        return {"id": token, "token": self._piece(token), "logprob": float(lp[token]), "bytes": []}

    def routes(self) -> dict[str, Route]:
        llm = self.llm
        eos = self._piece(llm.token_eos())
        card = {"id": self.name, "object": "model", "created": 1764000000, "owned_by": "llamacpp",
                "meta": {"n_vocab": llm.n_vocab(), "n_ctx_train": llm.n_ctx()}}
        props = {"default_generation_settings": {"n_ctx": llm.n_ctx()}, "total_slots": 1,
                 "bos_token": self._piece(llm.token_bos()), "eos_token": eos,
                 "chat_template": llm.metadata.get("tokenizer.chat_template", "")}

        def tokenize(h, body):
            ids = llm.tokenize(body["content"].encode(), add_bos=bool(body.get("add_special")), special=True)
            h.send(200, {"tokens": ids})

        def apply_template(h, body):
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            text = env.from_string(props["chat_template"]).render(
                messages=body["messages"], add_generation_prompt=True, bos_token=props["bos_token"], eos_token=eos)
            h.send(200, {"prompt": text})

        def completion(h, body):
            h.send_events(self._completion(body))

        return {"/v1/models": lambda h, b: h.send(200, {"object": "list", "data": [card]}),
                "/props": lambda h, b: h.send(200, props), "/tokenize": tokenize,
                "/detokenize": lambda h, b: h.send(200, {"content": llm.detokenize(b["tokens"]).decode("utf-8", "replace")}),
                "/apply-template": apply_template, "/completion": completion}

    def _completion(self, body: dict) -> list[dict]:
        """Greedy generation (what the tests ask for), streamed as llama-server's chunks."""
        import numpy as np

        assert body["stream"] and body["temperature"] == 0.0 and body["n_probs"] > 0
        llm, chunks, stop_type = self.llm, [], "limit"
        with self.lock:
            llm.reset()
            llm.eval(body["prompt"])
            for _ in range(body["n_predict"]):
                logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
                lp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
                token = int(lp.argmax())
                top = [self._entry(int(i), lp) for i in np.argsort(-lp, kind="stable")[: body["n_probs"]]]
                text = "" if token == llm.token_eos() else self._piece(token)
                chunks.append({"content": text, "tokens": [token], "stop": False,
                               "completion_probabilities": [{**self._entry(token, lp), "top_logprobs": top}]})
                if token == llm.token_eos():
                    stop_type = "eos"
                    break
                llm.eval([token])
        chunks.append({"content": "", "tokens": [], "stop": True, "stop_type": stop_type, "stopping_word": ""})
        return chunks


@pytest.fixture(scope="module")
def llamacpp_server() -> Iterator[Callable[[str], StubServer]]:
    """Start a llama-server stand-in for demo-{side}.f32.gguf; shut down after the module."""
    started: list[StubServer] = []
    yield lambda side: _serve(LlamaServerStub(str(GGUF_DIR / f"demo-{side}.f32.gguf")).routes(), started)
    _shut_down(started)
