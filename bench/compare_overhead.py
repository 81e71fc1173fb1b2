"""Figures 1-2: a full comparison against the raw library doing the same model work.

Same work = the aligned answer generated and scored under base, the base answer generated
and scored under aligned. Raw transformers: two `generate` calls (logits kept) and two
teacher-forced forward passes; raw llama-cpp-python: two eval loops and two `eval` passes
with `logits_all`. The raw runs generate as many tokens as alignterm had to: the kept answer
plus the end of sequence or the stop string (`# Query`) it generated and cut, which any
program needs to see to know the answer ended; they score the kept answers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from alignterm.engine.answer import GrowingAnswer
from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR, GGUF_DIR, demo_queries
from alignterm.engine.loading import load_pair
from alignterm.engine.sampling import generate_with
from alignterm.engine.values import DecodingParams, ModelSpec

from .common import best_of, random_llama, report

TARGET = 1.10


def _run_ours(comparator: Comparator, query: str, n: int):
    request = ComparisonRequest(query, None, DecodingParams(max_new_tokens=n), live=False)
    result = comparator.compare(request)
    return result


def generated(backend, prompt_ids: list[int], n: int, stops: bool) -> int:
    """How many tokens greedy decoding takes to end this answer: up to the end of sequence, or
    (base side) up to the token that completes a stop string; n at most."""
    answer = GrowingAnswer(backend.tokenizer, stops)
    count = 0
    for step in generate_with(backend.scorer(), prompt_ids, DecodingParams(max_new_tokens=n), backend.context_length,
                             backend.tokenizer.vocab_size):
        count += 1
        if answer.add(step.id):
            break
    return count


def raw_transformers(base, aligned, a_prompt, b_prompt, a_gen, b_gen, a_len, b_len) -> None:
    from transformers import GenerationConfig

    def gen(model, prompt, n):
        x = torch.tensor([prompt], device=model.device)
        cfg = GenerationConfig(max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
        return model.generate(x, attention_mask=torch.ones_like(x), generation_config=cfg,
                              return_dict_in_generate=True, output_logits=True).sequences[0, len(prompt):].tolist()

    with torch.inference_mode():
        a_ids = gen(aligned, a_prompt, a_gen)[:a_len]
        b_ids = gen(base, b_prompt, b_gen)[:b_len]
        base(input_ids=torch.tensor([b_prompt + a_ids], device=base.device)).logits.float()
        aligned(input_ids=torch.tensor([a_prompt + b_ids], device=aligned.device)).logits.float()


def raw_llama(base, aligned, a_prompt, b_prompt, a_gen, b_gen, a_len, b_len) -> None:
    def gen(llm, prompt, n):
        llm.reset()
        llm.eval(prompt)
        out = []
        for _ in range(n):
            tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out.append(tok)
            llm.eval([tok])
        return out

    a_ids = gen(aligned, a_prompt, a_gen)[:a_len]
    b_ids = gen(base, b_prompt, b_gen)[:b_len]
    for llm, ids in ((base, b_prompt + a_ids), (aligned, a_prompt + b_ids)):
        llm.reset()
        llm.eval(ids)
        np.array(llm.scores[: len(ids)])


def bench_pair(label: str, comparator: Comparator, raw_fn, raw_models, query: str, n: int, repeat: int) -> None:
    result = _run_ours(comparator, query, n)
    a_len, b_len = len(result.aligned.tokens), len(result.base.tokens)
    a_prompt, b_prompt = result.aligned.prompt_ids, result.base.prompt_ids
    a_gen = generated(comparator.aligned, a_prompt, n, stops=False)
    b_gen = generated(comparator.base, b_prompt, n, stops=True)
    ours = best_of(lambda: _run_ours(comparator, query, n), repeat)
    raw = best_of(lambda: raw_fn(*raw_models, a_prompt, b_prompt, a_gen, b_gen, a_len, b_len), repeat)
    report(f"{label} ({a_len}+{b_len} tokens kept, {a_gen}+{b_gen} generated)", ours, raw, f"<= {TARGET:.2f}x",
           ok=ours / raw <= TARGET)


def hf(repeat: int = 3) -> None:
    from transformers import AutoModelForCausalLM

    query = demo_queries()[0]["query"]
    comparator = Comparator(*load_pair(ModelSpec(str(BASE_DIR), device="cpu"), ModelSpec(str(ALIGNED_DIR), device="cpu")))
    raw = [AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval() for d in (BASE_DIR, ALIGNED_DIR)]
    bench_pair("1 comparison vs transformers, demo pair", comparator, raw_transformers, raw, query, 128, repeat)

    with tempfile.TemporaryDirectory() as tmp:
        dirs = [random_llama(Path(tmp) / name, hidden=768, layers=12, intermediate=2048, heads=12, seed=seed)
                for name, seed in (("base", 0), ("aligned", 1))]
        comparator = Comparator(*load_pair(ModelSpec(str(dirs[0]), device="cpu"), ModelSpec(str(dirs[1]), device="cpu")))
        n_params = sum(p.numel() for p in comparator.base.model.parameters()) / 1e6
        raw = [AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval() for d in dirs]
        bench_pair(f"1 comparison vs transformers, {n_params:.0f}M random", comparator, raw_transformers, raw, query,
                   32, max(1, repeat - 1))


def _gguf_pair(label: str, files: list[str], query: str, n: int, repeat: int) -> None:
    import llama_cpp

    comparator = Comparator(*load_pair(ModelSpec(files[0]), ModelSpec(files[1])))
    raw = [llama_cpp.Llama(model_path=f, n_ctx=comparator.base.context_length, logits_all=True, verbose=False)
           for f in files]
    bench_pair(f"2 comparison vs llama-cpp-python, {label}", comparator, raw_llama, raw, query, n, repeat)


def gguf(repeat: int = 3) -> None:
    from alignterm.engine.demo.gguf_export import quantize, write_f32_gguf

    query = demo_queries()[0]["query"]
    for qtype in ("f32", "q8_0"):
        files = [str(GGUF_DIR / f"demo-{side}.{qtype}.gguf") for side in ("base", "aligned")]
        _gguf_pair(f"demo {qtype}", files, query, 128, repeat)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, seed in (("base", 0), ("aligned", 1)):
            folder = random_llama(Path(tmp) / name, hidden=768, layers=12, intermediate=2048, heads=12, seed=seed)
            write_f32_gguf(folder, folder / "f32.gguf", name)
            quantize(folder / "f32.gguf", folder / "q8_0.gguf", "q8_0")
            files.append(str(folder / "q8_0.gguf"))
        _gguf_pair("86M random q8_0", files, query, 32, max(1, repeat - 1))
