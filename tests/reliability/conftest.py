"""Helpers of the reliability suite: the CLI in this process, models built on the spot, the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignterm.cli import main

from .models import wide_model


def cli(capfd, *args: str) -> tuple[int, str, str]:
    """`alignterm ARGS` through the real entry point, in this process (torch is already loaded)."""
    capfd.readouterr()
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def one_line(code: int, err: str, expected_code: int = 2) -> str:
    """The outcome the CLI owes bad input: its exit code and exactly one line on stderr, no traceback."""
    lines = err.strip().splitlines()
    assert code == expected_code, (code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("alignterm: error: "), lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, to show that nothing was written."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def wide_dir(tmp_path_factory) -> Path:
    return wide_model(tmp_path_factory.mktemp("wide") / "model")


@pytest.fixture(scope="package", autouse=True)
def _one_core_left_free():
    """torch on every core spins against the other tests' processes on a small machine (the app does
    this too); the thread count is given back after this folder, so no later test depends on it."""
    import torch

    from alignterm.tui.app import reserve_a_core_for_the_ui

    threads = torch.get_num_threads()
    reserve_a_core_for_the_ui()
    yield
    torch.set_num_threads(threads)
