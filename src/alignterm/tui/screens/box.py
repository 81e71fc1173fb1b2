"""The look shared by the app's dialogs: a titled, rounded box in the middle of the screen."""

from __future__ import annotations

from textual.containers import Vertical


def box_css(screen: str, width: int, colour: str = "$primary") -> str:
    """CSS for `screen` holding one titled Vertical box of `width` cells, framed in `colour`."""
    return f"""
    {screen} {{ align: center middle; }}
    {screen} > Vertical {{
        width: {width}; max-width: 100%;
        height: auto; max-height: 100%;
        border: round {colour};
        border-title-color: {colour if colour != "$primary" else "$text"};
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }}
    """


def titled_box(title: str) -> Vertical:
    box = Vertical()
    box.border_title = title
    return box
