"""A real comparison on the demo pair, made once, as the session every test here saves and reads."""

from __future__ import annotations

import pytest

from alignterm.engine.backend import DecodingParams
from alignterm.engine.compare import ComparisonRequest
from alignterm.engine.prompts import load_urial
from alignterm.sessions import Session


@pytest.fixture(scope="session")
def demo_session(comparator, demo_specs, queries) -> Session:
    result = comparator.compare(ComparisonRequest(queries[0], load_urial("default"), DecodingParams(max_new_tokens=40)))
    return Session.now(result, *demo_specs, "default")
