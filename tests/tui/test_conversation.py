"""Conversations in the app (tui/conversation.py, issue #21) on the demo pair: ctrl+j asks the query box's
query as the next turn, which is the engine's own second turn (engine/conversation.converse); the status
line says the turn, autosave keeps the history, ctrl+l and Enter start a new conversation."""

from __future__ import annotations

import pytest

from alignterm.engine.conversation import converse
from alignterm.engine.events import SIDES
from alignterm.engine.prompts import load_urial
from alignterm.sessions import SessionStore, load_session
from alignterm.tui.screens.prompts import PromptsScreen

from .conftest import PARAMS, run_query, wait_until
from .test_prompt_view import rendered, shown_ids


@pytest.fixture(scope="module")
def engine_turns(comparator, queries):
    """The engine's own two-turn conversation over the first two demo queries (as `analyze` runs a
    "turns" line), with the app's prompt and parameters."""
    with comparator.lock:
        return list(converse(comparator, queries[:2], load_urial("default"), PARAMS))


def status(app) -> str:
    return str(app.compare.status_line.render())


def measures(tokens) -> list[tuple]:
    return [(t.id, t.text, t.other_rank, t.shift) for t in tokens]


def assert_same_turn(got, expected) -> None:
    """The app's turn is the engine's: same prompts, same answers, same measures (live scoring in the
    app, one pass in `converse`: ranks equal, log-probabilities to float noise, as tests/engine's)."""
    assert got.query == expected.query and got.history == expected.history
    for side in SIDES:
        mine, theirs = got.side(side), expected.side(side)
        assert mine.prompt_ids == theirs.prompt_ids, side
        assert mine.text == theirs.text and mine.finish_reason == theirs.finish_reason, side
        assert measures(mine.tokens) == measures(theirs.tokens), side
        assert max((abs(a.other_logprob - b.other_logprob) for a, b in zip(mine.tokens, theirs.tokens)),
                   default=0.0) < 1e-4
    assert got.bare_prompt_ids == expected.bare_prompt_ids
    assert measures(got.aligned_bare) == measures(expected.aligned_bare)
    assert got.summary.closure == pytest.approx(expected.summary.closure)


async def follow_up(pilot, query: str) -> None:
    """Type `query` in the query box, press ctrl+j and wait for the run (and its autosave) to end."""
    app = pilot.app
    before = app.result
    app.query_input.value = query
    app.query_input.focus()
    await pilot.press("ctrl+j")
    await wait_until(pilot, lambda: app.result is not None and app.result is not before and not app.running)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_follow_up_is_the_engines_second_turn_and_ctrl_l_starts_anew(make_app, comparator, queries,
                                                                              engine_turns, tmp_path):
    store = SessionStore(tmp_path)
    app = make_app(query=queries[0], session_store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        first = app.result
        assert first.history == () and status(app) == "done"  # a single comparison says no turn
        assert_same_turn(first, engine_turns[0])

        await follow_up(pilot, queries[1])
        second = app.result
        # one shared history: the first query and the aligned model's answer to it
        assert second.history == ((queries[0], first.aligned.text),)
        assert_same_turn(second, engine_turns[1])
        assert status(app) == "turn 2 · done"

        # autosave kept both turns, the second with its history
        entries = store.entries()
        assert sorted(e.turn for e in entries) == [1, 2]
        assert load_session(next(e.path for e in entries if e.turn == 2)).result == second

        # the prompt view (ctrl+f) shows turn 2's prompts, which hold turn 1
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptsScreen))
        text = rendered(app.screen)
        assert shown_ids(text) == {"aligned": second.aligned.prompt_ids, "base": second.base.prompt_ids,
                                   "bare": second.bare_prompt_ids}
        assert text.count(queries[0]) >= 3  # turn 1's query in the aligned, URIAL and bare prompts
        await pilot.press("escape")

        # ctrl+l clears the conversation: Enter then runs a fresh first turn
        await pilot.press("ctrl+l")
        assert app.result is None and status(app) == "ready"
        await run_query(pilot, queries[1])
        fresh = app.result
        assert fresh.history == () and status(app) == "done"
        urial = load_urial("default")
        assert (fresh.aligned.prompt_ids, fresh.base.prompt_ids) == tuple(comparator.prompts(queries[1], urial))


async def test_enter_after_a_turn_starts_a_new_conversation_and_ctrl_b_keeps_the_turn(make_app, queries, engine_turns):
    app = make_app(query=queries[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await run_query(pilot)
        await follow_up(pilot, queries[1])
        second = app.result
        # ctrl+b re-runs the base model in the same turn: the kept aligned answer, the same history
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: app.result is not second and app.result is not None and not app.running)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.result.history == second.history and status(app) == "turn 2 · done"
        assert app.result.base.prompt_ids == engine_turns[1].base.prompt_ids
        # Enter is a fresh comparison, whatever is on screen
        await run_query(pilot, queries[2])
        assert app.result.history == () and status(app) == "done"


async def test_a_follow_up_with_nothing_to_follow_says_why(make_app, queries):
    app = make_app(query=queries[0])
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_input.focus()
        await pilot.press("ctrl+j")
        await pilot.pause()
        assert app.result is None and not app.running
        assert any("No answer to follow up yet" in str(n.message) for n in app._notifications)


async def test_an_opened_turn_is_followed_up_where_it_stopped(make_app, demo_specs, queries, engine_turns, tmp_path):
    """A session of turn 2 opens saying so; a follow-up from it is turn 3, after both earlier turns."""
    from alignterm.sessions import Session

    second = engine_turns[1]
    app = make_app(session=Session.now(second, *demo_specs, "default"), query="")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.result == second and status(app) == "turn 2 · done"
        assert any("It is turn 2: ctrl+b re-runs it after its turns" in str(n.message) for n in app._notifications)
        await follow_up(pilot, queries[2])
        assert app.result.history == (*second.history, (second.query, second.aligned.text))
        assert status(app) == "turn 3 · done"
        # the nudged answer reads the query alone (the engine's Nudger takes no history): said so
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: any("not in its prompts" in str(n.message) for n in app._notifications))
        assert any("The nudged answer runs the query on its own, as a first turn: the 2 earlier turns of this "
                   "conversation are not in its prompts." == str(n.message) for n in app._notifications)
        await app.workers.wait_for_complete()
