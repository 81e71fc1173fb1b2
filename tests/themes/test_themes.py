"""Theme files: the bundled ones, user themes, and broken files named with their line."""

from __future__ import annotations

import pytest

from alignterm.themes import BUNDLED, BUNDLED_DIR, DEFAULT_PALETTE, DEFAULT_THEME, ThemeError, load_themes, read_theme

GOOD = """\
name: mine
dark: false
app:
  primary: "#123456"
shift:
  unshifted: "#0000ff"
  marginal: "#ffaa00"
  shifted: "#ff0000"
"""


def test_the_bundled_themes_load_with_a_full_shift_palette():
    themes, notices = load_themes()
    assert notices == [] and list(themes) == list(BUNDLED)
    assert {"dark", "light", "high-contrast", "colour-blind"} <= set(themes)
    for theme in themes.values():
        assert set(theme.palette) == {"unshifted", "marginal", "shifted"}
        assert len(set(theme.palette.values())) == 3, f"{theme.name}: categories must differ"
        assert "primary" in theme.app
    assert themes[DEFAULT_THEME].palette == DEFAULT_PALETTE
    assert themes["colour-blind"].palette == {"unshifted": "#56B4E9", "marginal": "#F0E442", "shifted": "#D55E00"}


def test_a_user_theme_is_added_and_may_replace_a_bundled_one(tmp_path):
    (tmp_path / "mine.yaml").write_text(GOOD)
    (tmp_path / "light.yaml").write_text(GOOD.replace("name: mine", "name: light"))
    themes, notices = load_themes(tmp_path)
    assert notices == []
    assert themes["mine"].palette["shifted"] == "#ff0000" and themes["mine"].dark is False
    assert themes["light"].path == tmp_path / "light.yaml"



def test_a_theme_written_with_the_old_kl_gradient_still_loads(tmp_path):
    (tmp_path / "old.yaml").write_text(GOOD.replace("name: mine", "name: old") + '  gradient: ["#000000", "#ffffff"]\n')
    themes, notices = load_themes(tmp_path)
    assert notices == [] and themes["old"].palette["shifted"] == "#ff0000"


@pytest.mark.parametrize("text, line, words", [
    (GOOD.replace('  primary: "#123456"', '\tprimary: "#123456"'), 4, "cannot start any token"),  # a tab
    (GOOD.replace("  marginal:", "marginal:"), 8, "expected <block end>"),  # broken indentation
    (GOOD.replace('"#ff0000"', '"not-a-colour"'), 8, "'shift.shifted': 'not-a-colour' is not a colour"),
    (GOOD.replace("dark: false", "dark: maybe"), 2, "'dark' must be true or false"),
    (GOOD.replace("  primary:", "  primery:"), 4, "unknown setting 'app.primery'"),
    (GOOD.replace('  marginal: "#ffaa00"\n', ""), 5, "'shift.marginal' is missing"),
    ("!!python/object/apply:os.system ['true']\n", 1, "python/object"),
])
def test_a_broken_theme_file_is_named_with_its_line(tmp_path, text, line, words):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ThemeError) as info:
        read_theme(path)
    message = str(info.value)
    assert message.startswith(f"theme file {path} line {line}: "), message
    assert words in message
    themes, notices = load_themes(tmp_path)
    assert notices == [message] and set(themes) == set(BUNDLED)  # skipped; the others still load


def test_theme_files_are_the_documented_shape():
    for name in BUNDLED:
        text = (BUNDLED_DIR / f"{name}.yaml").read_text()
        assert text.startswith("# alignterm theme:"), name
