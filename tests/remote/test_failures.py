"""A server that is down, dies, fails, garbles or stalls: one clear message each, nothing received lost."""

from __future__ import annotations

import json
import time

import pytest

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import GGUF_DIR, demo_queries
from alignterm.engine.events import TokenEvent
from alignterm.engine.loading import load_backend
from alignterm.engine.remote import RemoteError, ServerDown, ServerUnreachable
from alignterm.engine.values import DecodingParams, ModelSpec

from ..conftest import one_clear_line, run_cli
from .conftest import free_port, llama_server
from .test_vllm_dialect import MODELS


def analyze(url: str, *flags: str):
    return run_cli("analyze", "--base", url, "--aligned", url, "--query", "x", "--format", "jsonl", *flags, timeout=60)


def test_server_not_running():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnreachable, match="connection refused"):
        load_backend(ModelSpec(url))
    assert "is the server running?" in one_clear_line(analyze(url))  # exit code 2: the URL serves nothing


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda h, b: h.send(500, {"error": {"message": "CUDA out of memory", "code": 500}}), "HTTP 500: CUDA out of memory"),
        (lambda h, b: h.send(200, "<html>502 Bad Gateway</html>", "text/html"), "not JSON: '<html>502 Bad Gateway"),
        (lambda h, b: h.send(200, {"object": "list"}), "unexpected shape"),
    ],
    ids=["500", "not-json", "wrong-shape"],
)
def test_a_failing_answer_is_one_line_and_exit_code_1(stub, answer, message):
    server = stub({"/v1/models": answer})
    with pytest.raises(RemoteError, match=message):
        load_backend(ModelSpec(server.url))
    proc = analyze(server.url)
    assert proc.returncode == 1 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_slow_server_past_the_timeout(stub):
    server = stub({"/v1/models": lambda h, b: (time.sleep(2), h.send(200, MODELS))})
    with pytest.raises(RemoteError, match=r"did not answer within 0\.3 s"):
        load_backend(ModelSpec(server.url, timeout=0.3))


def test_idempotent_calls_retry_a_busy_server_a_bounded_number_of_times(stub):
    answers = iter([503, 503, 200])
    flaky = stub({"/v1/models": lambda h, b: h.send(next(answers), MODELS), "/tokenize": lambda h, b: h.send(
        200, {"count": 1, "max_model_len": 8192, "tokens": [1]})})
    backend = load_backend(ModelSpec(flaky.url))
    assert MODELS["data"][0]["id"] in backend.name and len(flaky.requests) >= 3  # two 503s, then the answer
    down = stub({"/v1/models": lambda h, b: h.send(503, {"error": {"message": "overloaded"}})})
    with pytest.raises(RemoteError, match="HTTP 503: overloaded"):
        load_backend(ModelSpec(down.url))
    assert len(down.requests) == 3


def test_server_killed_mid_answer_keeps_the_tokens_already_shown():
    """The base model's server dies during a live run: the events so far stay, then one clear error."""
    with llama_server("base") as (url, proc):
        comparator = Comparator.load(ModelSpec(url), ModelSpec(str(GGUF_DIR / "demo-aligned.f32.gguf")))
        shown: list[TokenEvent] = []
        request = ComparisonRequest(demo_queries()[0]["query"], None, DecodingParams(max_new_tokens=32), live=True)
        with pytest.raises(ServerDown, match="connection refused") as err:
            for event in comparator.run(request):
                if isinstance(event, TokenEvent):
                    shown.append(event)
                    if len(shown) == 4:
                        proc.kill()
                        proc.wait()
        assert len(shown) >= 4 and len(str(err.value).splitlines()) == 1


def test_cancelling_a_run_closes_the_servers_stream(stub):
    """Cancel (Escape in the app) stops the generation stream: the server sees the connection close
    long before it has sent the answer it was asked for."""
    from .test_vllm_dialect import _chunk, _detokenize, _logprobs, _tokenize

    chunk = f"data: {json.dumps(_chunk('x', _logprobs(7, -0.1, {7: -0.1, 8: -2.0}), None))}\n\n".encode()
    sent, closed = [], []

    def endless(h, body):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for i in range(body["max_tokens"]):
                h._chunk(chunk)
                sent.append(i)
                time.sleep(0.02)
        except OSError:  # the client hung up
            closed.append(len(sent))
        h.close_connection = True

    server = stub({"/v1/models": lambda h, b: h.send(200, MODELS), "/tokenize": _tokenize,
                   "/detokenize": _detokenize, "/v1/completions": endless})
    backend = load_backend(ModelSpec(server.url))
    steps = backend.generate([1], DecodingParams(max_new_tokens=500))
    got = [next(steps).id for _ in range(3)]
    steps.close()  # what a cancelled run does with its side's stream
    deadline = time.monotonic() + 10
    while not closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got == [7, 7, 7] and closed and closed[0] < 100



def test_the_timeout_flag_reaches_every_server_call(stub):
    server = stub({"/v1/models": lambda h, b: (time.sleep(2), h.send(200, MODELS))})
    proc = analyze(server.url, "--timeout", "0.3")
    assert proc.returncode == 1 and "did not answer within 0.3 s" in proc.stderr
    assert "--timeout must be > 0" in one_clear_line(analyze(server.url, "--timeout", "0"))


def test_the_model_name_flags_reach_the_served_model_lookup(stub):
    two = {"object": "list", "data": [dict(MODELS["data"][0]), dict(MODELS["data"][0], id="other/chat")]}
    server = stub({"/v1/models": lambda h, b: h.send(200, two)})
    message = one_clear_line(analyze(server.url))
    assert "serves 2 models" in message and "--base-model / --aligned-model" in message
    message = one_clear_line(analyze(server.url, "--base-model", "nope", "--aligned-model", "other/chat"))
    assert "does not serve 'nope'" in message and "other/chat" in message
