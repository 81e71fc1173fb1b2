"""How far a model load is, from the libraries' own progress hooks, as one line of text.

huggingface_hub reports downloads through a tqdm class (`from_pretrained(tqdm_class=...)`)
and transformers its weight loading through `set_tqdm_hook`. Both are given a tqdm that
draws nothing (a bar written to the terminal would garble the app, and `analyze`'s own
stderr) and hands its state to a callback instead: the app's loading line, or `analyze`'s
status on stderr.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

Report = Callable[[str], None]



def describe(state: dict) -> str:
    """`Loading weights 120/291` or `model-00001-of-00004.safetensors 1.2/4.9 GB`, from a tqdm's format_dict."""
    desc = (state.get("prefix") or "").rstrip(": ")
    n, total = state.get("n", 0), state.get("total")
    if state.get("unit") == "B":
        scale = 1e9 if (total or n) >= 1e9 else 1e6
        suffix = "GB" if scale == 1e9 else "MB"
        amount = f"{n / scale:.1f}/{total / scale:.1f} {suffix}" if total else f"{n / scale:.1f} {suffix}"
    else:
        amount = f"{n}/{total}" if total else str(n)
    return f"{desc} {amount}".strip()


def reporting_tqdm(report: Report) -> type:
    """A tqdm class that draws nothing and calls `report(text)` where it would redraw (tqdm's own rate limit)."""

    class Reporting(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)  # huggingface_hub's own keyword, unknown to tqdm
            super().__init__(*args, **{**kwargs, "file": io.StringIO(), "disable": False, "leave": False})

        def display(self, msg=None, pos=None):
            report(describe(self.format_dict))
            return True

        def close(self):
            if not self.disable:
                report(describe(self.format_dict))  # the final count, which a fast load never redraws
            super().close()

    return Reporting


@contextmanager
def transformers_progress(report: Report | None) -> Iterator[type | None]:
    """While loading: transformers' weight-loading bar reports to `report`; yields the tqdm class for downloads."""
    if report is None:
        yield None
        return
    from transformers.utils import logging as hf_logging

    reporting = reporting_tqdm(report)
    previous = hf_logging.set_tqdm_hook(lambda factory, args, kwargs: reporting(*args, **kwargs))
    try:
        yield reporting
    finally:
        hf_logging.set_tqdm_hook(previous)
