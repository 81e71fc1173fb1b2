"""The user's settings file, `$XDG_CONFIG_HOME/alignterm/config.yaml`: what the app remembers (the theme)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs
import yaml

from .atomic import atomic_write


@dataclass
class Config:
    theme: str | None = None


def config_path() -> Path:
    return platformdirs.user_config_path("alignterm") / "config.yaml"


def load_config(path: Path) -> tuple[Config, str | None]:
    """The settings in `path` (defaults when it is missing), and a notice when it could not be used."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config(), None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        return Config(), f"settings file {path}{where} ignored: {getattr(err, 'problem', None) or err}"
    theme = doc.get("theme") if isinstance(doc, dict) else None
    return Config(theme=theme if isinstance(theme, str) else None), None


def save_config(config: Config, path: Path) -> str | None:
    """Write the settings atomically; a notice if that failed (settings are never worth a crash)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            f.write(yaml.safe_dump(asdict(config), sort_keys=False))
    except OSError as err:
        return f"cannot save settings to {path}: {err.strerror or err}"
    return None
