"""Themes: `*.yaml` files, each a Textual theme (the app's colours) plus the shift palette.

Bundled: dark (the default), light, high-contrast and colour-blind (Okabe-Ito). User
themes are read from `$XDG_CONFIG_HOME/alignterm/themes/*.yaml` and replace a bundled one
of the same name. A file that cannot be used is skipped with a notice naming the file and
line, so a broken theme never stops the app: the default theme stands in for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import yaml

from alignterm.engine.events import CATEGORIES  # the categories a theme colours

BUNDLED_DIR = Path(__file__).parent
BUNDLED = ("dark", "light", "high-contrast", "colour-blind")
DEFAULT_THEME = "dark"

# the Textual theme's colour settings a file may give (primary is required)
APP_COLOURS = ("primary", "secondary", "accent", "warning", "error", "success",
               "foreground", "background", "surface", "panel", "boost")


def shift_variable(category: str) -> str:
    """The theme variable holding a category's colour (`$shift-shifted` in the widgets' CSS)."""
    return f"shift-{category}"


class ThemeError(ValueError):
    """A theme file that cannot be used; the message names the file and, where known, the line."""


@dataclass(frozen=True)
class ThemeFile:
    """One theme as read from its file."""

    name: str
    path: Path
    dark: bool = True
    app: dict[str, str] = field(default_factory=dict)
    palette: dict[str, str] = field(default_factory=dict)  # unshifted / marginal / shifted colours

    def css_variables(self) -> dict[str, str]:
        """The theme variables the app's widgets colour tokens with."""
        return {shift_variable(c): self.palette[c] for c in CATEGORIES}


def user_dir() -> Path:
    return platformdirs.user_config_path("alignterm") / "themes"


def _line_of(root: yaml.Node | None, keys: tuple[str, ...]) -> int | None:
    """The 1-based line of the value at `keys` in a composed YAML document (the deepest one found)."""
    node, line = root, None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == key:
                node, line = v, k.start_mark.line + 1
                break
        else:
            break
    return line


def _check_colour(value: Any) -> str:
    from textual.color import Color, ColorParseError

    if not isinstance(value, str):
        raise ValueError(f"a colour must be a string such as \"#5ea1ff\" (got {value!r})")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{value!r} is not a colour") from None
    return value


def _mapping(doc: dict, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise _Problem((key,), f"'{key}' must be a mapping of colours")
    for k in value:
        if k not in allowed:
            raise _Problem((key, str(k)), f"unknown setting '{key}.{k}' (known: {', '.join(allowed)})")
    return value


class _Problem(Exception):
    def __init__(self, keys: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.keys = keys


def _build(doc: Any, path: Path) -> ThemeFile:
    if not isinstance(doc, dict):
        raise _Problem((), "a theme file is a mapping with name, app and shift")
    unknown = set(doc) - {"name", "dark", "app", "shift"}
    if unknown:
        key = str(sorted(unknown, key=str)[0])
        raise _Problem((key,), f"unknown setting '{key}' (known: name, dark, app, shift)")
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise _Problem(("name",), "'name' must be a non-empty string")
    dark = doc.get("dark", True)
    if not isinstance(dark, bool):
        raise _Problem(("dark",), "'dark' must be true or false")
    app = _mapping(doc, "app", APP_COLOURS)
    # 'gradient' coloured the HTML page's KL strip, since removed (docs/decisions.md, the query-set
    # report): accepted and ignored, so theme files written for it still load
    shift = _mapping(doc, "shift", (*CATEGORIES, "gradient"))
    shift.pop("gradient", None)
    for section, key in (("app", "primary"), *(("shift", c) for c in CATEGORIES)):
        if key not in (app if section == "app" else shift):
            raise _Problem((section,), f"'{section}.{key}' is missing")
    for section, colours in (("app", app), ("shift", shift)):
        for k, v in colours.items():
            _checked(section, k, v)
    palette: dict[str, str] = {c: shift[c] for c in CATEGORIES}
    return ThemeFile(name.strip(), path, dark, dict(app), palette)


def _checked(section: str, key: str, value: Any) -> str:
    try:
        return _check_colour(value)
    except ValueError as err:
        raise _Problem((section, key), f"'{section}.{key}': {err}") from None


def read_theme(path: Path) -> ThemeFile:
    """A theme from its YAML file (safe-loaded); ThemeError naming the file and line if it is broken."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ThemeError(f"theme file {path}: cannot read it ({getattr(err, 'strerror', None) or err})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise ThemeError(f"theme file {path}{where}: {problem}") from None
    try:
        return _build(doc, path)
    except _Problem as problem:
        line = _line_of(yaml.compose(text), problem.keys) if problem.keys else None
        where = f" line {line}" if line else ""
        raise ThemeError(f"theme file {path}{where}: {problem}") from None


def load_themes(user_themes: Path | None = None) -> tuple[dict[str, ThemeFile], list[str]]:
    """Bundled themes, then those in `user_themes` (same name replaces); and a notice per skipped file."""
    themes: dict[str, ThemeFile] = {}
    notices: list[str] = []
    files = [BUNDLED_DIR / f"{name}.yaml" for name in BUNDLED]
    if user_themes is not None and user_themes.is_dir():
        files += sorted(user_themes.glob("*.yaml"))
    for path in files:
        try:
            theme = read_theme(path)
        except ThemeError as err:
            notices.append(str(err))
            continue
        themes[theme.name] = theme
    return themes, notices


# The default shift colours, for output without a chosen theme (analyze's pretty and HTML formats).
DEFAULT_PALETTE: dict[str, str] = read_theme(BUNDLED_DIR / f"{DEFAULT_THEME}.yaml").palette
