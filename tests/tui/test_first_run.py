"""What a new user meets on the first screen: keys that work everywhere, notices, themes, loading lines."""

from __future__ import annotations

from textual.widgets import Input, Select
from textual.widgets._toast import Toast

from alignterm.sessions import SessionStore
from alignterm.tui.model_host import LoadStep
from alignterm.tui.screens.sessions import SessionBrowser

from .conftest import readme_keys, run_query, wait_until


def anywhere_keys() -> set[str]:
    keys = set()
    for row_keys, where, _ in readme_keys():
        if where.startswith("anywhere"):
            keys.update(k for k in row_keys if k not in ("question_mark", "tab", "shift+tab"))
    return keys


def test_the_readme_key_table_is_read():
    assert {"f2", "f5", "ctrl+r", "f6", "f7", "f8", "escape", "ctrl+q", "ctrl+b"} <= anywhere_keys()


async def test_no_text_box_or_pane_shadows_a_key_the_readme_offers_anywhere(make_app):
    """Every focusable widget leaves the README's "anywhere" keys to the app (ctrl+s in the
    editor saves the prompt: its own documented row)."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        widgets = [app.query_input, app.pane("base"), app.editor.text_area,
                   app.editor.query_one("#urial-path", Input), app.editor.query_one("#urial-choice", Select)]
        keys = anywhere_keys() - {"ctrl+s"}
        for widget in widgets:
            node, shadowed = widget, set()
            while node is not None and node is not app.screen:
                shadowed |= keys & set(node._bindings.key_to_bindings)
                node = node.parent
            assert not shadowed, (widget, shadowed)


async def test_f7_and_f6_in_the_urial_editor_are_the_apps_keys(make_app, tmp_path):
    app = make_app(session_store=SessionStore(tmp_path))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f2")
        assert app.focused is app.editor.text_area
        text, theme = app.editor.text_area.text, app.theme
        await pilot.press("f7")
        assert app.theme != theme
        assert app.editor.text_area.selected_text == ""  # before: the whole prompt, replaced by the next key
        await pilot.press("x")
        assert app.editor.text_area.text != "x" and "x" in app.editor.text_area.text
        await pilot.press("f6")
        assert isinstance(app.screen, SessionBrowser)
        assert len(text) > 100


async def test_ctrl_c_in_the_query_box_says_what_it_did(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_input.focus()
        await pilot.pause()
        await pilot.press("ctrl+a", "shift+end")  # the whole query selected
        await pilot.press("ctrl+c")
        assert any(n.title == "Copied" for n in app._notifications)
        await pilot.press("end")  # nothing selected: the user meant to quit
        await pilot.press("ctrl+c")
        assert any("ctrl+q" in n.message and "quit" in n.message for n in app._notifications)


async def test_the_palette_offers_only_alignterm_themes(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)):
        assert set(app.available_themes) == set(app.theme_files)
        for theme in app.available_themes.values():
            assert "shift-marginal" in theme.variables  # each carries its own shift palette


async def test_toasts_never_cover_the_legend_or_the_stats_bar(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:  # Pilot draws no toasts unless asked
        for i in range(3):
            app.notify(f"notice {i}", title="Test")
        await wait_until(pilot, lambda: len(app.screen.query(Toast)) >= 3)
        await pilot.pause(0.3)  # toasts slide in
        covered = [app.stats.region, app.query_one("#legend").region]
        for toast in app.screen.query(Toast):
            assert all(not toast.region.overlaps(r) for r in covered), (toast.region, covered)


async def test_the_html_export_notice_is_titled_for_what_it_did(make_app, demo_session, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_session(demo_session)
        app.keeper.save_as(demo_session, tmp_path / "page.html")
        app.keeper.save_as(demo_session, tmp_path / "run.yaml")
        await pilot.pause()
        titles = [n.title for n in app._notifications if "Saved" in n.message]
        assert titles == ["Exported HTML page", "Session saved"]


async def test_tabbing_into_a_pane_moves_the_inspector_to_that_pane(make_app):
    app = make_app()
    async with app.run_test(size=(120, 48)) as pilot:
        await run_query(pilot)
        app.pane("base").focus()
        await pilot.pause()
        await pilot.press("f3")
        assert app.inspector.token.side == "base"
        app.pane("aligned").focus()
        await pilot.pause()
        assert app.inspector.token.side == "aligned"
        app.pane("base").focus()  # as Tab does: the base pane's cursor is already set, so it does not move
        await pilot.pause()
        assert app.inspector.token.side == "base"


async def test_choosing_the_bare_prompt_in_the_palette_updates_the_editor_selector(make_app):
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        app.use_urial("none")
        await pilot.pause()
        assert app.editor.query_one("#urial-choice", Select).value == "none"
        app.use_urial("preamble")
        await pilot.pause()
        assert app.editor.query_one("#urial-choice", Select).value == "preamble"


async def test_each_pane_names_its_own_model_while_loading(make_app, demo_specs):
    """The engine's own loading messages, replayed into the app: the aligned pane never names the base model."""
    from alignterm.engine.loading import load_checked_pair

    heard = []
    load_checked_pair(*demo_specs, progress=heard.append)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        seen = []
        for step in heard:
            app.compare._load_step(LoadStep(step))
            seen.append((app.pane("base").placeholder, app.pane("aligned").placeholder))
        await pilot.pause()
    base_path, aligned_path = (spec.spec for spec in demo_specs)
    assert any(base_path in base and base_path not in aligned for base, aligned in seen), seen
    assert any(aligned_path in aligned and base_path not in aligned for base, aligned in seen), seen
    assert all(base_path not in aligned for _, aligned in seen), seen



async def test_a_long_loading_line_is_shown_whole_in_its_pane(make_app):
    app = make_app()
    path = "/home/someone/models/meta-llama/Llama-3.1-8B-Instruct-with-a-long-folder-name"
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane("aligned")
        pane.placeholder = f"Loading the aligned model from {path}…"
        await pilot.pause()
        rows = ["".join(seg.text for seg in pane.render_line(y)).strip() for y in range(pane.size.height)]
        assert path in "".join(rows), rows  # wrapped, where it was cut at the pane's edge
        assert "Loading the aligned model from" in " ".join(rows)


def _visible_colours(pane) -> tuple[set, set]:
    """The foreground and background colours of the tokens drawn in the pane's visible rows."""
    fg, bg = set(), set()
    for y in range(pane.scrollable_content_region.height):
        for seg in pane.render_line(y):
            if seg.text.strip() and seg.style is not None and seg.style.meta.get("token") is not None:
                fg.add(seg.style.color.triplet if seg.style.color else None)
                bg.add(seg.style.bgcolor.triplet if seg.style.bgcolor else None)
    return fg, bg


async def test_the_first_run_shows_shifts_and_the_urial_lens_marks_what_the_prompt_recovered(make_app):
    """The preset query, default settings, 80x24: red and amber tokens on screen (the bare lens, the
    paper's TDS); ctrl+t shows the aligned answer under base + URIAL, the recovered tokens marked."""
    from rich.color import Color as RichColor

    from alignterm.engine.values import DecodingParams

    app = make_app(params=DecodingParams())
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(pilot)
        colour = {c: RichColor.parse(app.theme_variables[f"shift-{c}"]).triplet for c in ("shifted", "marginal")}
        fg = set()
        for side in ("base", "aligned"):
            fg |= _visible_colours(app.pane(side))[0]
        assert colour["shifted"] in fg and colour["marginal"] in fg, fg
        aligned = app.pane("aligned")
        assert app.lens == "bare" and "lens bare" in app.stats.plain_lines()[2]
        assert aligned.tokens == app.result.aligned_bare
        assert not aligned.recovered

        await pilot.press("ctrl+t")
        assert app.lens == "urial" and "lens URIAL" in app.stats.plain_lines()[2]
        assert aligned.tokens == app.result.aligned.tokens
        recovered = aligned.recovered
        assert recovered
        for i in recovered:  # shifted under the bare prompt, not under URIAL (the engine's two scorings)
            assert app.result.aligned_bare[i].shift == "shifted" and app.result.aligned.tokens[i].shift != "shifted"
        aligned.move_cursor(recovered[0])
        aligned.move_cursor(-1)
        await pilot.pause()
        marked = app.pane("aligned").get_component_rich_style("answer-pane--recovered", partial=True).bgcolor
        assert marked is not None and marked.triplet in _visible_colours(aligned)[1]
        await pilot.press("ctrl+t")
        assert app.lens == "bare" and not aligned.recovered


async def test_at_60x20_a_panel_leaves_answer_lines_and_the_whole_stats_bar(make_app):
    from .conftest import screen_lines

    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await run_query(pilot)
        for key in ("f2", "f3"):
            await pilot.press(key)
            await pilot.pause()
            for side in ("base", "aligned"):
                pane = app.pane(side)
                rows = ["".join(s.text for s in pane.render_line(y)).strip()
                        for y in range(pane.scrollable_content_region.height)]
                assert sum(bool(r) for r in rows) >= 3, (key, side, rows)
            lines = screen_lines(app)
            assert any(line.lstrip().startswith("Base+URIAL") for line in lines), lines
            assert any(line.lstrip().startswith("Aligned") and "tok" in line for line in lines), lines
            assert any("closure" in line for line in lines), lines
            assert lines[-1].rstrip().endswith("palette"), lines[-1]  # no stray letter after the palette key


async def test_the_editor_and_the_inspector_open_together_on_a_large_terminal(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await run_query(pilot)
        await pilot.press("f2", "f3")
        assert app.editor.display and app.inspector.display
        assert app.pane("aligned").scrollable_content_region.height >= 5


async def test_the_lens_survives_a_base_rerun_and_a_clear(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        bare = list(app.result.aligned_bare)
        app.action_rerun_base()  # ctrl+b, the bare lens shown: the kept answer's bare scoring stays
        await wait_until(pilot, lambda: app.result is not None and not app.running)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.lens == "bare" and list(app.pane("aligned").tokens) == bare == list(app.result.aligned_bare)
        await pilot.press("ctrl+l", "ctrl+t")
        assert app.lens == "urial" and not app.pane("aligned").tokens
