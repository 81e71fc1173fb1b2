"""Whether two models share a vocabulary, judged by content (docs/decisions.md, "Vocabularies").

Ranks across models need one vocabulary. Row counts do not decide it: output layers are
padded past the tokenizer (Qwen2.5: 151,665 tokens, 151,936 rows), and a GGUF lists the
padding as `[PAD…]` tokens. What decides is the tokens themselves:

- identical on every id: one vocabulary;
- one extends the other (a ChatML fine-tune of Mistral adds `<|im_start|>`, `<|im_end|>`),
  or they differ only in the names of special or reserved tokens (a Llama 3 fine-tune
  renames `<|reserved_special_token_0|>`): accepted, with a one-line notice naming the
  ids; a token that means something else, or nothing, to the other model is "foreign"
  and gets no measure under it (null, as unscored tokens already are);
- any ordinary token differs: refused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import TokenizerMismatch

if TYPE_CHECKING:
    from .backend import Backend

# Text whose tokenization tells two vocabularies apart when a server cannot list its own
VOCAB_PROBE = (
    "Hello! Sure, I'd be happy to help. However, it is important to note: 3.14 km/h, "
    "naïve café, 日本語, emoji 🙂\n\t# Query:\n```\n<|user|>"
)
SHOWN_IDS = 4  # ids named in a notice before "and N more"


@dataclass(frozen=True)
class SharedVocab:
    """What the pair shares: ids below `size` are ranked; ids in `foreign` (or past `size`)
    mean something else, or nothing, to the other model. `pieces[model]` shows one token
    alone as that model ("base" or "aligned") names it."""

    size: int
    sizes: dict[str, int | None]  # each model's own token count ("base", "aligned"); None: unknown (a server)
    pieces: dict[str, Callable[[int], str]]
    foreign: frozenset[int] = field(default_factory=frozenset)
    notice: str | None = None

    def shared(self, token_id: int) -> bool:
        return token_id < self.size and token_id not in self.foreign


def shared_vocab(base: Backend, aligned: Backend) -> SharedVocab:
    """The vocabulary the pair shares, or TokenizerMismatch when an ordinary token differs."""
    tb, ta = base.tokenizer, aligned.tokenizer
    if not (tb.lists_vocab and ta.lists_vocab):  # a server: compare how both split a probe text
        pb, pa = tb.encode(VOCAB_PROBE, add_bos=True), ta.encode(VOCAB_PROBE, add_bos=True)
        if pb != pa:
            raise TokenizerMismatch(
                f"base and aligned tokenizers differ: they split a probe text into different tokens "
                f"({base.name}: {pb[:8]}... / {aligned.name}: {pa[:8]}...)"
            )
        sizes: dict[str, int | None] = {"base": tb.vocab_size, "aligned": ta.vocab_size}  # None: a server that does not tell
        known = [n for n in sizes.values() if n is not None]
        return SharedVocab(min(known, default=sys.maxsize), sizes, {"base": tb.piece, "aligned": ta.piece})
    vb, va = tb.vocab(), ta.vocab()
    special = tb.special_ids() | ta.special_ids()
    renamed = [i for i, (b, a) in enumerate(zip(vb, va)) if b != a]
    ordinary = [i for i in renamed if i not in special]
    if ordinary:
        i = ordinary[0]
        raise TokenizerMismatch(
            f"base and aligned tokenizers differ: token {i} is {vb[i]!r} in the base and {va[i]!r} in the aligned "
            f"model ({len(ordinary)} ordinary tokens differ; {len(vb)} vs {len(va)} tokens)"
        )
    size = min(len(vb), len(va))
    notes = []
    if renamed:
        notes.append(f"{len(renamed)} special tokens are named differently ({_ids(renamed, vb, va)})")
    if len(vb) != len(va):
        longer, names, who = (va, "aligned", "base") if len(va) > len(vb) else (vb, "base", "aligned")
        extra = list(range(size, len(longer)))
        notes.append(f"the {names} vocabulary has {len(extra)} tokens the {who} lacks "
                     f"({', '.join(f'{i} {longer[i]!r}' for i in extra[:SHOWN_IDS])}{_more(extra)})")
    notice = None
    if notes:
        notice = ("base and aligned vocabularies differ only in special tokens: " + "; ".join(notes)
                  + "; those tokens get no measure under the other model")
    return SharedVocab(size, {"base": len(vb), "aligned": len(va)}, {"base": tb.piece, "aligned": ta.piece},
                       frozenset(renamed), notice)


def _ids(ids: list[int], vb: list[str], va: list[str]) -> str:
    return ", ".join(f"{i} {vb[i]!r}/{va[i]!r}" for i in ids[:SHOWN_IDS]) + _more(ids)


def _more(ids: list[int]) -> str:
    return f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
