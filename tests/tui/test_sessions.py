"""Sessions and themes in the app (Pilot, real demo pair): autosave, replay, browser, save-as, export, themes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from alignterm.sessions import SessionStore, load_session
from alignterm.tui.screens.sessions import ConfirmScreen, SaveAsScreen, SessionBrowser

from ..conftest import one_clear_line, run_cli, shown
from .conftest import run_query, wait_until

V1 = Path(__file__).parent.parent / "sessions" / "data" / "session-v1.yaml"
SIDES = ("aligned", "base")


def painted(app, side: str) -> list[list[tuple[str, object]]]:
    """The answer pane's text with the style of every cell run, as drawn."""
    pane = app.pane(side)
    return [[(seg.text, seg.style) for seg in pane.render_line(y)] for y in range(pane.size.height)]


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_run_is_autosaved_and_replays_in_a_fresh_app_without_a_model(make_app, tmp_path):
    store = SessionStore(tmp_path)
    app = make_app(session_store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        [saved] = store.entries()
        result, stats = app.result, app.stats.plain_lines()
        colours = {side: painted(app, side) for side in SIDES}
        assert any(seg[1].color for line in colours["aligned"] for seg in line)
    fresh = make_app(comparator=None, session=load_session(saved.path), query="")
    async with fresh.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert fresh.comparator is None and fresh.loader is None  # nothing loaded, nothing loading
        assert fresh.stats.plain_lines() == stats
        for side in SIDES:
            assert list(fresh.pane(side).tokens) == shown(result, side, fresh.lens)
            assert painted(fresh, side) == colours[side]
        assert fresh.query_input.value == result.query
        assert "replay" in str(fresh.query_one("#status").render())
        await pilot.press("f3")  # the inspector shows the file's top-k of both models
        token = fresh.inspector.token
        assert token is not None and token.top and token.other_top
        side = fresh.compare.focused_pane().side
        assert token == shown(result, side, fresh.lens)[0]
        # re-running loads the recorded models, and greedy decoding gives the same answers
        fresh.query_input.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: fresh.comparator is not None and fresh.result is not result
                         and not fresh.running, timeout=120)
        await fresh.workers.wait_for_complete()
        for side in SIDES:
            assert [t.id for t in fresh.result.side(side).tokens] == [t.id for t in result.side(side).tokens]


async def test_a_session_whose_models_are_missing_opens_read_only(make_app):
    session = load_session(V1)  # recorded with models at demo/pair/..., not on this machine
    app = make_app(comparator=None, session=session, query="")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert any("read-only" in n and "demo/pair/base" in n for n in notices(app))
        assert "read-only" in str(app.query_one("#status").render())
        assert list(app.pane("aligned").tokens) == session.result.aligned.tokens
        await pilot.press("enter")
        await pilot.pause()
        assert app.loader is None and app.comparator is None
        assert notices(app)[-1].startswith("This session is read-only")


async def test_the_session_browser_searches_opens_and_deletes_after_asking(make_app, tmp_path):
    store = SessionStore(tmp_path)
    base = load_session(V1)
    first = store.save(base)
    other = dataclasses.replace(base, created="2026-12-01T08:00:00+00:00",
                                result=dataclasses.replace(base.result, query="Where is Ombla?"))
    second = store.save(other)
    app = make_app(session_store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        browser = app.screen
        assert isinstance(browser, SessionBrowser)
        assert [e.path for e in browser.entries] == [second, first]  # newest first
        await pilot.press(*"ombla")
        assert [e.path for e in browser.entries] == [second]
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, SessionBrowser)
        assert app.query_input.value == "Where is Ombla?" and app.result == other.result
        await pilot.press("f6")
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert first.exists() and second.exists()
        await pilot.press("ctrl+d", "y")
        await pilot.pause()
        assert not second.exists() and first.exists()
        assert [e.path for e in app.screen.entries] == [first]


async def test_ctrl_s_saves_the_session_and_f8_exports_a_page(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        for key, name in (("ctrl+s", "mine.yaml"), ("f8", "page.html")):
            await pilot.press(key)
            assert isinstance(app.screen, SaveAsScreen)
            app.screen.query_one("#save-path").value = str(tmp_path / name)
            await pilot.press("enter")
            await pilot.pause()
        assert load_session(tmp_path / "mine.yaml").result == app.result
        page = (tmp_path / "page.html").read_text()
        # both answers, and the aligned one again under the bare prompt (a URIAL run's other lens)
        n = len(app.result.aligned.tokens) + len(app.result.base.tokens) + len(app.result.aligned_bare or [])
        assert page.count('<span class="tok ') == n and "http" not in page.split("<body>")[1].split("<script")[0]
        await pilot.press("ctrl+s")  # saving over an existing file asks first
        app.screen.query_one("#save-path").value = str(tmp_path / "mine.yaml")
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n", "escape")


async def test_a_broken_theme_falls_back_to_the_default_with_the_file_and_line(make_app, tmp_path):
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "mine.yaml").write_text("name: mine\napp:\n  primary: '#123456'\nshift: [unclosed\ndark: true\n")
    config = tmp_path / "config.yaml"
    config.write_text("theme: mine\n")
    app = make_app(themes_dir=themes, config_file=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "dark"
        assert any(f"{themes / 'mine.yaml'} line 5: expected ','" in n for n in notices(app))
        assert any("'mine' is not available" in n for n in notices(app))


async def test_f7_switches_theme_recolours_tokens_and_the_choice_persists(make_app, tmp_path):
    config = tmp_path / "config.yaml"
    app = make_app(config_file=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        before = painted(app, "aligned")
        await pilot.press("f7")
        await pilot.pause()
        assert app.theme == "light"
        assert app.theme_variables["shift-unshifted"] == app.theme_files["light"].palette["unshifted"]
        assert painted(app, "aligned") != before
        assert yaml.safe_load(config.read_text()) == {"theme": "light"}
    again = make_app(config_file=config)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert again.theme == "light"


def test_alignterm_session_with_a_broken_file_is_one_clear_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("alignterm_session: 2\nquery: [unclosed\n")
    assert f"{broken} line 3" in one_clear_line(run_cli("--session", str(broken)))
    assert "does not exist" in one_clear_line(run_cli("--session", str(tmp_path / "nope.yaml")))
    assert broken.read_text() == "alignterm_session: 2\nquery: [unclosed\n"
