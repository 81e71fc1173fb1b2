"""`analyze --format pretty --show-prompts`: the exact prompt each model saw, as text and as ids.

Each prompt is shown by its tokens' texts in context (engine/token_text.py), so the text is
what the ids decode to, special tokens included (`<|im_start|>`, the BOS), and the special
tokens are highlighted. The base prompt of a URIAL run is split where its query block starts:
the `[URIAL]` part, then the `[query]` part from the first token that reaches into the block.
Ids are wrapped to the console's width (80 columns when not a terminal).
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

from ..display import visible
from ..engine.backend import Tokenizer
from ..engine.prompts import query_block
from ..engine.token_text import texts_in_context

SPECIAL_STYLE = "bold magenta"
LABEL_STYLE = "reverse"


def prompt_tokens(record: dict[str, Any], *, aligned: Tokenizer, base: Tokenizer) -> dict[str, Any]:
    """Per prompt of a §3 record (aligned, base and, in a URIAL run, the bare one): each token's
    text in context and which tokens are special; `analyze` adds it to the record as "prompt_view"."""
    prompts = [("aligned", aligned, record["aligned"]["prompt_ids"]), ("base", base, record["base"]["prompt_ids"])]
    if "aligned_bare" in record:
        prompts.append(("bare", base, record["aligned_bare"]["prompt_ids"]))
    view = {}
    for name, tok, ids in prompts:
        special = tok.special_ids() | ({tok.bos_id} if tok.bos_id is not None else set())
        view[name] = {"texts": texts_in_context(tok.decode, (), ids),
                      "special": [i for i, t in enumerate(ids) if t in special]}
    return view


def query_start(texts: list[str], block: str) -> int | None:
    """The index of the first token reaching into `block`, the query block the prompt's text ends
    with; None where the text does not end with it (a tokenizer that normalises text)."""
    text = "".join(texts)
    if not text.endswith(block):
        return None
    start, end = len(text) - len(block), 0
    for i, t in enumerate(texts):
        end += len(t)
        if end > start:
            return i
    return None


def _part(label: str, ids: list[int], texts: list[str], special: set[int], first: int) -> list[Any]:
    """One stretch of a prompt: a label with its token positions, the text, then the ids."""
    text = Text()
    for i, t in enumerate(texts, first):
        # a newline is shown as ↵ too, so a prompt's trailing newline is seen
        text.append(visible(t).replace("\n", "↵\n"), style=SPECIAL_STYLE if i in special else "")
    last = first + len(ids) - 1
    return [Text(f"[{label}] tokens {first}–{last}", style=LABEL_STYLE), text,
            Text(f"ids {first}–{last}:", style="dim"), Padding(Text(" ".join(map(str, ids))), (0, 0, 0, 2))]


def render_prompts(record: dict[str, Any]) -> Group:
    """The prompts of a record with "prompt_view" (`prompt_tokens`), ready for `Console.print`."""
    view = record["prompt_view"]
    urial = record["urial"]
    titles = {"aligned": "aligned model: chat template",
              "base": f"base model: URIAL ({urial})" if urial is not None else "base model: bare prompt",
              "bare": "base model: bare prompt (the closure's baseline)"}
    ids_of = {"aligned": record["aligned"]["prompt_ids"], "base": record["base"]["prompt_ids"],
              "bare": record.get("aligned_bare", {}).get("prompt_ids")}
    parts: list[Any] = []
    for name, shown in view.items():
        ids, texts, special = ids_of[name], shown["texts"], set(shown["special"])
        parts.append(Rule(f"prompt · {titles[name]} · {len(ids)} tokens", align="left"))
        cut = query_start(texts, query_block(record["query"], bare=False)) if name == "base" and urial else None
        if cut is None:
            parts += _part("prompt", ids, texts, special, 0)
        else:
            parts += _part("URIAL", ids[:cut], texts[:cut], special, 0)
            parts += _part("query", ids[cut:], texts[cut:], special, cut)
    return Group(*parts)
