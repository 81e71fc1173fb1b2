"""llama.cpp's own server (llama-server): it generates but cannot score given tokens, so the
answers stream and the measures that need scoring are shown as unavailable, never invented.

The server is the documented llama-server API in front of the real demo GGUF model
(tests/remote/conftest.py: LlamaServerStub); the other model is the local GGUF backend.
"""

from __future__ import annotations

import json

import pytest

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import GGUF_DIR, demo_queries
from alignterm.engine.errors import AlignTermError
from alignterm.engine.loading import load_backend
from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.formats.record import result_record
from alignterm.sessions.format import Session, dumps, loads

from ..conftest import run_cli

PARAMS = DecodingParams(max_new_tokens=24)
BASE_GGUF = str(GGUF_DIR / "demo-base.f32.gguf")
ALIGNED_GGUF = str(GGUF_DIR / "demo-aligned.f32.gguf")


@pytest.fixture(scope="module")
def base_server(llamacpp_server):
    return llamacpp_server("base")


@pytest.fixture(scope="module")
def local_pair() -> Comparator:
    return Comparator.load(ModelSpec(BASE_GGUF), ModelSpec(ALIGNED_GGUF))


def test_llama_server_is_detected_as_generation_only_with_its_tokenizer(llamacpp_server, local_pair):
    server = llamacpp_server("aligned")
    backend = load_backend(ModelSpec(server.url))
    assert backend.kind == "remote" and not backend.can_score and backend.context_length == 2048
    local = local_pair.aligned.tokenizer
    for text in ("Hello, world!", "  two spaces\nand a line", "ünïcødé — ✓"):
        assert backend.tokenizer.encode(text, add_bos=True) == local.encode(text, add_bos=True)
    query = demo_queries()[0]["query"]
    assert backend.tokenizer.chat_ids(query) == local.chat_ids(query)  # the server's own chat template
    history = (("Tell me about Kasla.", "Kasla is a town."),)
    assert backend.tokenizer.chat_ids(query, history) == local.chat_ids(query, history)
    path, body = server.requests[-1]
    assert path == "/tokenize" and body["add_special"] is False


def test_generation_streams_and_unscorable_measures_are_null(base_server, local_pair):
    """Base on llama-server, aligned local: the base answer is the local one and is scored under the
    local aligned model; the aligned answer cannot be scored under base, so its measures are None."""
    mixed = Comparator.load(ModelSpec(base_server.url), ModelSpec(ALIGNED_GGUF))
    query = demo_queries()[1]["query"]
    request = ComparisonRequest(query, None, PARAMS, live=True)
    got, want = mixed.compare(request), local_pair.compare(request)

    assert got.base.tokens and [t.id for t in got.base.tokens] == [t.id for t in want.base.tokens]
    assert got.base.finish_reason == want.base.finish_reason
    for a, b in zip(got.base.tokens, want.base.tokens):
        assert a.shift == b.shift and abs(a.logprob - b.logprob) < 1e-3
    assert [t.id for t in got.aligned.tokens] == [t.id for t in want.aligned.tokens]
    assert got.aligned.tokens and all(
        t.shift is None and t.other_rank is None and t.other_logprob is None and t.kl is None and not t.scored
        for t in got.aligned.tokens)
    s = got.summary.aligned
    assert s.unscored == s.n == len(got.aligned.tokens) and s.shifted == 0 and s.share("shifted") == 0.0

    _, body = next((p, b) for p, b in reversed(base_server.requests) if p == "/completion")
    assert body["prompt"] == got.base.prompt_ids and body["n_probs"] >= 3 and body["top_k"] == 0
    assert body["repeat_penalty"] == 1.0 and body["min_p"] == 0.0  # its sampler defaults are overridden

    session = Session.now(got, ModelSpec(base_server.url), ModelSpec(ALIGNED_GGUF), "none")
    again = loads(dumps(session)).result
    assert again.aligned.tokens == got.aligned.tokens and again.summary.aligned.unscored == s.n  # replays as run

    record = json.loads(json.dumps(result_record(got, base_model=base_server.url, aligned_model=ALIGNED_GGUF,
                                                 urial=None)))
    assert record["exact"]["scored"] is False
    assert all(t["shift"] is None and t["other_rank"] is None for t in record["aligned"]["tokens"])
    assert record["summary"]["aligned"]["unscored"] == s.n and record["summary"]["base"]["unscored"] == 0


def test_with_urial_there_is_no_closure_and_a_rescore_says_why(base_server):
    mixed = Comparator.load(ModelSpec(base_server.url), ModelSpec(ALIGNED_GGUF))
    result = mixed.compare(ComparisonRequest(demo_queries()[2]["query"], "# Instruction\n\nBe helpful.\n",
                                             DecodingParams(max_new_tokens=8), live=False))
    assert result.summary.closure is None and result.aligned_bare is None
    with pytest.raises(AlignTermError, match="cannot score given tokens"):
        mixed.rescore_aligned(result, None)


def test_analyze_writes_nulls_and_pretty_says_not_scored(base_server):
    query = demo_queries()[3]["query"]
    common = ("analyze", "--query", query, "--base", base_server.url, "--aligned", ALIGNED_GGUF, "--urial", "none",
              "--max-new-tokens", "12")
    proc = run_cli(*common, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["aligned"]["tokens"] and all(t["shift"] is None for t in record["aligned"]["tokens"])
    assert all(t["shift"] in ("unshifted", "marginal", "shifted") for t in record["base"]["tokens"])
    pretty = run_cli(*common, "--format", "pretty")
    assert pretty.returncode == 0 and "not scored" in pretty.stdout and "Traceback" not in pretty.stderr
    page = run_cli(*common, "--format", "html")
    assert page.returncode == 0 and 'class="tok unscored"' in page.stdout


async def test_the_app_shows_unscored_tokens_muted_and_says_why(base_server):
    from alignterm.tui.app import AlignTermApp

    from ..tui.conftest import run_query, screen_lines

    specs = ModelSpec(base_server.url), ModelSpec(ALIGNED_GGUF)
    app = AlignTermApp(*specs, comparator=Comparator.load(*specs), params=DecodingParams(max_new_tokens=16),
                       query=demo_queries()[0]["query"], urial="none", monochrome=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        pane = app.pane("aligned")
        categories = {pane.get_component_rich_style(f"answer-pane--{c}", partial=True).color
                      for c in ("unshifted", "marginal", "shifted")}
        drawn = [seg for y in range(pane.line_count) for seg in pane.render_answer_line(y) if seg.text.strip()]
        colours = {seg.style.color for seg in drawn}
        assert drawn and len(colours) == 1 and not colours & categories  # one muted colour, no category's
        base_line, aligned_line, _ = app.stats.plain_lines()
        assert "not scored" in aligned_line and "U " in base_line  # the base side is scored by the local model
        await pilot.press("f3")
        assert pane.has_focus
        await pilot.press("right")
        assert app.inspector.token is pane.cursor_token and not pane.cursor_token.scored
        await pilot.pause()
        assert any("not scored: the base model's server cannot score given tokens" in line
                   for line in screen_lines(app))
        assert app.is_running and app.result.aligned.tokens == list(pane.tokens)
