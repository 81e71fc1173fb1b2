"""The app driven with Pilot on the real demo pair: runs, stats, colours, cancel, URIAL edits, inspector."""

from __future__ import annotations

import subprocess
import sys

from textual.color import Color
from textual.command import CommandList, CommandPalette

from alignterm.engine.compare import ComparisonRequest
from alignterm.engine.prompts import load_urial
from alignterm.engine.values import ModelSpec
from alignterm.tui.app import AlignTermApp
from alignterm.tui.palette import MONO_STYLE, visible_whitespace
from alignterm.tui.screens.error import ErrorScreen
from alignterm.tui.screens.help import HelpScreen
from alignterm.tui.widgets.answer_pane import AnswerPane
from alignterm.tui.widgets.query_input import QueryInput
from alignterm.tui.widgets.urial_editor import UrialEditor

from ..conftest import shown as engine_shown
from .conftest import PARAMS, CountingRuns, readme_keys, run_and_cancel, run_query, screen_lines, wait_for_rescore, wait_until

SIDES = ("aligned", "base")


def counts(summary):
    """What must match exactly between two runs (floats such as mean KL carry cache noise)."""
    if summary is None:
        return None
    return (summary.counts(), summary.shifted_by_bucket, summary.tokens_by_bucket)


def categories(tokens):
    return [(t.id, t.other_rank, t.shift) for t in tokens]


def close(a, b):
    return a == b or (a is not None and b is not None and abs(a - b) < 1e-6)


async def test_typing_a_query_and_running_fills_both_panes(make_app, queries):
    app = make_app(query="")
    async with app.run_test(size=(120, 40)) as pilot:
        query = queries[1]
        await pilot.click("#query")
        await pilot.press(*query)
        assert app.query_input.value == query
        await run_query(pilot)
        assert app.result.query == query and not app.result.cancelled
        for side in SIDES:
            shown = app.pane(side).tokens
            assert shown, f"the {side} pane is empty"
            assert list(shown) == engine_shown(app.result, side, app.lens)
        assert "".join(t.text for t in app.pane("aligned").tokens).strip()
        assert "done" in screen_lines(app)[0]


async def test_stats_bar_shows_the_engine_summary_for_the_same_query(make_app, comparator, demo_query):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        expected = comparator.compare(ComparisonRequest(demo_query, load_urial("default"), PARAMS)).summary
        bar = app.stats
        for side in SIDES:
            engine = getattr(expected, side)
            assert counts(bar.sides[side].summary) == counts(engine)
            for category in ("unshifted", "marginal", "shifted"):
                assert getattr(bar.sides[side].shown, category) == getattr(engine, category)
        assert counts(bar.aligned_bare) == counts(expected.aligned_bare) and close(bar.closure, expected.closure)
        lines = bar.plain_lines()
        for line, side in zip(lines, ("base", "aligned")):  # the bar's rows follow the panes
            engine = expected.aligned_bare if side == "aligned" else expected.base  # the bare lens, the first

            assert f"{engine.n} tok" in line
            for letter, category in zip("UMS", ("unshifted", "marginal", "shifted")):
                assert f"{letter} {engine.share(category) * 100:4.1f}%" in line
        closure = "—" if expected.closure is None else f"{expected.closure:.2f}"
        assert f"closure {closure}" in lines[2]


async def test_gpu_memory_shows_only_for_models_on_cuda(make_app, comparator):
    """The demo pair is on the CPU: no memory figure; told one (what engine/devices.py reads on
    CUDA), the bar's last line shows it."""
    from alignterm.engine.devices import DeviceMemory

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        assert comparator.base.devices == comparator.aligned.devices == {"cpu"}
        assert app.stats.gpu_memory == () and "GB" not in app.stats.plain_lines()[2]
        app.stats.gpu_memory = (DeviceMemory("cuda:0", int(15.3e9), int(80e9)),)
        await pilot.pause()
        assert app.stats.plain_lines()[2].endswith("cuda:0 15.3/80 GB")


def _segments(pane: AnswerPane):
    for y in range(pane.line_count):
        for segment in pane.render_answer_line(y):
            if segment.text:
                yield segment, pane.tokens[segment.style.meta["token"]]


async def test_every_rendered_token_is_drawn_in_its_category_colour(make_app):
    app = make_app(urial="none")  # the bare prompt: the demo URIAL prompt closes every shift
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        colours = {c: Color.parse(app.theme_variables[f"shift-{c}"]).rgb for c in ("unshifted", "marginal", "shifted")}
        seen = set()
        for side in SIDES:
            for segment, token in _segments(app.pane(side)):
                assert segment.style.color.get_truecolor() == colours[token.shift], (side, token)
                assert bool(segment.style.underline) == token.top1_differs
                seen.add(token.shift)
        assert {"unshifted", "shifted"} <= seen  # the demo pair shows the paper's picture

        await pilot.press("f4")  # monochrome: the category is in the text style instead
        for side in SIDES:
            for segment, token in _segments(app.pane(side)):
                style = segment.style
                assert bool(style.reverse) == ("reverse" in MONO_STYLE[token.shift])
                assert bool(style.bold) == ("bold" in MONO_STYLE[token.shift])


async def test_escape_stops_the_run_within_one_token_and_keeps_the_partial_answers(make_app, comparator):
    counting = CountingRuns(comparator)
    app = make_app(comparator=counting)
    async with app.run_test(size=(120, 40)) as pilot:
        at_escape: dict[str, int] = {}
        cancel = app.action_cancel

        def spy() -> None:  # how many tokens the engine had yielded when Escape was handled
            at_escape.update(counting.yielded)
            cancel()

        app.action_cancel = spy
        await run_and_cancel(pilot, after_tokens=3)

        result = app.result
        assert result.cancelled, "the run ended before Escape was handled"
        assert 3 <= len(result.aligned.tokens) <= at_escape["aligned"] + 1
        # the base side also releases the few tokens it held back while checking for a
        # stop string: generated before Escape, shown only now
        assert len(result.base.tokens) <= at_escape["base"] + 1 + 6
        for side in SIDES:
            assert list(app.pane(side).tokens) == engine_shown(result, side, app.lens)  # partial text kept
        assert result.aligned.finish_reason == "cancelled"
        assert "cancelled" in screen_lines(app)[0]


async def test_editing_the_urial_prompt_rescores_to_the_engines_values(make_app, comparator):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        before = (app.stats.sides["aligned"].summary, app.stats.closure)
        await pilot.press("f2")
        area = app.editor.text_area
        assert area.has_focus
        # a real edit a user would make: replace the prompt with a bare instruction
        area.select_all()
        await pilot.press("delete")
        await pilot.press(*"# Instruction\nAnswer.\n")
        edited = area.text
        await wait_for_rescore(pilot)

        expected = comparator.rescore_aligned(app.result, edited)
        bar = app.stats
        assert counts(bar.sides["aligned"].summary) == counts(expected.summary)
        assert counts(bar.aligned_bare) == counts(expected.bare) and close(bar.closure, expected.closure)
        assert (counts(expected.summary), expected.closure) != (counts(before[0]), before[1])  # the edit changed the numbers
        assert categories(app.pane("aligned").tokens) == categories(expected.tokens)  # re-coloured in place
        closure = "—" if expected.closure is None else f"{expected.closure:.2f}"
        assert f"closure {closure}" in bar.plain_lines()[2]
        assert f"{expected.summary.share('shifted') * 100:.1f}%" in bar.plain_lines()[2]


async def test_rerun_base_uses_the_edited_prompt_and_keeps_the_aligned_answer(make_app, comparator, demo_query):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        aligned_before = app.result.aligned
        app.use_urial("preamble")
        await wait_for_rescore(pilot)
        assert "old prompt" in app.pane("base").border_subtitle
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: app.result is not None and not app.running)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.result.urial == load_urial("preamble")
        assert app.pane("base").border_title == "Base + URIAL (preamble)"
        # the aligned answer is the one already on screen, re-scored; the base one is new: as a full run gives
        full = comparator.compare(ComparisonRequest(demo_query, load_urial("preamble"), PARAMS))
        assert app.result.aligned.text == aligned_before.text == full.aligned.text
        assert app.result.aligned.tokens_per_s == aligned_before.tokens_per_s  # not generated again
        assert categories(app.pane("aligned").tokens) == categories(full.aligned.tokens)
        assert categories(app.pane("base").tokens) == categories(full.base.tokens)
        assert counts(app.stats.sides["aligned"].summary) == counts(full.summary.aligned)


async def test_inspector_shows_the_top_k_the_engine_reports(make_app):
    app = make_app(urial="none")  # the bare prompt, where the demo answer has a shifted token
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        await pilot.press("f3")
        pane = app.pane("aligned")
        assert pane.has_focus
        await pilot.press("n")
        token = pane.cursor_token
        assert token is not None and token.shift == "shifted"
        assert app.inspector.token == token
        await pilot.pause()
        lines = screen_lines(app)
        header = next(i for i, line in enumerate(lines) if "aligned top-k" in line)
        assert f"#{token.position}" in lines[header - 2] and "shifted" in lines[header - 2]
        assert f"rank {token.other_rank} under base" in lines[header - 2]
        assert f"{token.logprob:.3f}" in lines[header - 1] and f"{token.other_logprob:.3f}" in lines[header - 1]
        for i, (mine, base) in enumerate(zip(token.top, token.other_top)):
            row = lines[header + 1 + i]
            a, b = row.index(visible_whitespace(mine.text)), row.rindex(visible_whitespace(base.text))
            assert a < b
            assert f"{mine.logprob:.2f}" in row[a:b] and f"{base.logprob:.2f}" in row[b:]
        marked = [line for line in lines[header + 1:] if "▶" in line]
        assert marked, "the chosen token is marked"

        await pilot.press("right")  # the inspector follows the cursor
        assert app.inspector.token == pane.cursor_token != token


async def test_clicking_a_token_moves_the_cursor_there(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        pane = app.pane("base")
        x, expected = 0, None
        for segment in pane.render_answer_line(1):
            if x <= 4 < x + segment.cell_length:
                expected = segment.style.meta["token"]
                break
            x += segment.cell_length
        await pilot.click(pane, offset=(2 + 4, 1 + 1))  # border and padding, then line 1, cell 4
        assert pane.has_focus and pane.cursor == expected


async def test_help_screen_lists_every_binding(make_app):
    app = make_app()
    async with app.run_test(size=(120, 48)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.plain_text()
        from textual.app import App
        from textual.binding import Binding

        for owner in (App, AlignTermApp, QueryInput, AnswerPane, UrialEditor):
            for binding in Binding.make_bindings(owner.BINDINGS):
                assert app.get_key_display(binding) in text, binding
                assert (binding.tooltip or binding.description) in text, binding
        assert "^p" in text and "Command palette" in text
        # checked against the README's key table, which is written apart from the bindings
        documented = set()
        for keys, where, _ in readme_keys():
            for key in keys:
                documented.add(key)
                if key.isascii() and key != "click":
                    assert app.get_key_display(Binding(key, "")) in text or f"{key} " in text, (key, where)
        for binding in Binding.make_bindings(AlignTermApp.BINDINGS):  # and every app key is documented
            assert binding.key in documented, binding.key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        app.pane("aligned").focus()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


async def test_question_mark_types_into_the_query_box(make_app):
    app = make_app(query="")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("W", "h", "y", "question_mark")
        assert app.query_input.value == "Why?"
        assert not isinstance(app.screen, HelpScreen)


async def test_a_bad_model_path_is_an_error_screen_and_the_app_stays_usable(demo_specs, tmp_path):
    missing = str(tmp_path / "no-such-model")
    app = AlignTermApp(ModelSpec(missing), demo_specs[1], query="hello", monochrome=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.load_error is not None)
        assert isinstance(app.screen, ErrorScreen)
        assert "model path not found" in app.load_error and missing in app.load_error
        assert "Traceback" not in "\n".join(screen_lines(app))
        await pilot.press("escape")
        assert not isinstance(app.screen, ErrorScreen)
        await pilot.press("enter")  # running says why it cannot, in a notice
        assert any("No models loaded" in n.message for n in app._notifications)
        await pilot.press("f2")
        assert app.editor.display
        assert app.is_running


async def test_query_history_up_and_down(make_app):
    app = make_app(query="")
    async with app.run_test(size=(80, 24)) as pilot:
        app.history.add("first question")
        app.history.add("second question")
        await pilot.press(*"draft")
        await pilot.press("up")
        assert app.query_input.value == "second question"
        await pilot.press("up")
        assert app.query_input.value == "first question"
        await pilot.press("down", "down")
        assert app.query_input.value == "draft"


async def test_the_command_palette_runs_app_commands(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"monochrome")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette)
                         and app.screen.query_one(CommandList).option_count > 0, timeout=10)
        await pilot.press("enter")
        await pilot.pause()
        assert app.monochrome and app.pane("aligned").has_class("-mono")


async def test_panes_sit_side_by_side_and_stack_when_narrow(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        base, aligned = app.pane("base").region, app.pane("aligned").region
        assert base.y == aligned.y and base.right <= aligned.x
        await pilot.resize_terminal(60, 30)
        await wait_until(pilot, lambda: app.has_class("-narrow"))
        await pilot.pause(0.05)
        base, aligned = app.pane("base").region, app.pane("aligned").region
        assert base.x == aligned.x and base.bottom <= aligned.y


def test_importing_the_app_does_not_import_torch():
    """The first frame must not wait for torch: the engine's heavy modules load in the worker."""
    code = "import sys, alignterm.tui.app; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
