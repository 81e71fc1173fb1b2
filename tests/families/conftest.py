"""Tiny model pairs on the real tokenizers and chat templates of Llama 3, Qwen2.5, Llama 2/Mistral and Phi-3.

`family` runs a test once per family (ids llama3, qwen2, llama2, phi3) with a `build.Family`;
`families` gives them all by name. The first session builds them (~20 s, plus the llama-cpp-python
sdist download) into $ALIGNTERM_TEST_CACHE or ~/.cache/alignterm-tests; later sessions reuse
that until build.py or llama-cpp-python changes. When the sdist cannot be had, every test
that uses them fails with the reason: they are never skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .build import FAMILIES, Family, build


@pytest.fixture(scope="session")
def family_build() -> tuple[Path, dict[str, Family]]:
    """(llama.cpp's models/ folder: vocab files, .inp/.out cases, templates; the built families)."""
    try:
        return build(log=lambda line: None)
    except Exception as err:  # noqa: BLE001 -- any cause must fail the tests, with its message
        reason = f"cannot build the real-family fixtures: {type(err).__name__}: {err}"
    pytest.fail(reason, pytrace=False)


@pytest.fixture(scope="session")
def families(family_build) -> dict[str, Family]:
    """Every built family by name."""
    return family_build[1]


@pytest.fixture(scope="session")
def llama_cpp_models(family_build) -> Path:
    """llama.cpp's models/ files taken from the sdist (ggml-vocab-*.gguf, their .inp/.out, templates/)."""
    return family_build[0]


@pytest.fixture(scope="session", params=list(FAMILIES))
def family(request, families) -> Family:
    """One family per parametrized run."""
    return families[request.param]
