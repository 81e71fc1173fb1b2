"""Engine test fixtures: the demo models loaded plainly by transformers (tests/engine/plain.py)."""

import pytest
import torch

from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR


@pytest.fixture(scope="session")
def plain():
    """({"base": model, "aligned": model}, the aligned tokenizer): the reference the engine's
    measures are checked against."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    models = {name: AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
              for name, folder in (("base", BASE_DIR), ("aligned", ALIGNED_DIR))}
    return models, AutoTokenizer.from_pretrained(ALIGNED_DIR)
