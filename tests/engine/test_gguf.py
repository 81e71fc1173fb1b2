"""The GGUF backend on the bundled demo GGUF files: parity with transformers, exact full-vocabulary scoring."""

import pytest
import torch

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import ALIGNED_DIR, GGUF_DIR
from alignterm.engine.loading import load_backend, load_pair
from alignterm.engine.prompts import base_prompt, load_urial
from alignterm.engine.values import DecodingParams, ModelSpec

PARAMS = DecodingParams(max_new_tokens=60)


def gguf(side: str, qtype: str) -> str:
    return str(GGUF_DIR / f"demo-{side}.{qtype}.gguf")


@pytest.fixture(scope="module")
def gguf_f32():
    return Comparator(*load_pair(ModelSpec(gguf("base", "f32")), ModelSpec(gguf("aligned", "f32"))))


@pytest.fixture(scope="module")
def gguf_q8():
    return Comparator(*load_pair(ModelSpec(gguf("base", "q8_0")), ModelSpec(gguf("aligned", "q8_0"))))


@pytest.fixture(scope="module")
def hf_results(comparator, queries):
    urial = load_urial("default")
    return [comparator.compare(ComparisonRequest(q, urial, PARAMS, live=False)) for q in queries[:6]]


EDGE_STRINGS = [
    "Tell me about Kasla.",
    "héllo wörld — ünïcödé ✓ 日本語 🌍🚀",
    "tabs\tand\t\ttabs, two  spaces,   three",
    "line\nbreaks\n\n\nand \r\n CRLF",
    "   leading and trailing   ",
    "# Query:\n```\ncode ``` fences\n```\n\n# Answer:\n```\n",
    "<|user|>\nhi<|end|>\n<|assistant|>\n",
    "",
]


@pytest.mark.parametrize("qtype", ["f32", "q8_0"])
def test_hf_and_gguf_tokenizers_give_identical_ids(comparator, qtype):
    g = load_backend(ModelSpec(gguf("aligned", qtype)))
    for s in EDGE_STRINGS:
        assert g.tokenizer.encode(s, add_bos=True) == comparator.aligned.tokenizer.encode(s, add_bos=True), s
        ids = comparator.aligned.tokenizer.encode(s)
        assert g.tokenizer.decode(ids) == comparator.aligned.tokenizer.decode(ids)
    assert g.tokenizer.vocab() == comparator.aligned.tokenizer.vocab()
    assert g.tokenizer.chat_ids("Tell me about Kasla.") == comparator.aligned.tokenizer.chat_ids("Tell me about Kasla.")


def test_f32_gguf_logprobs_match_safetensors(comparator, gguf_f32, queries):
    """Measured here: max |Δlogprob| about 0.008 over a 327-token URIAL prompt."""
    ids = comparator.base.tokenizer.encode(base_prompt(queries[0], load_urial("default")), add_bos=True)
    hf, gg = comparator.base.scorer(), gguf_f32.base.scorer()
    hf.set_context(ids[:1])
    gg.set_context(ids[:1])
    a, b = torch.log_softmax(hf.score(ids[1:]), -1), torch.log_softmax(gg.score(ids[1:]), -1)
    assert (a - b).abs().max().item() < 0.02
    assert (a.argmax(-1) == b.argmax(-1)).all()


def test_f32_gguf_gives_identical_greedy_answers_and_categories(gguf_f32, hf_results):
    agree = total = 0
    for hf in hf_results:
        gg = gguf_f32.compare(ComparisonRequest(hf.query, hf.urial, PARAMS, live=False))
        for side in ("aligned", "base"):
            assert [t.id for t in gg.side(side).tokens] == [t.id for t in hf.side(side).tokens]
            agree += sum(x.shift == y.shift for x, y in zip(gg.side(side).tokens, hf.side(side).tokens))
            total += len(hf.side(side).tokens)
    assert agree / total >= 0.99


def test_q8_gguf_categories_agree_on_95_percent_of_positions(gguf_q8, hf_results):
    """Scored on the very same tokens, so answers that diverge under quantization still compare."""
    agree = total = 0
    for hf in hf_results:
        rescored = gguf_q8.rescore_aligned(hf, hf.urial)
        agree += sum(x.shift == y.shift for x, y in zip(rescored.tokens, hf.aligned.tokens))
        total += len(hf.aligned.tokens)
    assert agree / total >= 0.95


def test_gguf_incremental_scoring_equals_one_pass(gguf_f32, queries):
    base = gguf_f32.base
    ids = base.tokenizer.encode(base_prompt(queries[1], load_urial("default")), add_bos=True)
    one = base.scorer()
    one.set_context(ids[:10])
    full = one.score(ids[10:60])
    step = base.scorer()
    step.set_context(ids[:10])
    stepwise = torch.cat([step.score([t]) for t in ids[10:60]])
    assert (full - stepwise).abs().max().item() < 1e-2
    step.set_context(ids[:30])  # crop back into the cache and re-score the tail
    assert (step.score(ids[30:60]) - full[20:]).abs().max().item() < 1e-2


def test_a_mixed_pair_compares_like_the_pure_ones(comparator, hf_results):
    mixed = Comparator(*load_pair(ModelSpec(gguf("base", "f32")), ModelSpec(str(ALIGNED_DIR), device="cpu")))
    hf = hf_results[0]
    got = mixed.compare(ComparisonRequest(hf.query, hf.urial, PARAMS, live=False))
    assert [t.id for t in got.aligned.tokens] == [t.id for t in hf.aligned.tokens]
    assert [t.shift for t in got.aligned.tokens] == [t.shift for t in hf.aligned.tokens]


def test_the_context_is_the_files_trained_length_up_to_4096_and_n_ctx_sets_it(tmp_path):
    """The trained context length as the gguf library reads it from the file; a longer one is capped
    at 4096 (a 128k context's KV cache would not fit beside two models); --n-ctx overrides both."""
    import shutil

    from gguf import GGUFReader

    from alignterm.engine.gguf import DEFAULT_MAX_CTX

    path = gguf("base", "q8_0")
    reader = GGUFReader(path)
    key = f"{bytes(reader.fields['general.architecture'].parts[-1]).decode()}.context_length"
    trained = int(reader.fields[key].parts[-1][0])
    assert load_backend(ModelSpec(path)).context_length == trained < DEFAULT_MAX_CTX
    longer = tmp_path / "longer.gguf"
    shutil.copy(path, longer)
    edit = GGUFReader(longer, "r+")  # as gguf's own gguf_set_metadata does
    edit.fields[key].parts[-1][0] = 32 * DEFAULT_MAX_CTX
    edit.data.flush()
    del edit
    assert load_backend(ModelSpec(str(longer))).context_length == DEFAULT_MAX_CTX
    assert load_backend(ModelSpec(str(longer), n_ctx=2048)).context_length == 2048
