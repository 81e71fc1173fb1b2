"""The session file: one comparison as versioned YAML that replays without a model (architecture §4).

A session holds what the app showed (both answers, every token with its measures and the
top-k of both models) and what it takes to run it again (the model specs, the URIAL text,
the decoding parameters). Tokens are written one per line in YAML flow style, so two
sessions diff token by token. Token mappings are the JSON shape of `analyze` (architecture §3).

Files are read with the safe loader only: a tag such as `!!python/object` is refused.
The summary is read back as written, after checking that it counts what the tokens hold,
so a file cut short or half edited is refused rather than replayed wrong. The base answer
comes last: a file cut anywhere lacks it or some of its tokens.

Format history (each step has a migration in MIGRATIONS):
  1  the `analyze` record (architecture §3) plus `alignterm_session`, `created` and `urial_text`;
     models were only spec strings (`base_model`, `aligned_model`).
  2  full model specs (backend, device, dtype, ...), `urial: {name, text}`, tokens/s per
     side, the aligned answer's tokens under the bare prompt, `cancelled`, `saved`.
  3  `history` (a conversation's earlier turns, `{user, assistant}` each, before its query) and
     each side's `forced` (how many of its first tokens were forced: a fork).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from ..engine.errors import BadInput
from ..engine.events import CATEGORIES, ComparisonResult, SideResult, SideSummary, Summary, TokenEvent, TopEntry
from ..engine.shift import BUCKET_SIZE
from ..engine.sources import existing_path, looks_like_hub_id
from ..engine.values import DecodingParams, ModelSpec
from ..formats.record import result_record, summary_record, token_record

FORMAT_VERSION = 3
VERSION_KEY = "alignterm_session"
# every top-k entry a token holds is written (token_record slices its lists to this)
_ALL = 1 << 30

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SessionError(BadInput):
    """A session file that cannot be read: one line naming the file (and line, where known)."""


@dataclass
class Session:
    """A comparison and what is needed to run it again."""

    result: ComparisonResult
    base: ModelSpec
    aligned: ModelSpec
    urial_label: str  # bundled prompt name, prompt file path, or "none" (bare prompt)
    created: str  # ISO 8601, UTC, when the run finished
    path: Path | None = None  # where it was read from or last saved to

    @classmethod
    def now(cls, result: ComparisonResult, base: ModelSpec, aligned: ModelSpec, urial_label: str) -> Session:
        return cls(result, base, aligned, urial_label, timestamp())

    def missing_models(self) -> list[str]:
        """The recorded models that are certainly not on this machine (a local path that is gone)."""
        return [spec.spec for spec in (self.base, self.aligned) if not _may_exist(spec.spec)]


def _may_exist(spec: str) -> bool:
    """False for a path that does not exist; a URL or a hub id may still load (loading will tell)."""
    return "://" in spec or existing_path(spec) is not None or looks_like_hub_id(spec)


def timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---- writing -------------------------------------------------------------------------


class _OneLine(dict):
    """A mapping written on one line (a token)."""


class _Block(str):
    """A multi-line string written as a literal block (the URIAL prompt, the answers)."""


def _has_format_chars(text: str) -> bool:
    """Zero-width and bidi controls (Unicode category Cf): raw in a file, `cat` would hide or
    reorder the text around them."""
    return any(unicodedata.category(c) == "Cf" for c in text)


class _Dumper(yaml.SafeDumper):
    def write_double_quoted(self, text: str, split: bool = True) -> None:
        """Non-ASCII is written raw except in a string holding format characters: that one is
        written all in escapes (`\u202e`), so no file shows a model's bidi override raw."""
        keep = self.allow_unicode
        self.allow_unicode = keep and not _has_format_chars(text)
        try:
            super().write_double_quoted(text, split)
        finally:
            self.allow_unicode = keep


_Dumper.add_representer(_OneLine, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
# a string with a line break outside a literal block is double-quoted, where "\n" stays an
# escape on its line (single quotes would fold it onto the next line); one with format
# characters too, where they become escapes
_Dumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v,
    style='"' if any(c in v for c in "\n\r\x85\u2028\u2029") or _has_format_chars(v) else None))
# lists of plain values (prompt ids, position buckets) on one line
_Dumper.add_representer(list, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=not any(isinstance(x, (list, dict)) for x in v)))
# the emitter falls back to a quoted string where a literal block cannot hold the text exactly
_Dumper.add_representer(_Block, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style='"' if _has_format_chars(v) else "|"))


def _text(value: str | None) -> str | None:
    return _Block(value) if value is not None and "\n" in value else value


def _tokens(tokens: list[TokenEvent]) -> list[_OneLine]:
    return [_OneLine(token_record(t, _ALL)) for t in tokens]


def _side(side: SideResult) -> dict[str, Any]:
    return {
        "prompt_ids": list(side.prompt_ids),
        "text": _text(side.text),
        "finish_reason": side.finish_reason,
        "tokens_per_s": side.tokens_per_s,
        "forced": side.forced,
        "tokens": _tokens(side.tokens),
    }


def _spec(spec: ModelSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def session_document(session: Session) -> dict[str, Any]:
    """The session as the plain data written to its file (keys in reading order)."""
    r = session.result
    summary: dict[str, Any] = {"aligned": summary_record(r.summary.aligned), "base": summary_record(r.summary.base)}
    if r.summary.aligned_bare is not None:
        summary["aligned_bare"] = summary_record(r.summary.aligned_bare)
        summary["closure"] = r.summary.closure
    return {
        VERSION_KEY: FORMAT_VERSION,
        "created": session.created,
        "saved": timestamp(),
        "query": _text(r.query),
        # before the summary: the store lists a file from its header (the turn is len(history) + 1)
        "history": [{"user": _text(user), "assistant": _text(answer)} for user, answer in r.history],
        "models": {"base": _spec(session.base), "aligned": _spec(session.aligned)},
        "urial": {"name": session.urial_label, "text": _text(r.urial)},
        "params": dataclasses.asdict(r.params),
        "cancelled": r.cancelled,
        "summary": summary,
        "aligned": _side(r.aligned),
        "aligned_bare": None if r.aligned_bare is None else _tokens(r.aligned_bare),
        "base": _side(r.base),  # last, and required: a file cut short anywhere is refused
    }


def dumps(session: Session) -> str:
    """The session file's text."""
    header = "# alignterm session: opens with `alignterm --session FILE`\n"
    return header + yaml.dump(
        session_document(session), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30
    )


def session_record(session: Session) -> dict[str, Any]:
    """The session as an `analyze` record (architecture §3) with every top-k entry, for the HTML page."""
    return result_record(session.result, base_model=session.base.spec, aligned_model=session.aligned.spec,
                         urial=session.urial_label, top_k=_ALL)


# ---- reading -------------------------------------------------------------------------


def _refusal(source: str, err: yaml.YAMLError) -> SessionError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"{source} line {mark.line + 1}" if mark is not None else source
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if isinstance(err, yaml.constructor.ConstructorError) and "tag" in problem:
        return SessionError(f"{where}: refused a YAML tag that would run code ({problem.split('tag ')[-1]}); "
                            "session files are plain YAML")
    return SessionError(f"{where}: not valid YAML ({problem}); the file was left as it is")


def parse(text: str, source: str) -> dict[str, Any]:
    """The YAML document of a session file, safe-loaded; SessionError names the line when it fails."""
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        raise _refusal(source, err) from None
    if not isinstance(doc, dict) or VERSION_KEY not in doc:
        raise SessionError(f"{source}: not an alignterm session (no '{VERSION_KEY}' key)")
    return doc


def _from_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the `analyze` record's model strings and the URIAL name beside its text."""
    doc = dict(doc)
    doc["models"] = {"base": {"spec": doc.pop("base_model")}, "aligned": {"spec": doc.pop("aligned_model")}}
    doc["urial"] = {"name": doc.get("urial") or "none", "text": doc.pop("urial_text", None)}
    doc.setdefault("aligned_bare", None)
    return doc


def _from_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 2 saved single comparisons only: no history, and nothing forced."""
    doc = dict(doc)
    doc.setdefault("history", [])
    for side in ("aligned", "base"):
        if isinstance(doc.get(side), dict):
            doc[side] = {**doc[side], "forced": doc[side].get("forced", 0)}
    return doc


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_v1, 2: _from_v2}


def migrate(doc: dict[str, Any], source: str) -> dict[str, Any]:
    """`doc` brought up to FORMAT_VERSION, one version at a time."""
    version = doc.get(VERSION_KEY)
    if not isinstance(version, int) or version < 1:
        raise SessionError(f"{source}: '{VERSION_KEY}' must be a format version number (got {version!r})")
    if version > FORMAT_VERSION:
        raise SessionError(f"{source}: made by a newer alignterm (format {version}; this one reads up to "
                           f"{FORMAT_VERSION}): upgrade alignterm to open it")
    while version < FORMAT_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc


def _top(entries: list[dict[str, Any]] | None) -> tuple[TopEntry, ...]:
    return tuple(TopEntry(int(e["id"]), str(e["text"]), float(e["logprob"])) for e in entries or ())


def _optional(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def _token(side: str, position: int, t: dict[str, Any]) -> TokenEvent:
    if t["shift"] is not None and t["shift"] not in CATEGORIES:
        raise ValueError(f"unknown shift category {t['shift']!r}")
    return TokenEvent(
        side=side,  # type: ignore[arg-type]
        position=position,
        id=int(t["id"]),
        text=str(t["text"]),
        logprob=float(t["logprob"]),
        other_logprob=_optional(t["other_logprob"], float),  # None: the other model could not score it
        other_rank=_optional(t["other_rank"], int),
        shift=t["shift"],
        kl=_optional(t["kl"], float),
        top=_top(t.get("top")),
        other_top=_top(t.get("other_top")),
        rank_exact=bool(t.get("other_rank_exact", True)),
    )


def _side_result(side: str, d: dict[str, Any]) -> SideResult:
    tokens = [_token(side, i, t) for i, t in enumerate(d["tokens"] or ())]
    forced = int(d["forced"])
    if not 0 <= forced <= len(tokens):
        raise ValueError(f"the {side} answer has {len(tokens)} tokens, so {forced} of them cannot be forced")
    return SideResult(
        prompt_ids=[int(i) for i in d["prompt_ids"]],
        tokens=tokens,
        text=str(d.get("text") or ""),
        finish_reason=str(d.get("finish_reason") or ""),
        tokens_per_s=float(d.get("tokens_per_s") or 0.0),
        forced=forced,
    )


def _history(turns: list[dict[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    """A conversation's earlier turns, each {user, assistant}."""
    return tuple((str(turn["user"]), str(turn["assistant"])) for turn in turns or ())


def _model(d: dict[str, Any]) -> ModelSpec:
    known = {f.name for f in dataclasses.fields(ModelSpec)}
    return ModelSpec(**{k: v for k, v in d.items() if k in known})


def _side_summary(d: dict[str, Any]) -> SideSummary:
    by_position = d.get("shifted_by_position") or {}
    return SideSummary(
        n=int(d["n"]),
        unshifted=int(d["unshifted"]),
        marginal=int(d["marginal"]),
        shifted=int(d["shifted"]),
        bucket_size=int(by_position.get("bucket_size", BUCKET_SIZE)),
        shifted_by_bucket=tuple(int(k) for k in by_position.get("shifted") or ()),
        tokens_by_bucket=tuple(int(k) for k in by_position.get("tokens") or ()),
        top_shifted=tuple((str(text), int(k)) for text, k in d.get("top_shifted") or ()),
        mean_kl=_optional(d.get("mean_kl"), float),
        unscored=int(d.get("unscored") or 0),
    )


def _summary(written: dict[str, Any], tokens: dict[str, list[TokenEvent] | None], source: str) -> Summary:
    """The file's summary, which must count what its tokens hold: a cut or half-edited file fails here."""
    for key, side_tokens in tokens.items():
        if side_tokens is None:
            continue  # format 1 kept no tokens for the bare-prompt scoring, only its counts
        stored = written.get(key)
        counts = Counter(t.shift for t in side_tokens)
        if not isinstance(stored, dict) or stored.get("n") != len(side_tokens) or any(
            stored.get(c) != counts[c] for c in CATEGORIES
        ) or stored.get("unscored", 0) != counts[None]:
            raise SessionError(f"{source}: its {key} tokens do not match its summary "
                               "(the file is cut short or was edited); the file was left as it is")
    bare = written.get("aligned_bare")
    closure = written.get("closure")
    return Summary(
        aligned=_side_summary(written["aligned"]),
        base=_side_summary(written["base"]),
        aligned_bare=None if bare is None else _side_summary(bare),
        closure=None if closure is None else float(closure),
    )


def session_from_document(doc: dict[str, Any], source: str) -> Session:
    """A Session from a parsed document of any known version; SessionError for a broken one."""
    try:
        doc = migrate(doc, source)
        aligned = _side_result("aligned", doc["aligned"])
        base = _side_result("base", doc["base"])
        bare_doc = doc.get("aligned_bare")
        bare = None if bare_doc is None else [_token("aligned", i, t) for i, t in enumerate(bare_doc)]
        summary = _summary(doc["summary"], {"aligned": aligned.tokens, "base": base.tokens, "aligned_bare": bare},
                           source)
        result = ComparisonResult(
            query=str(doc["query"]),
            urial=doc["urial"]["text"],
            params=DecodingParams(**doc["params"]),
            aligned=aligned,
            base=base,
            summary=summary,
            aligned_bare=bare,
            cancelled=bool(doc.get("cancelled", False)),
            history=_history(doc["history"]),
        )
        return Session(result, _model(doc["models"]["base"]), _model(doc["models"]["aligned"]),
                       str(doc["urial"]["name"]), str(doc.get("created") or ""))
    except KeyError as err:
        raise SessionError(f"{source}: not a complete alignterm session (missing {err.args[0]!r})") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise SessionError(f"{source}: not a valid alignterm session ({err})") from None


def loads(text: str, source: str = "session") -> Session:
    return session_from_document(parse(text, source), source)


def load_session(path: str | Path) -> Session:
    """Read a session file (never writes to it); SessionError with one clear line if it cannot."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionError(f"session file {path} does not exist") from None
    except IsADirectoryError:
        raise SessionError(f"{path} is a folder, not a session file") from None
    except OSError as err:
        raise SessionError(f"cannot read session file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise SessionError(f"{path}: not a session file (not UTF-8 text)") from None
    session = loads(text, str(path))
    session.path = path
    return session
