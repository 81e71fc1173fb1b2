"""Where the models load and whether they fit (issue #19), on the CPU: device strings checked
against what torch sees, the weight-memory estimate against the real loaded weights, the refusal
before any weight is read, and the messages where CUDA or bitsandbytes is missing."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
import torch

from alignterm.cli import build_parser, model_specs
from alignterm.engine.demo import GGUF_DIR
from alignterm.engine.devices import check_device_form, resolve_device
from alignterm.engine.errors import BadInput, OutOfMemory
from alignterm.engine.events import LoadingStep
from alignterm.engine.hf import HFBackend, quantization
from alignterm.engine.loading import load_pair
from alignterm.engine.memory import GB, Placement, check_fit
from alignterm.engine.values import ModelSpec

from ..conftest import one_clear_line, run_main


@pytest.mark.parametrize("text", ["auto", "cpu", "mps", "cuda", "cuda:0", "cuda:12", "gpus"])
def test_device_forms_accepted(text):
    assert check_device_form(text) == text


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:0,1"])
def test_unknown_device_is_one_usage_line(text):
    line = one_clear_line(run_main("analyze", "--query", "q", "--base-device", text))
    assert "--base-device" in line and repr(text) in line


def test_per_side_devices_override_device():
    args = build_parser().parse_args(["--base", "A", "--aligned", "B", "--device", "cpu", "--base-device", "cuda:0",
                                      "--aligned-device", "cuda:1", "--quantize", "8bit"])
    base, aligned = model_specs(args)
    assert (base.device, aligned.device) == ("cuda:0", "cuda:1")
    assert base.quantize == aligned.quantize == "8bit"
    args = build_parser().parse_args(["--base", "A", "--aligned", "B", "--device", "cpu", "--aligned-device", "gpus"])
    assert [s.device for s in model_specs(args)] == ["cpu", "gpus"]


def test_a_gpu_torch_does_not_see_is_refused_in_one_line():
    """One past the GPUs torch sees (cuda:0 on this CPU machine) stops before loading, naming the side."""
    n = torch.cuda.device_count()
    line = one_clear_line(run_main("analyze", "--query", "What is the Kodo?", "--aligned-device", f"cuda:{n}"))
    assert f"device cuda:{n} for the aligned model: torch sees" in line
    assert ("no CUDA GPU" if n == 0 else f"{n} CUDA GPU") in line


def test_the_message_names_the_gpus_torch_sees(monkeypatch):
    """With two GPUs visible (torch's own answers replaced), cuda:2 is refused and cuda:1 accepted."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    with pytest.raises(BadInput, match=r"device cuda:2 for the base model: torch sees 2 CUDA GPUs here \(cuda:0, cuda:1\)"):
        resolve_device("cuda:2", "base")
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cuda") == "cuda:1"
    assert resolve_device("auto") == "cuda:0" and resolve_device("gpus") == "gpus"


def loaded_bytes(path, dtype: str) -> int:
    """The weights' real size once loaded by transformers itself (independent of the estimate)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
    return model.get_memory_footprint()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_estimate_matches_the_demo_weights_within_5_percent(demo_specs, dtype):
    for spec in demo_specs:
        placement = HFBackend.placement(ModelSpec(spec.spec, device="cpu", dtype=dtype), "base")
        assert placement is not None and placement.device == "cpu" and placement.what == dtype
        real = loaded_bytes(spec.spec, dtype)
        assert abs(placement.need - real) <= 0.05 * real, (placement.need, real)


@pytest.fixture
def huge_model(tmp_path, demo_specs):
    """A model folder whose safetensors header promises twice this machine's free RAM: a sparse file,
    so nothing of it is on disk, and loading its weights could only fail (or swap) after a long read."""
    import psutil

    folder = tmp_path / "huge"
    folder.mkdir()
    shutil.copy(f"{demo_specs[0].spec}/config.json", folder / "config.json")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(f"{demo_specs[0].spec}/{name}", folder / name)
    rows = 2 * psutil.virtual_memory().available // (4 * 4096) + 1
    header = json.dumps({"model.embed_tokens.weight": {"dtype": "F32", "shape": [rows, 4096],
                                                       "data_offsets": [0, rows * 4096 * 4]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(folder / "model.safetensors", "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        f.truncate(8 + len(header) + rows * 4096 * 4)
    return folder, rows * 4096 * 4


def test_an_impossible_fit_is_refused_before_any_weight_is_read(huge_model, demo_specs):
    folder, size = huge_model
    steps: list[LoadingStep] = []
    with pytest.raises(OutOfMemory) as err:
        load_pair(ModelSpec(str(folder), device="cpu"), demo_specs[1], steps.append)
    assert not any("loading the" in s.text for s in steps), steps  # no model had started to load
    message = str(err.value)
    assert f"~{size / GB:.1f} GB, float32" in message and "host RAM" in message
    assert "--dtype" in message and "--quantize" in message and "GGUF" in message


def test_the_refusal_is_one_line_and_an_exit_code(huge_model, demo_specs):
    folder, _ = huge_model
    proc = run_main("analyze", "--query", "What is the Kodo?", "--base", str(folder), "--aligned", demo_specs[1].spec)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "more memory than host RAM has free" in lines[0], proc.stderr


def _free(table):
    return lambda device: table[device]


def test_check_fit_pools_models_that_share_memory():
    a, b = Placement("base", "cuda:0", 10 * 2**30, "bfloat16"), Placement("aligned", "cuda:0", 10 * 2**30, "bfloat16")
    assert check_fit([a, b], _free({"cuda:0": (40 * 2**30, 80 * 2**30, "cuda:0")})) == []
    warning, = check_fit([a, b], _free({"cuda:0": (21 * 2**30, 24 * 2**30, "cuda:0")}))
    assert "the base model" in warning and "the aligned model" in warning and "KV cache" in warning
    with pytest.raises(OutOfMemory, match="another device for one model"):
        check_fit([a, b], _free({"cuda:0": (15 * 2**30, 24 * 2**30, "cuda:0")}))
    # one model each on two 24 GB cards: each fits alone
    assert check_fit([a, Placement("aligned", "cuda:1", 10 * 2**30, "bfloat16")],
                     _free({"cuda:0": (15 * 2**30, 24 * 2**30, "cuda:0"), "cuda:1": (15 * 2**30, 24 * 2**30, "cuda:1")})) == []
    # a model spread over every GPU shares them with the other one
    with pytest.raises(OutOfMemory, match="the GPUs"):
        check_fit([Placement("base", "gpus", 20 * 2**30, "bfloat16"), b], _free({"gpus": (25 * 2**30, 48 * 2**30, "the GPUs")}))


def test_quantize_needs_cuda_then_bitsandbytes(demo_specs):
    spec = ModelSpec(demo_specs[0].spec, quantize="8bit")
    with pytest.raises(BadInput, match="needs a CUDA GPU"):
        quantization(spec, "cpu", torch.float32)
    if importlib.util.find_spec("bitsandbytes") is None:  # the dev install has no [quant] extra
        with pytest.raises(BadInput, match=r"needs bitsandbytes: pip install 'alignterm\[quant\]'"):
            quantization(spec, "cuda:0", torch.bfloat16)
    else:
        assert quantization(spec, "cuda:0", torch.bfloat16).load_in_8bit
    line = one_clear_line(run_main("analyze", "--query", "What is the Kodo?", "--device", "cpu", "--quantize", "4bit"))
    assert "needs a CUDA GPU" in line and "GGUF" in line


GGUF = [str(GGUF_DIR / f"demo-{side}.q8_0.gguf") for side in ("base", "aligned")]


def test_quantize_is_refused_for_gguf_files():
    line = one_clear_line(run_main("analyze", "--query", "What is the Kodo?", "--base", GGUF[0],
                                   "--aligned", GGUF[1], "--quantize", "8bit"))
    assert "Hugging Face" in line and "GGUF file comes quantized" in line


def test_gguf_loading_says_how_many_layers_went_to_the_gpu():
    """All of the file's blocks (read with the gguf library) on a GPU build of llama-cpp-python; none,
    with the reason, on a CPU build such as this machine's, which also refuses --device cuda:0."""
    import llama_cpp
    from gguf import GGUFReader

    reader = GGUFReader(GGUF[0])
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    blocks = int(reader.fields[f"{arch}.block_count"].parts[-1][0])
    steps: list[LoadingStep] = []
    load_pair(ModelSpec(GGUF[0]), ModelSpec(GGUF[1]), steps.append)
    layer_lines = [s.text for s in steps if "layers on the GPU" in s.text]
    assert [(s.side) for s in steps if "layers on the GPU" in s.text] == ["base", "aligned"]
    if llama_cpp.llama_supports_gpu_offload():
        assert layer_lines[0].endswith(f"{blocks} of {blocks} layers on the GPU")
        return
    assert layer_lines[0].endswith(f"0 of {blocks} layers on the GPU (this llama-cpp-python has no GPU support)")
    line = one_clear_line(run_main("analyze", "--query", "q", "--base", GGUF[0], "--aligned", GGUF[1],
                                   "--device", "cuda:0"))
    assert "without GPU support" in line
