"""Where a model runs: the device strings the command line accepts, checked against what torch
sees, and the memory in use on the CUDA devices a loaded pair occupies (architecture §2,
docs/gpu.md).

A device is `auto` (the first CUDA GPU, else MPS, else the CPU), `cpu`, `mps`, `cuda`
(torch's current GPU), `cuda:N`, or `gpus`: one model spread over every visible GPU by
transformers' own placement (`device_map="auto"`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import BadInput

SPREAD = "gpus"
_FORM = re.compile(r"auto|cpu|mps|cuda(:\d+)?|gpus")
DEVICE_HELP = "auto, cpu, mps, cuda, cuda:N, or gpus (one model spread over every visible GPU)"


def check_device_form(text: str) -> str:
    """`text` if it is a device this tool knows how to name (argparse's `type=`), else BadInput."""
    if not _FORM.fullmatch(text):
        raise BadInput(f"unknown device {text!r} (choose from {DEVICE_HELP})")
    return text


def resolve_device(requested: str, side: str | None = None) -> str:
    """The device to load on for `requested` (`cuda` becomes torch's current `cuda:N`), refusing
    one this machine lacks in one line that names the devices torch does see."""
    import torch

    check_device_form(requested)
    what = f"device {requested}" + (f" for the {side} model" if side else "")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested == "auto":
        if gpus:
            return "cuda:0"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if requested == "mps" and not torch.backends.mps.is_available():
        raise BadInput(f"{what}: this torch build has no MPS support here (use cpu)")
    if requested.startswith("cuda") or requested == SPREAD:
        if not gpus:
            raise BadInput(f"{what}: torch sees no CUDA GPU on this machine (use cpu)")
        index = int(requested.partition(":")[2] or 0) if requested.startswith("cuda") else 0
        if index >= gpus:
            seen = ", ".join(f"cuda:{i}" for i in range(gpus))
            raise BadInput(f"{what}: torch sees {gpus} CUDA GPU{'s' if gpus > 1 else ''} here ({seen})")
        if requested == "cuda":
            return f"cuda:{torch.cuda.current_device()}"
    return requested


@dataclass(frozen=True)
class DeviceMemory:
    """Memory on one CUDA device, from torch's own counters: what this process's tensors hold,
    and the device's total."""

    device: str
    used: int
    total: int


def cuda_memory(devices: Iterable[str]) -> list[DeviceMemory]:
    """Memory in use on each CUDA device among `devices` (torch device strings); empty off CUDA."""
    import torch

    names = sorted(d for d in devices if d.startswith("cuda"))
    if not names or not torch.cuda.is_available():
        return []
    return [DeviceMemory(d, torch.cuda.memory_allocated(d), torch.cuda.get_device_properties(d).total_memory)
            for d in names]
