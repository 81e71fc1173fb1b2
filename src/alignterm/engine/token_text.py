"""What text each token stands for: in an answer (in context), and alone (in a top-k list).

A token decoded on its own is not what it adds to an answer: a SentencePiece decoder
drops a lone token's leading space, and a byte token of a multi-byte character decodes
to U+FFFD. So an answer's tokens get their text from `TextStream`, which decodes a short
window of the answer (with the last prompt tokens before it) and takes what each new token
adds; a token that ends inside a UTF-8 character gets "" and the character goes to the
token that completes it (docs/decisions.md, "Token text"). The texts of an answer joined
are then exactly the answer's text, on every backend.

Out of context (the top-k of the inspector) a token is shown by its own bytes, so that two
ids never look alike: a word piece keeps its leading space, a byte that is not a whole
character reads `<0xE4>`.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"
MAX_CHAR_BYTES = 4  # a UTF-8 character spans at most 4 tokens; longer U+FFFD runs are what the model wrote
CONTEXT_TOKENS = 4  # prompt tokens decoded before the answer, so its first token is seen in context


def _hex_bytes(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):  # registered for decoding only
        raise err
    return "".join(f"<0x{b:02X}>" for b in err.object[err.start : err.end]), err.end


codecs.register_error("alignterm-hex", _hex_bytes)


def lone_token_text(raw: bytes) -> str:
    """A token's own bytes as text: UTF-8 where it decodes, `<0xHH>` for each byte that does not."""
    return raw.decode("utf-8", errors="alignterm-hex")


class TextStream:
    """Incremental detokenization of one answer (as vLLM and TGI do it).

    `push(id)` returns the texts of the tokens it releases — the tokens held until now,
    then `id` — or None while the answer ends inside a character (`id` is held). A held
    token gets "" and the character goes on the token that completes it; held bytes that
    turn out not to be a character (a lone lead byte) get their U+FFFD themselves.
    `flush()` ends the answer and returns the held tokens' texts (the last one carries
    U+FFFD when the answer stops mid-character). `peek(ids)` is the text that `ids` would
    add (after any held token), without taking them.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str], context: Sequence[int] = ()) -> None:
        self._decode = decode
        self._ids = list(context[-CONTEXT_TOKENS:])
        self._start = 0  # the decoding window starts here: one emitted token of left context
        self._read = len(self._ids)  # ids before this have given their text
        self._window_text = decode(self._ids) if self._ids else ""

    @property
    def held(self) -> int:
        """How many pushed tokens still wait for the end of their character."""
        return len(self._ids) - self._read

    def push(self, token: int) -> list[str] | None:
        self._ids.append(token)
        text = self._decode(self._ids[self._start :])
        if text.endswith(REPLACEMENT) and self.held < MAX_CHAR_BYTES:
            return None
        return self._advance(text)

    def flush(self) -> list[str]:
        if not self.held:
            return []
        return self._advance(self._decode(self._ids[self._start :]))

    def peek(self, ids: Sequence[int]) -> str:
        if not ids:
            return ""
        return self._decode([*self._ids[self._start :], *ids])[len(self._window_text) :]

    def _advance(self, text: str) -> list[str]:
        new = text[len(self._window_text) :]
        n = self.held
        self._start, self._read = self._read, len(self._ids)
        self._window_text = self._decode(self._ids[self._start :])
        invalid = len(new) - len(new.lstrip(REPLACEMENT))
        if n > 1 and 0 < invalid < len(new):  # the held bytes were no character: their U+FFFD is theirs
            return [new[:invalid], *[""] * (n - 2), new[invalid:]]
        return [*[""] * (n - 1), new]


def texts_in_context(decode: Callable[[Sequence[int]], str], context: Sequence[int], ids: Sequence[int]) -> list[str]:
    """The texts a finished answer's tokens add (the batch form of TextStream)."""
    stream = TextStream(decode, context)
    texts: list[str] = []
    for token in ids:
        texts += stream.push(token) or []
    return texts + stream.flush()
