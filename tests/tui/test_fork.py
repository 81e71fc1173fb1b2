"""Fork at a token in the app (f in an answer pane, tui/fork.py, screens/fork.py) on the demo pair: the forked
side starts with its old answer up to the cursor + the chosen token and goes on, measured exactly (plain
forward passes, tests/engine/plain.py); the other side is kept; u / Esc go back to the parent as it was."""

from __future__ import annotations

import pytest
import torch
from textual.widgets import Input, OptionList

from alignterm.engine.values import DecodingParams
from alignterm.tui.screens.fork import ForkScreen
from alignterm.tui.widgets.answer_pane import FORK_MARK

from ..conftest import shown
from ..engine.conftest import plain  # noqa: F401  (the plain transformers models, a fixture)
from ..engine.plain import answer_rows, chat_ids
from .conftest import run_query, wait_until

PARAMS = DecodingParams(max_new_tokens=40)
SIZE = (110, 36)


async def open_fork(pilot, side: str, index: int) -> ForkScreen:
    """Put `side`'s cursor on answer token `index` and press f."""
    app = pilot.app
    pane = app.pane(side)
    pane.focus()
    await pilot.pause()
    pane.move_cursor(index)
    await pilot.pause()
    await pilot.press("f")
    await wait_until(pilot, lambda: isinstance(app.screen, ForkScreen))
    return app.screen


async def wait_for_fork(pilot, parent) -> None:
    """Wait for the fork's run (a new result) to end."""
    app = pilot.app
    await wait_until(pilot, lambda: app.result is not None and app.result is not parent and not app.running)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def fork_with(pilot, side: str, index: int, model: str, rank: int = 1):
    """Fork `side` at `index` with `model`'s top-`rank` token there (Enter on it in the dialog); the
    chosen id and the parent result."""
    app = pilot.app
    parent = app.result
    dialog = await open_fork(pilot, side, index)
    option = next(i for i, c in enumerate(dialog.candidates) if c.model == model and c.rank == rank)
    options = dialog.query_one(OptionList)
    options.highlighted = option
    await pilot.pause()
    chosen = dialog.candidates[option].id
    await pilot.press("enter")
    await wait_for_fork(pilot, parent)
    return chosen, parent


def ids(tokens) -> list[int]:
    return [t.id for t in tokens]


def pane_segments(pane, index: int) -> list:
    """The drawn segments of answer token `index`."""
    return [seg for y in range(pane.line_count) for seg in pane.render_answer_line(y)
            if seg.style is not None and seg.style.meta.get("token") == index]


async def test_a_base_fork_at_a_shifted_token_takes_the_aligned_top1_and_is_measured_exactly(
        make_app, demo_query, plain):  # noqa: F811
    models, tok = plain
    app = make_app(params=PARAMS)
    async with app.run_test(size=SIZE) as pilot:
        await run_query(pilot)
        before = app.result
        index = next(i for i, t in enumerate(before.base.tokens) if i > 0 and t.shift == "shifted")
        aligned_top1 = before.base.tokens[index].other_top[0].id
        dialog = await open_fork(pilot, "base", index)
        first = dialog.candidates[0]
        assert (first.model, first.rank, first.id) == ("aligned", 1, aligned_top1)  # the highlighted one
        models_listed = {c.model for c in dialog.candidates}
        assert models_listed == {"aligned", "base"}
        await pilot.press("enter")
        await wait_for_fork(pilot, before)
        result = app.result
        base = ids(result.base.tokens)
        assert base[:index] == ids(before.base.tokens[:index]) and base[index] == aligned_top1
        assert result.base.forced == index + 1 and result.aligned.forced == 0
        assert ids(result.aligned.tokens) == ids(before.aligned.tokens)  # the aligned answer is kept
        assert [t.other_rank for t in result.aligned.tokens] == [t.other_rank for t in before.aligned.tokens]
        assert result.query == before.query and result.urial == before.urial and result.params == before.params
        # the forced answer's measures are those of plain forward passes over it
        own = torch.log_softmax(answer_rows(models["base"], result.base.prompt_ids, base), -1)
        under_aligned = answer_rows(models["aligned"], chat_ids(tok, demo_query), base)
        for i, t in enumerate(result.base.tokens):
            assert t.other_rank == 1 + int((under_aligned[i] > under_aligned[i, t.id]).sum()), i
            assert t.logprob == pytest.approx(float(own[i, t.id]), abs=1e-4)
        assert list(app.pane("base").tokens) == result.base.tokens
        assert f"fork 1 at token {index}" in app.pane("base").border_subtitle


async def test_an_aligned_fork_keeps_the_base_answer(make_app, plain):  # noqa: F811
    models, _ = plain
    app = make_app(params=PARAMS)
    async with app.run_test(size=SIZE) as pilot:
        await run_query(pilot)
        before = app.result
        # the pane shows the aligned answer under base + bare prompt (the first lens): its base top-k is that one's
        index = next(i for i, t in enumerate(app.pane("aligned").tokens) if i > 1 and t.top1_differs)
        chosen, _ = await fork_with(pilot, "aligned", index, "base")
        result = app.result
        aligned = ids(result.aligned.tokens)
        assert aligned[:index] == ids(before.aligned.tokens[:index]) and aligned[index] == chosen
        assert result.aligned.forced == index + 1
        assert result.base == before.base  # kept as it was, measures and all
        under_base = answer_rows(models["base"], result.base.prompt_ids, aligned)  # base + URIAL
        for i, t in enumerate(result.aligned.tokens):
            assert t.other_rank == 1 + int((under_base[i] > under_base[i, t.id]).sum()), i
        assert list(app.pane("aligned").tokens) == shown(result, "aligned")
        assert f"fork 1 at token {index}" in app.pane("aligned").border_subtitle


async def test_u_and_esc_go_back_to_the_parent_as_it_was(make_app):
    app = make_app(params=PARAMS)
    async with app.run_test(size=SIZE) as pilot:
        await run_query(pilot)
        first, stats = app.result, app.stats.plain_lines()
        await fork_with(pilot, "base", 5, "aligned", 2)
        fork1 = app.result
        cursor = app.pane("base").cursor
        await fork_with(pilot, "aligned", 3, "base", 2)  # a fork of the fork
        assert "fork 2 at token 3" in app.pane("aligned").border_subtitle
        assert app.compare.forks.parents[-1].result is fork1
        app.pane("aligned").focus()
        await pilot.press("u")
        assert app.result is fork1 and list(app.pane("base").tokens) == fork1.base.tokens
        assert list(app.pane("aligned").tokens) == shown(fork1, "aligned")
        assert app.pane("base").cursor == cursor and app.pane("aligned").cursor == 3
        assert "fork 1 at token 5" in app.pane("base").border_subtitle
        assert app.pane("base").forced == 6 and app.pane("aligned").forced == 0
        await pilot.press("f3", "escape")  # Esc closes the inspector first
        assert not app.inspector.display and app.result is fork1
        await pilot.press("escape")
        assert app.result is first and list(app.pane("base").tokens) == first.base.tokens
        assert list(app.pane("aligned").tokens) == shown(first, "aligned")
        assert app.pane("base").cursor == 5 and app.pane("base").forced == 0
        assert "fork" not in app.pane("base").border_subtitle
        assert app.stats.plain_lines() == stats
        await pilot.press("escape")  # nothing left to go back to: nothing happens
        assert app.result is first
        await pilot.press("u")
        assert "not a fork" in [n.message for n in app._notifications][-1]


async def test_a_typed_token_forks_and_a_bad_one_is_refused(make_app, comparator):
    app = make_app(params=PARAMS)
    async with app.run_test(size=SIZE) as pilot:
        await run_query(pilot)
        before = app.result
        dialog = await open_fork(pilot, "base", 4)
        box = dialog.query_one("#fork-text", Input)
        box.focus()
        await pilot.press("enter")  # empty: refused, the dialog stays
        assert app.screen is dialog and "Type a token" in [n.message for n in app._notifications][-1]
        box.value = "<|endoftext|>"  # a special token's text
        await pilot.press("enter")
        assert app.screen is dialog and "no ordinary token" in [n.message for n in app._notifications][-1]
        text = " zebra stripes"
        typed = comparator.base.tokenizer.encode(text, add_bos=False)
        assert len(typed) > 1
        box.value = text
        await pilot.press("enter")
        await wait_for_fork(pilot, before)
        result = app.result
        assert ids(result.base.tokens)[: 4 + len(typed)] == ids(before.base.tokens[:4]) + typed
        assert result.base.forced == 4 + len(typed)
        assert ids(result.aligned.tokens) == ids(before.aligned.tokens)


@pytest.mark.parametrize("monochrome", [False, True])
async def test_the_forced_token_is_drawn_marked_and_the_forced_prefix_dim(make_app, monochrome):
    app = make_app(params=PARAMS, monochrome=monochrome)
    async with app.run_test(size=SIZE) as pilot:
        await run_query(pilot)
        await fork_with(pilot, "base", 6, "aligned", 2)
        pane = app.pane("base")
        assert pane.forced == 7
        chosen = pane_segments(pane, 6)
        assert FORK_MARK in "".join(s.text for s in chosen)
        assert all(s.style.underline for s in chosen if s.text.strip())
        if not monochrome:  # a background of its own, unlike the tokens around it
            assert chosen[-1].style.bgcolor is not None
            assert pane_segments(pane, 7)[-1].style.bgcolor != chosen[-1].style.bgcolor
        for i in range(6):  # the forced prefix, copied from the parent
            assert all(s.style.dim for s in pane_segments(pane, i)), i
        for i in range(7, len(pane.tokens)):  # generated: neither dim nor marked
            segs = pane_segments(pane, i)
            assert not any(s.style.dim for s in segs) and FORK_MARK not in "".join(s.text for s in segs), i
        assert pane.text == app.result.base.text  # the mark is drawn, not part of the answer


async def test_esc_cancels_a_running_fork_then_goes_back_and_the_palette_has_both_commands(make_app, demo_query):
    from textual import events

    from alignterm.tui.commands import app_commands

    app = make_app()  # 96 tokens: the fork runs long enough to be cancelled
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")  # in the query box: types (over the selected query), forks nothing
        assert app.query_input.value == "f" and not isinstance(app.screen, ForkScreen)
        commands = {title: callback for title, _, callback in app_commands(app)}
        commands["Fork at the cursor token"]()
        await pilot.pause()
        assert "No run yet" in [n.message for n in app._notifications][-1]
        await run_query(pilot, demo_query)
        first = app.result
        await open_fork(pilot, "base", 2)
        app.post_message(events.Key("enter", "\r"))  # Pilot.press would wait for the run's end
        await wait_until(pilot, lambda: app.result is None and len(app.pane("base").tokens) > 4, settle=False)
        app.post_message(events.Key("escape", None))
        await wait_until(pilot, lambda: app.result is not None and not app.running)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.result is not first and app.result.cancelled and app.result.base.forced == 3
        assert "fork 1 at token 2" in app.pane("base").border_subtitle
        commands["Back to the run this fork came from"]()
        await pilot.pause()
        assert app.result is first and not app.compare.forks.parents
