"""Hostile model output: a real model whose tokens are terminal escapes, controls and byte fragments.

Whatever a model writes is shown as visible escapes (`\\x1b[31m`, `\\x07`, `\\u202e`, ...)
and never reaches the terminal raw: in the app, in `--format pretty`, and in the HTML
page (HTML-escaped as well). The session file keeps the exact text.
"""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

from rich.console import Console

from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.formats.pretty import print_record
from alignterm.sessions import Session, load_session
from alignterm.sessions.store import save_session
from alignterm.tui.app import AlignTermApp

from ..tui.conftest import run_query, screen_lines, wait_until
from .conftest import cli
from .models import HOSTILE, RAW_CONTROLS, SHOWN

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colour codes rich itself writes on a terminal


def _analyze(capfd, model: str, *args: str) -> tuple[int, str, str]:
    return cli(capfd, "analyze", "--query", "Say hello.", "--base", model, "--aligned", model, "--urial", "none",
               "--max-new-tokens", "16", "--top-k", "3", *args)


def _assert_no_raw_controls(text: str) -> None:
    found = sorted({repr(c) for c in RAW_CONTROLS if c in text})
    assert not found, f"raw control characters reached the output: {found}"


def test_the_model_really_writes_the_hostile_tokens(hostile_dir, capfd):
    code, out, err = _analyze(capfd, str(hostile_dir), "--format", "jsonl")
    assert code == 0, err
    record = json.loads(out)
    for side in ("aligned", "base"):
        texts = [t["text"] for t in record[side]["tokens"]]
        assert texts[: len(HOSTILE)] == HOSTILE and texts[len(HOSTILE)] == "\ufffd"  # the lone UTF-8 byte
    _assert_no_raw_controls(out.replace("\u200b", "").replace("\u202e", ""))  # JSON escapes C0 controls


def test_pretty_output_shows_them_escaped(hostile_dir, capfd):
    code, out, err = _analyze(capfd, str(hostile_dir), "--format", "pretty")
    assert code == 0, err
    _assert_no_raw_controls(out)
    for shown in SHOWN:
        assert shown in out
    code, out, _ = _analyze(capfd, str(hostile_dir), "--format", "jsonl")
    terminal = io.StringIO()  # the same record on a colour terminal: only rich's own colour codes
    print_record(Console(file=terminal, force_terminal=True, color_system="truecolor", width=100), json.loads(out))
    _assert_no_raw_controls(SGR.sub("", terminal.getvalue()))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_the_html_page_shows_them_escaped_and_loads_nothing_from_outside(hostile_dir, tmp_path, capfd):
    page_path = tmp_path / "page.html"
    code, _, err = _analyze(capfd, str(hostile_dir), "-o", str(page_path))
    assert code == 0, err
    page = page_path.read_text(encoding="utf-8")
    _assert_no_raw_controls(page)
    parser = _Page()
    parser.feed(page)
    shown = "".join(parser.text)
    for text in SHOWN:
        assert text in shown
    for tag, attrs in parser.tags:
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
        assert tag not in ("link", "iframe", "object", "embed", "img"), tag
    assert "://" not in page and "@import" not in page and "url(" not in page


async def test_the_app_shows_them_escaped_in_the_panes_and_the_inspector(hostile_dir):
    spec = ModelSpec(str(hostile_dir), device="cpu")
    app = AlignTermApp(spec, spec, "none", DecodingParams(max_new_tokens=16), "Say hello.", monochrome=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.comparator is not None or app.load_error is not None)
        assert app.load_error is None
        await run_query(pilot)
        assert [t.text for t in app.result.aligned.tokens][: len(HOSTILE)] == HOSTILE
        for side in ("aligned", "base"):
            pane = app.pane(side)
            drawn = "".join(seg.text for y in range(pane.size.height) for seg in pane.render_line(y))
            _assert_no_raw_controls(drawn)
            for text in SHOWN:
                assert text in drawn
        await pilot.press("f3")  # the inspector, on each hostile token in turn
        pane = app.pane("aligned")
        pane.focus()
        await pilot.pause()
        for _ in HOSTILE:
            _assert_no_raw_controls("\n".join(screen_lines(app)))
            await pilot.press("right")
        assert app.is_running


def test_a_session_keeps_the_exact_text_and_replays_it(hostile_dir, tmp_path):
    from alignterm.engine.compare import Comparator, ComparisonRequest

    spec = ModelSpec(str(hostile_dir), device="cpu")
    result = Comparator.load(spec, spec).compare(ComparisonRequest("Say hello.", None, DecodingParams(max_new_tokens=16)))
    path = tmp_path / "hostile.yaml"
    save_session(Session.now(result, spec, spec, "none"), path)
    text = path.read_text(encoding="utf-8")
    # YAML writes C0/C1 controls as escapes ("\e", "\a"), and the strings holding format
    # characters (U+200B, U+202E) in \u escapes: `cat` shows the file as it is
    _assert_no_raw_controls(text)
    assert "\\u202E" in text and "\\u200B" in text
    assert load_session(path).result == result
