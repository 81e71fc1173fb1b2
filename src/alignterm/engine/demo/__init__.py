"""The bundled demo model pair: a tiny base model and its aligned (chat-tuned) sibling.

Both were trained here, on a synthesized world (see build.py); they share one
byte-level BPE vocabulary. This module only locates the bundled files, so importing
it stays cheap (no torch).
"""

from __future__ import annotations

import json
from pathlib import Path

PAIR_DIR = Path(__file__).parent / "pair"
BASE_DIR = PAIR_DIR / "base"
ALIGNED_DIR = PAIR_DIR / "aligned"
QUERIES_FILE = PAIR_DIR / "queries.jsonl"


def demo_queries() -> list[dict]:
    """The demo queries ({"id", "query"}), about entities the aligned model never saw
    answered in training; the first is the one the app opens with."""
    with open(QUERIES_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
GGUF_DIR = PAIR_DIR / "gguf"  # the same pair as GGUF files: f32 and Q8_0
