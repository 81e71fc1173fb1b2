"""Will the pair fit? Each model's weight memory estimated before any weight is read, from its
safetensors headers (tensor names, shapes and dtypes) and the dtype and quantization it will
load with, compared with the free memory of the device it goes to (docs/gpu.md).

The estimate is the weights only: the KV cache and activations need more, so a fit that
leaves under `CLOSE` of the free memory is a warning, and one that does not fit at all is
refused in one line naming the numbers and the ways out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .devices import SPREAD
from .errors import OutOfMemory
from .events import Side

MAX_HEADER = 100_000_000  # the safetensors format's own limit on a header's length
ADDRESS_LIMIT = "this process's memory limit (ulimit -v)"
CLOSE = 0.9  # weights above this share of the free memory leave too little for the KV cache
GB = 1e9
# bytes per element of each safetensors dtype; floating ones are loaded in the chosen dtype instead
_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
          "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
_FLOATING = {"F64", "F32", "F16", "BF16"}
# bitsandbytes quantizes the linear layers' weights; embeddings, the output head and norms keep the dtype
_NOT_QUANTIZED = re.compile(r"embed|lm_head|wte|wpe|norm")
# bytes per weight when quantized: 8-bit is int8 plus a float per row (negligible); 4-bit (NF4) is half
# a byte plus one float32 scale per block of 64 weights
_QUANTIZED_SIZE = {"8bit": 1.0, "4bit": 0.5 + 4 / 64}


@dataclass(frozen=True)
class Tensor:
    """One tensor as a safetensors header describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]


def safetensors_tensors(folder: Path) -> list[Tensor] | None:
    """Every weight tensor of a model folder, read from the safetensors headers alone (no weight
    is read); None where the folder has no complete set of safetensors files."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted({folder / name for name in json.loads(index.read_text())["weight_map"].values()})
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files or not all(f.is_file() for f in files):
        return None
    try:
        return [t for f in files for t in _header(f)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # corrupt: the load itself says so
        return None


def _header(path: Path) -> list[Tensor]:
    """A safetensors file's tensors from its header: a little-endian u64 length, then that much JSON
    (the format's spec). Read directly: safetensors' safe_open maps the whole file first, which
    fails for a file larger than the memory the system lets a process map."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 2 <= size <= min(path.stat().st_size - 8, MAX_HEADER):
            raise ValueError(f"{path.name}: not a safetensors header")
        header = json.loads(f.read(size))
    return [Tensor(name, info["dtype"], tuple(info["shape"])) for name, info in header.items() if name != "__metadata__"]


def hub_tensors(repo: str) -> list[Tensor] | None:
    """A hub model's tensors from its safetensors headers on the hub (a few KB read, no weight);
    None when the hub cannot tell (offline, no safetensors)."""
    from huggingface_hub import constants, get_safetensors_metadata

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        meta = get_safetensors_metadata(repo)
    except Exception:  # offline, gated, .bin only: the estimate is then unknown, never a failure
        return None
    return [Tensor(name, info.dtype, tuple(info.shape))
            for file in meta.files_metadata.values() for name, info in file.tensors.items()]


def weight_bytes(tensors: Iterable[Tensor], dtype_size: int, quantize: str | None = None) -> int:
    """The bytes the weights take once loaded: floating tensors in the load dtype (`dtype_size`
    bytes each), the linear layers' weights quantized where `quantize` says, others as stored."""
    total = 0.0
    for t in tensors:
        n = math.prod(t.shape)
        if t.dtype not in _FLOATING:
            total += n * _SIZES.get(t.dtype, 1)
        elif quantize and len(t.shape) == 2 and not _NOT_QUANTIZED.search(t.name):
            total += n * _QUANTIZED_SIZE[quantize]
        else:
            total += n * dtype_size
    return round(total)


@dataclass(frozen=True)
class Placement:
    """One model about to load: where it goes and the memory its weights will take there."""

    side: Side
    device: str  # a resolved device (engine/devices.py): cpu, mps, cuda:N or gpus
    need: int  # bytes
    what: str  # how it loads, for the message: "bfloat16", "8-bit"


def free_memory(device: str) -> tuple[int, int, str]:
    """(free, total) bytes where `device`'s weights live, and that memory's name for a message:
    a GPU's (all GPUs' for `gpus`), else host RAM, or what this process may still map under
    an address-space limit (`ulimit -v`, common on shared machines) where that is less."""
    import torch

    if device == SPREAD:
        infos = [torch.cuda.mem_get_info(i) for i in range(torch.cuda.device_count())]
        return sum(f for f, _ in infos), sum(t for _, t in infos), "the GPUs"
    if device.startswith("cuda"):
        free, total = torch.cuda.mem_get_info(torch.device(device))
        return free, total, device
    import psutil  # MPS shares host memory with the CPU

    vm = psutil.virtual_memory()
    limit = _address_space_limit()
    if limit is not None:
        left = max(0, limit - psutil.Process().memory_info().vms)
        if left < vm.available:  # the process fails to map more before the machine runs out
            return left, limit, ADDRESS_LIMIT
    return vm.available, vm.total, "host RAM"


def _address_space_limit() -> int | None:
    """The soft limit on this process's address space in bytes, None where there is none."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def _pool(device: str) -> str:
    """Placements that draw on the same memory: every GPU for a model spread over them all."""
    return "cuda" if device == SPREAD or device.startswith("cuda") else device


def _pools(placements: list[Placement]) -> Iterator[tuple[str, list[Placement]]]:
    if any(p.device == SPREAD for p in placements):  # a spread model shares every GPU with the other
        gpus = [p for p in placements if _pool(p.device) == "cuda"]
        yield SPREAD, gpus
        placements = [p for p in placements if p not in gpus]
    for device in dict.fromkeys(p.device for p in placements):
        yield device, [p for p in placements if p.device == device]


def check_fit(placements: list[Placement], free=free_memory) -> list[str]:
    """Refuse (OutOfMemory, one line) a pair whose weights cannot fit where they are to load;
    return a warning for each device where they fit with little room left. `free(device)` gives
    (free, total) bytes and the memory's name, as `free_memory` does."""
    warnings = []
    for device, group in _pools(placements):
        need = sum(p.need for p in group)
        available, total, where = free(device)
        models = " and ".join(f"the {p.side} model (~{p.need / GB:.1f} GB, {p.what})" for p in group)
        if need > available:
            raise OutOfMemory(f"{models} {'need' if len(group) > 1 else 'needs'} more memory than {where} has free "
                              f"({available / GB:.1f} of {total / GB:.1f} GB): {_ways_out(group, where)}")
        if need > CLOSE * available:
            warnings.append(f"{models} leave under {1 - CLOSE:.0%} of {where}'s {available / GB:.1f} GB free "
                            "for the KV cache: long answers may run out of memory")
    return warnings


def _ways_out(group: list[Placement], where: str) -> str:
    ways = ["a higher limit (ulimit -v)"] if where == ADDRESS_LIMIT else []
    if any("32" in p.what for p in group):
        ways.append("a smaller --dtype (bfloat16)")
    if not any(p.what == "4-bit" for p in group):
        ways.append("--quantize 8bit or 4bit (CUDA)")
    ways.append("GGUF files (--backend gguf)")
    if len(group) > 1:
        ways.append("another device for one model (--base-device / --aligned-device)")
    return "try " + ", ".join(ways)
