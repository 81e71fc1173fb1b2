"""The shift palette: the colours of the three categories, as CSS variables a theme can override.

The defaults are the default theme's (themes/dark.yaml: the URIAL paper's blue, amber, red).
Widgets read them through component classes in their DEFAULT_CSS, so a Textual theme that
sets `shift-unshifted` / `shift-marginal` / `shift-shifted` in its `variables` recolours
the app without touching a widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.theme import Theme

from alignterm import themes
from alignterm.display import visible
from alignterm.engine.events import CATEGORIES, Category

if TYPE_CHECKING:
    from textual.app import App

    from alignterm.themes import ThemeFile


@dataclass(frozen=True)
class ShiftPalette:
    """Foreground colours of the categories (any Textual colour string)."""

    unshifted: str
    marginal: str
    shifted: str

    def colour(self, category: Category) -> str:
        return getattr(self, category)

    def css_variables(self) -> dict[str, str]:
        """The theme variables the widgets' CSS refers to."""
        return {themes.shift_variable(c): self.colour(c) for c in CATEGORIES}


def textual_theme(theme: ThemeFile) -> Theme:
    """The Textual theme of a theme file, its shift palette as CSS variables."""
    # theme.app holds only colour settings (themes.APP_COLOURS), all strings: mypy cannot see
    # that the dict's keys never name Theme's float or bool arguments
    return Theme(name=theme.name, dark=theme.dark, variables=theme.css_variables(), **theme.app)  # type: ignore[arg-type]


# the default theme's colours, for any Textual theme that does not set its own
DEFAULT_PALETTE = ShiftPalette(**themes.DEFAULT_PALETTE)

# What stands for a category when colour is off (monochrome mode): a text style, and the
# words the legend uses for it.
MONO_STYLE: dict[str, str] = {"unshifted": "", "marginal": "bold", "shifted": "bold reverse"}

def shift_colour(app: App, category: str) -> str:
    """A category's colour in the app's current theme ("" if the theme has none).

    The one way widgets that draw Rich text look a shift colour up; the answer pane's CSS
    reads the same theme variables as `$shift-<category>`.
    """
    return app.theme_variables.get(themes.shift_variable(category), "")


def category_style(app: App, category: str, monochrome: bool, *, bold: bool = False) -> str:
    """The Rich style a category is drawn in: its colour (bold if asked), or its monochrome style."""
    if monochrome:
        return MONO_STYLE[category]
    colour = shift_colour(app, category)
    return f"bold {colour}".strip() if bold else colour


def chooser_style(app: App, chooser: str, monochrome: bool) -> str:
    """The Rich style of a nudged answer's token by who chose it (engine/nudge.py): the aligned
    model's words bold and underlined in the theme's success colour, which no bundled theme gives
    a category, so they never read as a shift; bold underline alone in monochrome, where nothing
    else in a nudged pane is underlined. The base model's tokens are plain."""
    if chooser != "aligned":
        return ""
    colour = "" if monochrome else app.theme_variables.get("success", "")
    return f"bold underline {colour}".strip()


# How a category is described to a person (the paper's ranks).
CATEGORY_RANKS: dict[str, str] = {"unshifted": "rank 1", "marginal": "rank 2–3", "shifted": "rank ≥4"}


def pane_text(text: str) -> str:
    """Token text as an answer pane shows it: control characters escaped, tabs as spaces."""
    return visible(text).replace("\t", "    ")


def visible_whitespace(text: str) -> str:
    """Token text on one line with whitespace drawn as marks and controls escaped (the inspector)."""
    return visible(text, show_whitespace=True).replace("\n", "")
