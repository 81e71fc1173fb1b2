"""The HTML page opens in headless Chromium with exactly the session's tokens and shift classes."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from alignterm.atomic import atomic_write
from alignterm.display import visible
from alignterm.engine.compare import ComparisonRequest
from alignterm.engine.prompts import load_urial
from alignterm.engine.values import DecodingParams
from alignterm.formats.html import HtmlWriter
from alignterm.sessions.format import session_record

from ..conftest import run_main
from .test_format import awkward


class Page(HTMLParser):
    """The token spans, and the attributes the page's script sets, of a DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.body: dict[str, str | None] = {}
        self._in: tuple[str, str] | None = None
        self._text = ""
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        for key in ("src", "href"):
            if a.get(key):
                self.external.append(a[key])
        classes = (a.get("class") or "").split()
        if tag == "span" and "tok" in classes:
            self._in, self._text = (a["data-side"], classes[1]), ""

    def handle_data(self, data):
        if self._in is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "span" and self._in is not None:
            side, shift = self._in
            self.tokens[side].append((self._text, shift))
            self._in = None


@dataclass
class Chromium:
    """What headless Chromium printed for a page: its stdout and the page's console errors."""

    out: str
    errors: list[str]


def chromium(path: Path, tmp_path: Path, *flags: str) -> Chromium:
    """Open `path` in headless Chromium with `flags` (e.g. --dump-dom, --screenshot=FILE)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "headless Chromium is required for this test (Debian: apt-get install chromium)"
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", *flags, path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "ERROR" in line)]
    return Chromium(proc.stdout, errors)


def rendered(path: Path, tmp_path: Path) -> Page:
    """The page's DOM after Chromium ran its script."""
    result = chromium(path, tmp_path, "--dump-dom")
    assert "<body" in result.out and result.errors == [], result.errors
    page = Page()
    page.feed(result.out)
    return page


def assert_page_shows(page: Page, result) -> None:
    n = 0
    for side in ("aligned", "base"):
        tokens = result.side(side).tokens
        assert page.tokens[side] == [(visible(t.text), t.shift) for t in tokens]
        n += len(tokens)
    assert page.body.get("data-tokens") == str(n)  # the script ran and read every token's data
    assert page.external == []  # self-contained: nothing fetched


def test_the_exported_page_shows_the_sessions_tokens_and_classes(demo_session, tmp_path):
    session = awkward(demo_session)  # token texts that could break the page if not escaped
    path = tmp_path / "page.html"
    with atomic_write(path) as f:  # what the app's export does
        writer = HtmlWriter(f)
        writer.write(session_record(session))
        writer.close()
    text = path.read_text()
    assert "<svg" in text and "<script>alert(1)</script>" not in text
    assert_page_shows(rendered(path, tmp_path), session.result)


def test_analyze_format_html_opens_in_chromium(comparator, queries, tmp_path):
    out = tmp_path / "analyze.html"
    proc = run_main("analyze", "--query", queries[1], "--max-new-tokens", "16", "--device", "cpu",
                   "--format", "html", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    expected = comparator.compare(ComparisonRequest(queries[1], load_urial("default"),
                                                    DecodingParams(max_new_tokens=16), live=False))
    assert_page_shows(rendered(out, tmp_path), expected)
