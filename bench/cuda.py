"""The GPU box (docs/gpu.md): loading straight onto the GPU, the memory estimate against what torch
allocated, a comparison against raw transformers on CUDA, and a pair split over two devices.

Only when named (`python -m bench cuda`) and only where torch sees a CUDA GPU. The model is a
randomly initialised Llama of about 1.1B parameters (TinyLlama's shape), built on the spot.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import demo_queries
from alignterm.engine.hf import HFBackend
from alignterm.engine.loading import load_pair
from alignterm.engine.values import DecodingParams, ModelSpec

from .common import random_llama, report
from .compare_overhead import TARGET, bench_pair, raw_transformers


def _timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, value


def _free_cuda() -> None:
    import gc

    gc.collect()
    torch.cuda.empty_cache()


def _load_figures(folder: Path) -> None:
    """Ours (device_map onto cuda:0) against transformers' own load onto the CPU then `.to("cuda")`,
    the way alignterm loaded before; and the estimate against torch's allocated bytes."""
    from transformers import AutoModelForCausalLM

    spec = ModelSpec(str(folder), device="cuda:0", dtype="bfloat16")
    placement = HFBackend.placement(spec, "base")
    before = torch.cuda.memory_allocated(0)
    ours, backend = _timed(lambda: HFBackend.load(spec))
    allocated = torch.cuda.memory_allocated(0) - before
    del backend
    _free_cuda()
    raw, model = _timed(lambda: AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).to("cuda:0"))
    del model
    _free_cuda()
    report("load 1.1B bf16 onto cuda:0 vs CPU load + .to(cuda)", ours, raw, "<= 1.00x", ok=ours <= raw)
    assert placement is not None
    report("weight estimate / bytes torch allocated", placement.need / allocated, None, "0.95-1.05",
           unit="x", ok=abs(placement.need / allocated - 1) <= 0.05)


def run(repeat: int = 3) -> None:
    if not torch.cuda.is_available():
        print("cuda: torch sees no CUDA GPU here; nothing measured")
        return
    from transformers import AutoModelForCausalLM

    query = demo_queries()[0]["query"]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [random_llama(Path(tmp) / name, hidden=2048, layers=22, intermediate=5632, heads=32, seed=seed)
                for name, seed in (("base", 0), ("aligned", 1))]
        _load_figures(dirs[0])
        cuda = [ModelSpec(d, device="cuda:0", dtype="bfloat16") for d in map(str, dirs)]
        comparator = Comparator(*load_pair(*cuda))
        raw = [AutoModelForCausalLM.from_pretrained(d, dtype=torch.bfloat16, device_map="cuda:0").eval() for d in dirs]
        bench_pair("comparison vs transformers, 1.1B bf16 on cuda:0", comparator, raw_transformers, raw, query, 64, repeat)
        del comparator, raw
        _free_cuda()
        _split_pair(dirs, query)
    print(f"(target for the comparison: <= {TARGET:.2f}x)")


def _split_pair(dirs: list[Path], query: str) -> None:
    """Base on the GPU, aligned on the CPU (float32 both): the logits meet on one device for the
    measures, and the ranks match those of the same pair loaded on the CPU alone."""
    request = ComparisonRequest(query, None, DecodingParams(max_new_tokens=32), live=False)
    split = Comparator(*load_pair(ModelSpec(str(dirs[0]), device="cuda:0", dtype="float32"),
                                  ModelSpec(str(dirs[1]), device="cpu", dtype="float32")))
    took, result = _timed(lambda: split.compare(request))
    cpu = Comparator(*load_pair(*(ModelSpec(str(d), device="cpu", dtype="float32") for d in dirs))).compare(request)
    same = [t.other_rank for t in result.aligned.tokens] == [t.other_rank for t in cpu.aligned.tokens]
    report("pair split cuda:0 + cpu, 32 tokens (ranks as on CPU)", took, None, "same ranks", ok=same)
