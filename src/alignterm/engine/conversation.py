"""A multi-turn conversation (issue #21): one comparison per user turn, each after the turns before it.

The URIAL maintainers' advice for conversations is to append the history to the in-context
examples, so turn k's base prompt is the URIAL prompt + turns 1..k-1 as examples + the query
block, and the aligned model reads the same turns in its chat template (engine/prompts.py).
There is one history, and its assistant turns are the aligned model's answers: TDS compares the
two models reading the same context, and the conversation being measured is the aligned model's
(docs/decisions.md, "Multi-turn URIAL").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .compare import Comparator, ComparisonRequest
from .events import ComparisonResult
from .values import CancelToken, DecodingParams


def converse(comparator: Comparator, turns: Sequence[str], urial: str | None, params: DecodingParams,
             cancel: CancelToken | None = None) -> Iterator[ComparisonResult]:
    """Each turn's comparison in order, turn k after turns 1..k-1 and their aligned answers; a cancel
    ends the turn in progress (its result, marked cancelled, is the last) and starts no other."""
    cancel = cancel or CancelToken()
    history: tuple[tuple[str, str], ...] = ()
    for query in turns:
        if cancel.cancelled:
            return
        result = comparator.compare(ComparisonRequest(query, urial, params, live=False, history=history), cancel)
        yield result
        if result.cancelled:
            return
        history = (*history, (query, result.aligned.text))
