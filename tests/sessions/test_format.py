"""Session files: exact round trips, the previous format, broken and hostile files."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
import yaml

from alignterm.sessions import FORMAT_VERSION, Session, SessionError, SessionStore, dumps, load_session, loads
from alignterm.sessions.store import save_session

DATA = Path(__file__).parent / "data"

# token texts that YAML, terminals or editors like to change: whitespace, escapes, unicode,
# words YAML 1.1 reads as booleans or numbers, and its own syntax
AWKWARD = [" ", "  ", "\n", "\n\n", "\t", " lead", "trail ", "\r\n", "é", "日本語", "🙂", "\u200b", "\u00a0",
           "\x1b[31m", "\x07", "\u202e", "\u2028", "\ufeff", "\ufffd", "", "yes", "No", "null", "~", "0x1F",
           "1e3", "- item", "# not a comment", "key: value", "'", '"', "\\", "|", ">", "{", "[", "*", "&a", "!tag",
           "%", "@", "`", "</span>", "<script>alert(1)</script>", "&amp;", "]]>", "<!--"]


def awkward(session: Session) -> Session:
    """The demo session with every token text (own and top-k) replaced by an awkward one."""
    texts = iter(AWKWARD * 1000)

    def tokens(events):
        return [dataclasses.replace(t, text=next(texts),
                                    top=tuple(dataclasses.replace(e, text=next(texts)) for e in t.top))
                for t in events]

    r = session.result
    result = dataclasses.replace(
        r,
        query="  two\n\nlines, trailing space \n",
        urial="\n  indented first line\n# Query:\n```\ntrailing  \n```\n\n",
        aligned=dataclasses.replace(r.aligned, tokens=tokens(r.aligned.tokens), text="a\r\nb\t\x1b[0m "),
        base=dataclasses.replace(r.base, tokens=tokens(r.base.tokens)),
        aligned_bare=tokens(r.aligned_bare),
    )
    return dataclasses.replace(session, result=result)


def test_a_saved_session_loads_back_identical(demo_session, tmp_path):
    path = SessionStore(tmp_path).save(demo_session)
    loaded = load_session(path)
    assert loaded.result == demo_session.result  # every token, measure, top-k entry, summary and closure
    assert (loaded.base, loaded.aligned) == (demo_session.base, demo_session.aligned)
    assert (loaded.urial_label, loaded.created, loaded.path) == ("default", demo_session.created, path)
    assert loaded.result.summary.closure == demo_session.result.summary.closure


def test_unicode_and_whitespace_survive_the_round_trip(demo_session):
    session = awkward(demo_session)
    assert loads(dumps(session)).result == session.result


def test_the_file_is_readable_and_diffs_token_by_token(demo_session):
    text = dumps(demo_session)
    lines = text.split("\n")
    tokens = demo_session.result.aligned.tokens
    first = lines.index("  tokens:") + 1
    # one line per token, in the shape of analyze's JSON (architecture §3)
    for line, token in zip(lines[first:first + len(tokens)], tokens):
        assert line.startswith(f"  - {{id: {token.id}, ") and "other_rank:" in line
    assert "    # Instruction" in lines  # the URIAL prompt as a literal block
    assert yaml.safe_load(text)["alignterm_session"] == FORMAT_VERSION


def test_a_session_from_format_1_still_opens():
    session = load_session(DATA / "session-v1.yaml")
    raw = yaml.safe_load((DATA / "session-v1.yaml").read_text())
    assert raw["alignterm_session"] == 1
    result = session.result
    assert result.query == raw["query"] and result.urial == raw["urial_text"]
    assert session.base.spec == raw["base_model"] and session.aligned.spec == raw["aligned_model"]
    assert session.urial_label == "default"
    for side in ("aligned", "base"):
        assert [t.id for t in result.side(side).tokens] == [t["id"] for t in raw[side]["tokens"]]
        assert [t.shift for t in result.side(side).tokens] == [t["shift"] for t in raw[side]["tokens"]]
        assert [e.text for e in result.side(side).tokens[0].top] == [e["text"] for e in raw[side]["tokens"][0]["top"]]
    assert result.summary.aligned_bare.shifted == raw["summary"]["aligned_bare"]["shifted"]
    assert result.summary.closure == raw["summary"]["closure"]
    # and it saves in the current format, which reads back the same
    assert loads(dumps(session)).result == result


def test_a_session_from_format_2_still_opens_as_one_turn_with_nothing_forced():
    session = load_session(DATA / "session-v2.yaml")
    raw = yaml.safe_load((DATA / "session-v2.yaml").read_text())
    assert raw["alignterm_session"] == 2 and "history" not in raw and "forced" not in raw["aligned"]
    result = session.result
    assert result.query == raw["query"] and result.urial == raw["urial"]["text"]
    assert result.history == () and result.aligned.forced == result.base.forced == 0
    for side in ("aligned", "base"):
        assert [t.id for t in result.side(side).tokens] == [t["id"] for t in raw[side]["tokens"]]
    assert [t.shift for t in result.aligned_bare] == [t["shift"] for t in raw["aligned_bare"]]
    assert result.summary.closure == raw["summary"]["closure"]
    assert loads(dumps(session)).result == result
    assert [e.turn for e in SessionStore(DATA).entries()] == [1, 1]  # formats 1 and 2: one turn each


@pytest.fixture(scope="module")
def third_turn(comparator, demo_specs, queries):
    """Turn 3 of a real conversation on the demo pair, both answers forked (their first tokens forced)."""
    from alignterm.engine.compare import ComparisonRequest
    from alignterm.engine.conversation import converse
    from alignterm.engine.prompts import load_urial
    from alignterm.engine.values import DecodingParams

    urial, params = load_urial("default"), DecodingParams(max_new_tokens=16)
    first, second = converse(comparator, queries[:2], urial, params)
    history = (*second.history, (second.query, second.aligned.text))
    force = {"aligned": tuple(t.id for t in second.aligned.tokens[:2]), "base": (first.base.tokens[0].id,)}
    result = comparator.compare(ComparisonRequest(queries[2], urial, params, history=history, force=force))
    return Session.now(result, *demo_specs, "default")


def test_a_conversations_turn_with_forced_tokens_loads_back_identical(third_turn, tmp_path):
    result = third_turn.result
    assert len(result.history) == 2 and (result.aligned.forced, result.base.forced) == (2, 1)
    store = SessionStore(tmp_path)
    path = store.save(third_turn)
    loaded = load_session(path)
    assert loaded.result == result  # the history and the forced counts too (both take part in equality)
    assert loaded.result.history == result.history and loaded.result.aligned.forced == 2
    raw = yaml.safe_load(path.read_text())
    assert raw["history"] == [{"user": u, "assistant": a} for u, a in result.history]
    assert (raw["aligned"]["forced"], raw["base"]["forced"]) == (2, 1)
    [entry] = store.entries()
    assert entry.turn == 3 and entry.query == result.query  # the browser's list reads the header only


def test_the_session_browser_says_a_conversations_turn(tmp_path):
    from alignterm.sessions import StoredSession
    from alignterm.tui.screens.sessions import _label

    entry = StoredSession(tmp_path / "x.yaml", "And then?", "2026-12-01T10:00:00+00:00", 0.25, prompt="default")
    assert "turn" not in _label(entry)
    assert _label(dataclasses.replace(entry, turn=3)).endswith("turn 3 · And then?")


def test_a_newer_format_is_refused_with_a_clear_message(demo_session, tmp_path):
    path = tmp_path / "new.yaml"
    path.write_text(dumps(demo_session).replace(f"alignterm_session: {FORMAT_VERSION}", "alignterm_session: 99"))
    with pytest.raises(SessionError, match="newer alignterm"):
        load_session(path)


def assert_refused_and_untouched(path: Path, match: str | None) -> str:
    before = path.read_bytes()
    with pytest.raises(SessionError, match=match) as info:
        load_session(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and "Traceback" not in message
    assert path.read_bytes() == before
    return message


def test_a_truncated_session_is_refused_and_left_untouched(demo_session, tmp_path):
    text = dumps(demo_session)
    rng = random.Random(0)
    start = text.index("\nsummary:")  # cut anywhere from the summary on (before it, keys are missing)
    cuts = [rng.randrange(start, len(text) - 1) for _ in range(12)] + [text.index("\nbase:") + 1, len(text) - 3]
    for cut in cuts:
        path = tmp_path / f"cut-{cut}.yaml"
        path.write_text(text[:cut], encoding="utf-8")
        assert_refused_and_untouched(path, None)


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("shift: unshifted", "shift: sideways", 1), "sideways"),
    (lambda t: t.replace("\nquery:", "\nquestion:", 1), "missing 'query'"),
    (lambda t: t.replace("models:\n  base:", "models:\n base:", 1), "line"),
    (lambda t: t.replace("{id: ", "{id: [", 1), "line"),
    (lambda t: "just some text\n", "not an alignterm session"),
    (lambda t: t.replace(f"alignterm_session: {FORMAT_VERSION}", "alignterm_session: two"), "format version"),
    (lambda t: t.replace("  forced: 0\n", "  forced: 999\n", 1), "cannot be forced"),
])
def test_a_hand_broken_session_gives_one_clear_line(demo_session, tmp_path, edit, match):
    path = tmp_path / "broken.yaml"
    path.write_text(edit(dumps(demo_session)), encoding="utf-8")
    assert_refused_and_untouched(path, match)


def test_yaml_tags_that_build_python_objects_are_refused(demo_session, tmp_path):
    marker = tmp_path / "ran"
    hostile = (f"query: !!python/object/apply:os.system ['touch {marker}']\n")
    path = tmp_path / "hostile.yaml"
    path.write_text(dumps(demo_session).replace(f"query: {demo_session.result.query}\n", hostile), encoding="utf-8")
    message = assert_refused_and_untouched(path, "refused a YAML tag")
    assert "python/object" in message and "line " in message
    assert not marker.exists()


def test_the_store_lists_newest_first_searches_and_deletes(demo_session, tmp_path):
    store = SessionStore(tmp_path / "sessions")
    older = dataclasses.replace(demo_session, created="2026-01-01T10:00:00+00:00")
    newer = dataclasses.replace(demo_session, created="2026-02-01T10:00:00+00:00",
                                result=dataclasses.replace(demo_session.result, query="Another question?"))
    old_path, new_path = store.save(older), store.save(newer)
    assert store.save(older) != old_path  # same time and query: a new name, never an overwrite
    (store.root / ".half-written.yaml.tmp").write_text("alignterm_session: 2\nquery: x")  # a crash's leftover
    (store.root / "broken.yaml").write_text("query: [unclosed\n")
    entries = store.entries()
    assert entries[0].path == new_path and entries[-1].path.name == "broken.yaml"  # newest first
    assert {e.path.name for e in entries} == {old_path.name, new_path.name, f"{old_path.stem}-2.yaml", "broken.yaml"}
    broken = next(e for e in entries if e.path.name == "broken.yaml")
    assert "line" in broken.error
    assert [e.path for e in store.entries("another")] == [new_path]
    assert entries[0].shifted == newer.result.summary.aligned.share("shifted")
    store.delete(new_path)
    assert not new_path.exists() and store.entries("another") == []


def test_save_as_replaces_a_file_atomically_and_keeps_the_path(demo_session, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("old")
    session = dataclasses.replace(demo_session)
    save_session(session, path)
    assert session.path == path and load_session(path).result == demo_session.result
    assert [p.name for p in tmp_path.iterdir()] == ["mine.yaml"]
