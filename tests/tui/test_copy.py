"""Copy over SSH: y / Y in a pane and the palette's "Copy …" commands write an OSC 52 escape whose
payload is the base64 of what was copied (Textual's App.copy_to_clipboard), and a notice says what;
model text holding escapes cannot end the escape early or reach a terminal raw when pasted."""

from __future__ import annotations

import base64
import re

from alignterm.display import visible
from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.tui.app import AlignTermApp

from ..reliability.models import HOSTILE, RAW_CONTROLS, SHOWN
from .conftest import run_query

OSC52 = re.compile(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07")


def clipboard_writes(app) -> list[str]:
    """Everything the app writes to its terminal from now on that starts an OSC 52 escape."""
    writes: list[str] = []
    write = app._driver.write

    def recording(data: str) -> None:
        if "\x1b]52;" in data:
            writes.append(data)
        write(data)

    app._driver.write = recording
    return writes


def copied(writes: list[str]) -> str:
    """The text of the last OSC 52 write, which must be the escape alone with a base64 payload."""
    match = OSC52.fullmatch(writes[-1])
    assert match, repr(writes[-1])
    return base64.b64decode(match.group(1), validate=True).decode("utf-8")


def last_notice(app) -> str:
    return [n.message for n in app._notifications][-1]


async def test_y_copies_the_focused_answer_and_Y_the_token_with_its_measures(make_app):
    app = make_app(params=DecodingParams(max_new_tokens=24))
    async with app.run_test(size=(100, 30)) as pilot:
        writes = clipboard_writes(app)
        await run_query(pilot)
        pane = app.pane("base")
        pane.focus()
        await pilot.press("y")
        assert copied(writes) == app.result.base.text
        assert last_notice(app).startswith("Copied the Base + URIAL (default) answer")
        await pilot.press("right", "Y")
        token = pane.cursor_token
        line = copied(writes)
        assert f"base #{token.position} “{token.text}” (id {token.id})" in line
        assert f"{token.shift} · rank {token.other_rank} under aligned" in line
        assert f"logprob base {token.logprob:.3f}" in line and f"KL(aligned‖base) {token.kl:.3f}" in line
        assert last_notice(app).startswith("Copied the token")


async def test_the_comparison_copies_as_markdown(make_app):
    app = make_app(params=DecodingParams(max_new_tokens=24))
    async with app.run_test(size=(100, 30)) as pilot:
        writes = clipboard_writes(app)
        app.action_copy("markdown")
        await pilot.pause()  # the notice is a message
        assert writes == [] and last_notice(app).startswith("Nothing to copy")
        await run_query(pilot)
        app.action_copy("markdown")
        await pilot.pause()
        text, result = copied(writes), app.result
        assert f"**Query:** {result.query}" in text and "prompt: URIAL (default)" in text
        assert result.base.text in text and result.aligned.text in text
        assert f"In-context closure: {result.summary.closure:.2f}" in text
        assert f"| {result.summary.base.n} | " in text  # the summary table's token counts
        assert last_notice(app).startswith("Copied the comparison as Markdown")


async def test_hostile_model_text_stays_inside_the_escape_and_is_copied_escaped(hostile_dir):
    spec = ModelSpec(str(hostile_dir), device="cpu")
    app = AlignTermApp(spec, spec, "none", DecodingParams(max_new_tokens=16), "Say hello.", monochrome=False)
    async with app.run_test(size=(100, 30)) as pilot:
        writes = clipboard_writes(app)
        await run_query(pilot)
        assert [t.text for t in app.result.aligned.tokens][: len(HOSTILE)] == HOSTILE
        app.pane("aligned").focus()
        await pilot.press("y")
        await pilot.press("right", "Y")
        app.action_copy("markdown")
        assert len(writes) == 3
        texts = [copied([w]) for w in writes]  # each write is one escape, its payload base64 only
        assert texts[0] == visible(app.result.aligned.text)
        for text in texts:
            assert not any(c in text for c in RAW_CONTROLS), text
        assert all(shown in texts[0] and shown in texts[2] for shown in SHOWN)
        assert SHOWN[1] in texts[1]  # the token under the cursor: the OSC 52 one
