"""Bad model inputs: each is one clear line and an exit code, nothing written, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR
from alignterm.engine.values import ModelSpec
from alignterm.tui.app import AlignTermApp
from alignterm.tui.screens.error import ErrorScreen

from ..tui.conftest import screen_lines, wait_until
from .conftest import cli, one_line, snapshot


def _folder(tmp_path, name: str, edit) -> str:
    """A copy of the demo base model's folder, broken by `edit(folder)`."""
    folder = tmp_path / name
    shutil.copytree(BASE_DIR, folder)
    edit(folder)
    return str(folder)


def _no_config(folder):
    (folder / "config.json").unlink()


def _unknown_architecture(folder):
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="mamba9000", architectures=["Mamba9000ForCausalLM"])
    (folder / "config.json").write_text(json.dumps(config))


def _corrupt_weights(folder):
    (folder / "model.safetensors").write_bytes(os.urandom(4096))


def _truncated_weights(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


BROKEN_FOLDERS = {
    "no-config": (_no_config, "has no config.json: not a Hugging Face model folder"),
    "unknown-architecture": (_unknown_architecture, "does not recognize this architecture"),
    "corrupt-safetensors": (_corrupt_weights, "its .safetensors weights are corrupt or truncated"),
    "truncated-safetensors": (_truncated_weights, "its .safetensors weights are corrupt or truncated"),
}


@pytest.mark.parametrize("case", list(BROKEN_FOLDERS))
def test_a_broken_model_folder_is_one_line_and_left_as_it_was(case, tmp_path, capfd):
    edit, message = BROKEN_FOLDERS[case]
    folder = _folder(tmp_path, case, edit)
    before = snapshot(tmp_path)
    code, out, err = cli(capfd, "analyze", "--query", "hi", "--base", folder, "--aligned", str(ALIGNED_DIR))
    line = one_line(code, err)
    assert message in line and folder in line and out == ""
    assert snapshot(tmp_path) == before


async def test_a_broken_model_folder_in_the_app_is_an_error_screen_and_the_app_stays_usable(tmp_path):
    folder = _folder(tmp_path, "corrupt", _corrupt_weights)
    app = AlignTermApp(ModelSpec(folder, device="cpu"), ModelSpec(str(ALIGNED_DIR), device="cpu"),
                       query="hello", monochrome=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.load_error is not None)
        assert isinstance(app.screen, ErrorScreen)
        assert "corrupt or truncated" in app.load_error
        shown = "\n".join(screen_lines(app))
        assert "corrupt or truncated" in shown and "Traceback" not in shown
        await pilot.press("escape")
        await pilot.press("enter")
        assert any("No models loaded" in str(n.message) for n in app._notifications)
        assert app.is_running


def test_a_hub_id_while_offline_is_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "alignterm", "analyze", "--query", "hi",
                           "--base", "someorg/some-model", "--aligned", str(ALIGNED_DIR)],
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    line = one_line(proc.returncode, proc.stderr)
    assert "someorg/some-model" in line and "cannot be reached (offline?)" in line


def test_a_mistyped_hub_id_fails_at_once_with_one_line(tmp_path):
    """Without HF_HUB_OFFLINE, transformers retried the unreachable hub for about a minute,
    printing a `Retrying in 8s` line each time, before its error."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | {"HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "alignterm", "analyze", "--query", "hi",
                           "--base", "foo/bar-not-a-model", "--aligned", str(ALIGNED_DIR)],
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    line = one_line(proc.returncode, proc.stderr)
    assert "foo/bar-not-a-model" in line
    assert "cannot be reached (offline?)" in line or "no such model on the Hugging Face hub" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU: --device cuda is valid here")
def test_device_cuda_without_a_gpu_is_one_line(capfd):
    code, _, err = cli(capfd, "analyze", "--query", "hi", "--device", "cuda")
    assert one_line(code, err) == (
        "alignterm: error: device cuda for the base model: torch sees no CUDA GPU on this machine (use cpu)")


def test_a_query_longer_than_the_context_is_one_line(capfd):
    query = " ".join(["word"] * 1200)  # the demo models hold 1024 tokens
    code, out, err = cli(capfd, "analyze", "--query", query, "--format", "jsonl")
    line = one_line(code, err)
    assert "leave no room in the models' context" in line and "shorten the query" in line and out == ""


@pytest.mark.parametrize("n", ["0", "-5"])
def test_max_new_tokens_zero_or_negative_is_one_line(n, capfd):
    code, _, err = cli(capfd, "analyze", "--query", "hi", "--max-new-tokens", n)
    assert one_line(code, err) == f"alignterm: error: --max-new-tokens must be at least 1 (got {n})"


def test_huge_max_new_tokens_is_capped_by_the_context(capfd, queries):
    code, out, err = cli(capfd, "analyze", "--query", queries[0], "--max-new-tokens", str(10**12),
                         "--urial", "none", "--format", "jsonl")
    assert code == 0, err
    record = json.loads(out)
    assert record["params"]["max_new_tokens"] == 10**12
    for side in ("aligned", "base"):
        assert 0 < len(record[side]["tokens"]) <= 1024 - len(record[side]["prompt_ids"])


# ---- out of memory: a real allocation failure under an address-space limit -------------

OOM_RUNNER = """
import re, resource, sys
import torch, transformers  # what every run needs is loaded before the limit
from alignterm.engine import compare, hf  # noqa: F401
from alignterm.cli import main

used = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (used + int(sys.argv[1]) * 2**20, resource.RLIM_INFINITY))
sys.exit(main(sys.argv[2:]))
"""


def _under_memory_limit(headroom_mb: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", OOM_RUNNER, str(headroom_mb), *args],
                          check=False, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status to set the limit")
def test_a_pair_over_the_memory_limit_is_refused_before_loading_in_one_line_exit_1(wide_dir, tmp_path):
    """Under `ulimit -v` the weights (160 MB) cannot be mapped in 100 MB: said before any weight is
    read, naming the limit, rather than failing wherever the first allocation happens to fail."""
    out = tmp_path / "out.jsonl"
    out.write_text("the previous results\n")
    proc = _under_memory_limit(100, "analyze", "--query", "hi", "--base", str(wide_dir), "--aligned",
                               str(ALIGNED_DIR), "-o", str(out))
    line = one_line(proc.returncode, proc.stderr, expected_code=1)
    assert line.startswith("alignterm: error: the base model (~0.2 GB, float32) and the aligned model"), line
    assert "need more memory than this process's memory limit (ulimit -v) has free (0.1 of " in line, line
    assert ": try a higher limit (ulimit -v), a smaller --dtype (bfloat16)" in line, line
    assert out.read_text() == "the previous results\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status to set the limit")
def test_out_of_memory_while_generating_is_one_line_exit_1(wide_dir, tmp_path):
    """The model loads under the limit; the URIAL prompt's activations (2.4 GB) do not fit."""
    out = tmp_path / "out.jsonl"
    out.write_text("the previous results\n")
    proc = _under_memory_limit(1500, "analyze", "--query", "hi", "--base", str(wide_dir), "--aligned",
                               str(ALIGNED_DIR), "-o", str(out), "--max-new-tokens", "4")
    line = one_line(proc.returncode, proc.stderr, expected_code=1)
    assert line.startswith("alignterm: error: out of memory while running the models")
    assert out.read_text() == "the previous results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind


APP_OOM_RUNNER = """
import asyncio, json, re, resource, sys
import torch, transformers  # noqa: F401
from alignterm.engine import compare, hf  # noqa: F401
from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.tui.app import AlignTermApp

async def main(base, aligned):
    app = AlignTermApp(ModelSpec(base, device="cpu"), ModelSpec(aligned, device="cpu"), "default",
                       DecodingParams(max_new_tokens=4), "hi", monochrome=False)
    seen = {}
    async with app.run_test(size=(100, 30)) as pilot:
        async def until(predicate):
            for _ in range(6000):  # two minutes at most: a hang fails the test instead of blocking it
                if predicate():
                    break
                await asyncio.sleep(0.02)
            await pilot.pause()
        await until(lambda: app.comparator is not None or app.load_error is not None)
        seen["load_error"] = app.load_error
        app.start_run()
        await until(lambda: any(n.title == "Run failed" for n in app._notifications))
        await app.workers.wait_for_complete()
        seen["notices"] = [str(n.message) for n in app._notifications if n.title == "Run failed"]
        app.editor.load("none")  # the bare prompt: a few tokens, whose logits fit
        await pilot.pause()
        app.start_run()
        await until(lambda: app.result is not None and not app.running)
        seen["after"] = len(app.result.aligned.tokens)
        seen["running"] = app.is_running
    print(json.dumps(seen))

used = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (used + 1500 * 2**20, resource.RLIM_INFINITY))
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status to set the limit")
def test_out_of_memory_in_the_app_is_a_notice_and_the_app_stays_usable(wide_dir):
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", APP_OOM_RUNNER, str(wide_dir), str(wide_dir)],
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["load_error"] is None
    assert seen["notices"] == [("out of memory while running the models: try a smaller max-new-tokens, "
                                "a shorter URIAL prompt or query, or a smaller model")]
    assert seen["after"] > 0 and seen["running"]
