"""The vLLM dialect against response bodies in the shape vLLM's OpenAI server documents
(vllm/entrypoints/openai/completion/protocol.py: CompletionResponse, CompletionStreamResponse,
prompt_logprobs as {token_id: {logprob, rank, decoded_token}}), served by a stub on loopback."""

from __future__ import annotations

import pytest

from alignterm.engine.loading import load_backend
from alignterm.engine.remote import RemoteError
from alignterm.engine.remote.dialects import END, TOP_K
from alignterm.engine.values import DecodingParams, ModelSpec

MODEL = "meta-llama/Llama-3.1-70B"
BOS, USER, NL, HELLO, COMMA, SURE, EOT = 128000, 882, 271, 9906, 11, 40914, 128009
PIECES = {BOS: "<|begin_of_text|>", USER: "user", NL: "\n\n", HELLO: "Hello", COMMA: ",", SURE: "Sure"}

MODELS = {"object": "list", "data": [{
    "id": MODEL, "object": "model", "created": 1764000000, "owned_by": "vllm", "root": MODEL, "parent": None,
    "max_model_len": 8192, "permission": [],
}]}


def _tokenize(h, body):
    if "messages" in body:
        tokens = [BOS, USER, NL, HELLO, NL]  # the server applies the model's chat template
    else:
        tokens = ([BOS] if body.get("add_special_tokens", True) else []) + ([HELLO] if body["prompt"] else [])
    h.send(200, {"count": len(tokens), "max_model_len": 8192, "tokens": tokens, "token_strs": None})


def _detokenize(h, body):
    h.send(200, {"prompt": "".join(PIECES[t] for t in body["tokens"])})


def _logprobs(token: int, logprob: float, top: dict[int, float]) -> dict:
    return {"text_offset": [0], "token_logprobs": [logprob], "tokens": [f"token_id:{token}"],
            "top_logprobs": [{f"token_id:{i}": lp for i, lp in {**top, token: logprob}.items()}]}


def _chunk(text: str, logprobs: dict | None, finish: str | None) -> dict:
    return {"id": "cmpl-7f", "object": "text_completion", "created": 1764000000, "model": MODEL,
            "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish, "stop_reason": None}]}


STREAM = [
    _chunk("Sure", _logprobs(SURE, -0.11, {SURE: -0.11, HELLO: -2.4}), None),
    _chunk(",", _logprobs(COMMA, -0.02, {COMMA: -0.02, NL: -4.1}), None),
    _chunk("", _logprobs(EOT, -0.01, {EOT: -0.01}), "stop"),  # the end-of-sequence token, not rendered
]

SCORED = {  # prompt [BOS, USER, NL, HELLO, COMMA] scored with prompt_logprobs, then one generated token
    "id": "cmpl-8a", "object": "text_completion", "created": 1764000000, "model": MODEL,
    "choices": [{
        "index": 0, "text": "\n\n", "finish_reason": "length", "stop_reason": None,
        "logprobs": _logprobs(NL, -0.5, {NL: -0.5, SURE: -1.9}),
        "prompt_logprobs": [
            None,
            {str(USER): {"logprob": -7.1, "rank": 12, "decoded_token": "user"},
             str(NL): {"logprob": -0.3, "rank": 1, "decoded_token": "\n\n"}},
            {str(NL): {"logprob": -0.01, "rank": 1, "decoded_token": "\n\n"}},
            {str(HELLO): {"logprob": -6.2, "rank": 57, "decoded_token": "Hello"},
             str(SURE): {"logprob": -0.4, "rank": 1, "decoded_token": "Sure"},
             str(COMMA): {"logprob": -2.2, "rank": 2, "decoded_token": ","}},
            {str(COMMA): {"logprob": -1.3, "rank": 2, "decoded_token": ","},
             str(NL): {"logprob": -0.6, "rank": 1, "decoded_token": "\n\n"}},
        ],
    }],
    "usage": {"prompt_tokens": 5, "total_tokens": 6, "completion_tokens": 1},
}


def _completions(h, body):
    if body.get("stream"):
        h.send_events(STREAM)
    else:
        h.send(200, SCORED)


@pytest.fixture
def vllm(stub):
    return stub({"/v1/models": lambda h, b: h.send(200, MODELS), "/tokenize": _tokenize,
                 "/detokenize": _detokenize, "/v1/completions": _completions})


def test_vllm_is_detected_with_its_context_and_tokenizer(vllm):
    backend = load_backend(ModelSpec(vllm.url))
    assert backend.kind == "remote" and backend.context_length == 8192
    assert backend.tokenizer.encode("Hello", add_bos=True) == [BOS, HELLO]
    assert backend.tokenizer.chat_ids("Hello") == [BOS, USER, NL, HELLO, NL]
    assert backend.tokenizer.decode([HELLO, COMMA]) == "Hello,"


def test_a_history_goes_to_the_server_as_earlier_messages(vllm):
    backend = load_backend(ModelSpec(vllm.url))
    backend.tokenizer.chat_ids("Hello", (("Hi", "Sure"),))
    path, body = vllm.requests[-1]
    assert path == "/tokenize" and body["messages"] == [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure"}, {"role": "user", "content": "Hello"}]


def test_generation_streams_ids_and_ends_at_the_end_of_sequence(vllm):
    backend = load_backend(ModelSpec(vllm.url))
    steps = list(backend.generate([BOS, USER, NL], DecodingParams(max_new_tokens=8)))
    assert [s.id for s in steps] == [SURE, COMMA, END]
    assert steps[0].logits.ids == (SURE, HELLO) and steps[0].logits.rank() == (1, True)
    path, body = vllm.requests[-1]
    assert path == "/v1/completions" and body["stream"] and body["prompt"] == [BOS, USER, NL]
    assert body["temperature"] == 0.0 and body["return_tokens_as_token_ids"] and "prompt_logprobs" not in body


def test_scoring_reads_prompt_logprobs_with_exact_ranks(vllm):
    """vLLM reports each scored token's rank, so ranks beyond the top-k stay exact."""
    scorer = load_backend(ModelSpec(vllm.url)).scorer()
    scorer.set_context([BOS, USER, NL])
    rows = scorer.score([HELLO, COMMA])
    assert rows[0].rank() == (57, True) and rows[0].ids[:2] == (SURE, COMMA) and rows[0].token_logprob == -6.2
    assert rows[1].rank() == (2, True) and rows[1].k == TOP_K
    assert scorer.next_logits.token == NL and scorer.length == 5
    path, body = vllm.requests[-1]
    assert body["prompt"] == [BOS, USER, NL, HELLO, COMMA] and body["prompt_logprobs"] == TOP_K
    assert not body.get("stream")  # vLLM refuses prompt_logprobs on a streaming request


def test_a_stream_that_drops_keeps_what_arrived(stub):
    server = stub({"/v1/models": lambda h, b: h.send(200, MODELS), "/tokenize": _tokenize,
                   "/v1/completions": lambda h, b: h.send_events(STREAM[:2], finish=False)})
    got = []
    with pytest.raises(RemoteError, match="stopped answering in the middle"):
        for step in load_backend(ModelSpec(server.url)).generate([BOS], DecodingParams(max_new_tokens=8)):
            got.append(step.id)
    assert got == [SURE, COMMA]


def test_a_dropped_special_token_still_counts_in_a_rank_bound():
    """llama-cpp-python's server names special tokens by their empty text: such an entry is dropped
    from the top-k, but a token outside the top-k is still below all k entries ("> k", not "> k-1")."""
    from alignterm.engine.remote.dialects import TOP_K, _topk

    entries = [(None, -0.1)] + [(100 + i, -1.0 - i) for i in range(TOP_K - 1)]
    outside = _topk(entries, token=7, logprob=-30.0)
    assert outside.rank() == (TOP_K + 1, False) and len(outside.ids) == TOP_K - 1
    inside = _topk(entries, token=101, logprob=-2.0)
    assert inside.rank() == (3, True)  # the dropped entry above it counts
