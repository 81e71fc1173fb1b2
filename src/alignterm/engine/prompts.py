"""Prompts: URIAL files, the bare TDS prompt, the aligned model's chat template, stop strings.

The URIAL format is the one of the URIAL repository's `urial_prompts/` files (architecture §1):
a `# Instruction` preamble, then fenced `# Query:` / `# Answer:` examples; a new query is
appended as QUERY_BLOCK, the base model answers inside the open fence, and generation
stops at STOP_STRINGS with the closing fence stripped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from .errors import BadInput

QUERY_BLOCK = "\n# Query:\n```\n{query}\n```\n\n# Answer:\n```\n"
STOP_STRINGS = ("# Query", "# User")
FENCE = "```"
NONE = "none"


def _urial_dir() -> Path:
    return Path(str(resources.files("alignterm.engine") / "urial"))


def bundled_urial_names() -> list[str]:
    """Names accepted by --urial besides a path: the bundled prompts, then `none`."""
    return sorted(p.stem for p in _urial_dir().glob("*.txt")) + [NONE]


def load_urial(name_or_path: str) -> str | None:
    """The text of a URIAL prompt by bundled name or file path; None for `none` (bare prompt)."""
    if name_or_path == NONE:
        return None
    bundled = _urial_dir() / f"{name_or_path}.txt"
    path = bundled if bundled.is_file() else Path(name_or_path).expanduser()
    if not path.is_file():
        names = ", ".join(bundled_urial_names())
        raise BadInput(f"URIAL prompt {name_or_path!r} not found: give a file path or one of {names}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read URIAL prompt {path}: {err}") from None
    check_urial(text, str(path))
    return text


def check_urial(text: str, where: str = "URIAL prompt") -> None:
    """Refuse text that is not in the URIAL format (no `# Instruction` and no `# Query:` block)."""
    if not text.strip():
        raise BadInput(f"{where} is empty")
    if "# Instruction" not in text and "# Query:" not in text:
        raise BadInput(f"{where} is not a URIAL prompt: it has neither a '# Instruction' nor a '# Query:' block")


# an example starts at a `# Query:` line; the line breaks before it but the preamble's own go with it,
# so an example reads "\n# Query:..." like QUERY_BLOCK and any set of examples joins up well formed
_EXAMPLE_START = re.compile(r"(?<=\n)\s*^# Query:", re.MULTILINE)


def split_urial(text: str) -> tuple[str, list[str]]:
    """A URIAL prompt as its preamble and its examples, each with its exact text: joined in order
    they are `text` byte for byte. An example runs from the blank lines before its `# Query:` to the
    next example (the last one keeps what follows it)."""
    starts = [m.start() for m in _EXAMPLE_START.finditer(text)]
    if text.startswith("# Query:"):
        starts.insert(0, 0)
    cuts = [*starts, len(text)]
    return text[: cuts[0]], [text[a:b] for a, b in zip(cuts, cuts[1:])]


def example_query(example: str) -> str:
    """The query an example asks: the first line of text after its `# Query:` that is not a fence."""
    after = example.partition("# Query:")[2]
    return next((line.strip() for line in after.splitlines() if line.strip() and not line.startswith(FENCE)), "")


def urial_name(name_or_path: str) -> str | None:
    """The name recorded in outputs: the bundled name, the path as given, or None for `none`."""
    return None if name_or_path == NONE else name_or_path


def query_block(query: str, *, bare: bool) -> str:
    """The query's part of a base prompt: what follows the URIAL prompt, or the whole bare prompt."""
    block = QUERY_BLOCK.format(query=query)
    return block.lstrip("\n") if bare else block


def history_examples(history: Sequence[tuple[str, str]]) -> str:
    """Earlier (user, assistant) turns as URIAL examples, in the bundled examples' format (a query
    block, the answer, the closing fence), so `split_urial` reads each as one more example. The
    answer is stripped so its fence sits as in the bundled files whatever whitespace it ended on."""
    return "".join(QUERY_BLOCK.format(query=user) + answer.strip() + "\n" + FENCE + "\n" for user, answer in history)


def base_prompt(query: str, urial: str | None, history: Sequence[tuple[str, str]] = ()) -> str:
    """The base model's prompt text: URIAL prefix + earlier turns as examples + query block; without
    a URIAL prompt (bare), the earlier turns' examples + the query block."""
    if urial is None:
        # it starts at its first `# Query:`, with no blank line before it
        return history_examples(history).lstrip("\n") + query_block(query, bare=not history)
    return urial + history_examples(history) + query_block(query, bare=False)


def chat_messages(query: str, history: Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """The aligned model's conversation: the earlier turns, then `query`, as chat template messages."""
    messages = []
    for user, answer in history:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return [*messages, {"role": "user", "content": query}]


def check_query(query: str) -> str:
    """A query must have some text in it."""
    if not isinstance(query, str) or not query.strip():
        raise BadInput("the query is empty")
    return query


def read_chat_template(path: str) -> str:
    """A --chat-template file's Jinja text."""
    p = Path(path).expanduser()
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read chat template {p}: {err}") from None


def stop_cut(text: str) -> int | None:
    """Where a base answer ends if `text` holds a stop string: before it, its whitespace and the closing fence."""
    hits = [i for i in (text.find(s) for s in STOP_STRINGS) if i >= 0]
    if not hits:
        return None
    return strip_closing(text, min(hits))


def strip_closing(text: str, end: int) -> int:
    """Move `end` back over trailing whitespace and one closing fence."""
    cut = len(text[:end].rstrip())
    if text[:cut].endswith(FENCE):
        cut = len(text[: cut - len(FENCE)].rstrip())
    return cut


def may_start_stop(tail: str) -> bool:
    """Could `tail` (text held back at the end of a base answer) grow into fence + stop string?"""
    rest = tail.lstrip()
    if not rest:
        return bool(tail)
    if rest.startswith(FENCE):
        rest = rest[len(FENCE) :].lstrip()
        if not rest:
            return True
    elif FENCE.startswith(rest):
        return True
    return any(s.startswith(rest) for s in STOP_STRINGS)
