"""When a growing answer ends, and which of its tokens are the answer (architecture §1).

One state machine for every answer the engine draws: a comparison's two sides
(engine/compare.py), diversity samples (engine/samples.py) and the benchmarks. An answer
ends at

- the model's end of sequence ("eos"; that token is not part of the answer);
- on a base side, a URIAL stop string (`# Query`, `# User`: "stop"), the answer cut before it,
  its whitespace and the closing fence;
- the token budget ("length") or a cancel ("cancelled"), ended by the caller.

A base side holds back the tokens that may still grow into fence + stop string, so a
streaming view never shows a token it would have to take back; an answer that ends on
"eos" or "length" drops a trailing closing fence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .prompts import may_start_stop, stop_cut, strip_closing
from .token_text import TextStream

if TYPE_CHECKING:
    from .backend import Tokenizer


class GrowingAnswer:
    """One answer as it grows: the tokens taken (`ids`), the ones released into the answer with
    their texts in context (`take_released`), and why it ended (`reason`, None while it goes on).

    `stops`: a base side, which stops at a URIAL stop string and drops the closing fence.
    """

    def __init__(self, tokenizer: Tokenizer, stops: bool, prompt_ids: Sequence[int] = ()) -> None:
        self.eos_ids = tokenizer.eos_ids
        self.stops = stops
        self.ids: list[int] = []  # every token taken, the end of sequence excluded
        self.reason: str | None = None
        self._text = TextStream(tokenizer.decode, prompt_ids)  # each kept token's text in context
        self._kept = 0  # ids[:_kept] are part of the answer; the rest is held back
        self._texted = 0  # ids[:_texted] have their text; the kept ones after end inside a character
        self._released: list[tuple[int, str]] = []  # (index into ids, text), not yet taken

    @property
    def ended(self) -> bool:
        return self.reason is not None

    def add(self, token: int) -> bool:
        """Take the next token (ignored once ended); True when the answer has ended."""
        if self.reason is not None:
            return True
        if token in self.eos_ids:
            self.end("eos")
            return True
        self.ids.append(token)
        if not self.stops:
            self._keep(len(self.ids))
            return False
        text = self._held_text()
        cut = stop_cut(text)
        if cut is not None:
            self._keep_before(cut)
            self._close("stop")
            return True
        while self._kept < len(self.ids) and not may_start_stop(text):
            self._keep(self._kept + 1)
            text = self._held_text()
        return False

    def end(self, reason: str) -> None:
        """End the answer here: "eos", "length" or "cancelled" (no-op once ended). A cancelled answer
        keeps what it held; one that ran out drops a trailing closing fence (architecture §1)."""
        if self.reason is not None:
            return
        if reason == "cancelled" or not self.stops:
            self._keep(len(self.ids))
        else:
            held = self._held_text()
            self._keep_before(strip_closing(held, len(held)))
        self._close(reason)

    def take_released(self) -> list[tuple[int, str]]:
        """The tokens released into the answer since the last call, as (index into `ids`, text in context)."""
        out, self._released = self._released, []
        return out

    @property
    def answer_ids(self) -> list[int]:
        """The answer's tokens: those taken up to the stop string (all of them while it grows)."""
        return self.ids[: self._kept]

    def trimmed(self, text: str) -> str:
        """`text`, the decoded `ids`, cut where this answer ends: on a base side before the stop
        string, or a trailing closing fence, and the whitespace before either (a sample's text)."""
        if not self.stops:
            return text
        cut = stop_cut(text) if self.reason == "stop" else None
        return text[: cut if cut is not None else strip_closing(text, len(text))]

    def _held_text(self) -> str:
        return self._text.peek(self.ids[self._kept :])

    def _keep(self, upto: int) -> None:
        """ids[:upto] are part of the answer: each gets its text once its character is whole."""
        for i in range(self._kept, upto):
            self._kept = i + 1
            texts = self._text.push(self.ids[i])
            if texts is not None:
                self._texts_known(texts)

    def _texts_known(self, texts: list[str]) -> None:
        """The next kept tokens' texts are known (engine/token_text.py)."""
        self._released += [(self._texted + j, t) for j, t in enumerate(texts)]
        self._texted += len(texts)

    def _keep_before(self, cut: int) -> None:
        """Keep the held tokens whose text ends at or before `cut` characters."""
        upto = self._kept
        while upto < len(self.ids) and len(self._text.peek(self.ids[self._kept : upto + 1])) <= cut:
            upto += 1
        self._keep(upto)

    def _close(self, reason: str) -> None:
        if self._texted < self._kept:  # the answer ends inside a character: what is left is its text (U+FFFD)
            self._texts_known(self._text.flush())
        self.reason = reason
