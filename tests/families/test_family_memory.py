"""The weight-memory estimate before loading (engine/memory.py) on the real families' models:
within 5% of what transformers itself allocates for them (tied embeddings, padded vocabularies)."""

from alignterm.engine.hf import HFBackend
from alignterm.engine.values import ModelSpec

from ..engine.test_placement import loaded_bytes


def test_estimate_matches_the_real_family_weights_within_5_percent(families):
    for family in families.values():
        for path in (family.hf_base, family.hf_aligned):
            placement = HFBackend.placement(ModelSpec(str(path), device="cpu", dtype="float32"), "aligned")
            real = loaded_bytes(path, "float32")
            assert placement is not None and abs(placement.need - real) <= 0.05 * real, (family.name, placement, real)
