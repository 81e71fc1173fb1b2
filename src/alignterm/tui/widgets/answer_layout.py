"""WrappedLines: an answer's tokens laid out into lines of a given width, wrapping between words.

The answer pane's line model (tui/widgets/answer_pane.py), apart from drawing: a token
becomes one or more `Piece`s on lines; appending a token changes only the last line(s), so
the pane repaints only those. A token that continues a word (punctuation, a word piece)
takes the word's start with it to the next line.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.cells import cell_len


class Piece(NamedTuple):
    """A run of one token's text on one line (a token may wrap or hold newlines)."""

    token: int
    text: str
    blank: bool  # only whitespace (or a newline mark): coloured as a background


def _split_cells(text: str, cells: int) -> tuple[str, str]:
    """Split `text` after at most `cells` terminal cells (at least one character)."""
    used = 0
    for i, ch in enumerate(text):
        w = cell_len(ch)
        if used + w > cells and i > 0:
            return text[:i], text[i:]
        used += w
    return text, ""


def _first_word(text: str) -> str:
    """`text` up to its first whitespace."""
    for i, ch in enumerate(text):
        if ch.isspace():
            return text[:i]
    return text


class WrappedLines:
    """Lines of pieces, the cells each line uses, and the line each token starts on."""

    def __init__(self, width: int = 0) -> None:
        self.width = width
        self.lines: list[list[Piece]] = [[]]
        self.cells: list[int] = [0]
        self.token_lines: list[int] = []  # the line each token starts on (its first piece's)
        self._unplaced = False  # the token being placed has no piece yet

    def _new_line(self) -> None:
        self.lines.append([])
        self.cells.append(0)

    def _add(self, index: int, text: str, blank: bool) -> None:
        """Append a piece of token `index` to the last line; its first piece sets the token's line."""
        if self._unplaced:
            self.token_lines[index] = len(self.lines) - 1
            self._unplaced = False
        self.lines[-1].append(Piece(index, text, blank))
        self.cells[-1] += cell_len(text)

    def _ends_in_word(self) -> bool:
        """Whether the last line ends in a word (no whitespace after its last character)."""
        for piece in reversed(self.lines[-1]):
            if piece.text:
                return not piece.blank and not piece.text[-1].isspace()
        return False

    def _put(self, index: int, text: str, blank: bool) -> None:
        """Place one newline-free run of a token, wrapping between words where it can.

        A run that starts without whitespace (punctuation, a word piece) continues the word
        the line ends in, and never starts a line of its own while that word fits a line:
        either its first word still fits here (the rest of the run wraps), or the word moves
        to the next line with it (`_move_word`). A word wider than a line is split.
        """
        width = max(1, self.width)
        while True:
            cells = cell_len(text)
            used = self.cells[-1]
            room = width - used
            if cells <= room or (blank and used > 0):
                # whitespace may hang past the edge instead of starting a line of its own
                self._add(index, text, blank)
                return
            if text and not blank and not text[0].isspace() and self._ends_in_word():
                head = _first_word(text)
                if cell_len(head) <= room:  # "." of ". However": stays with its word
                    self._add(index, head, False)
                    text = text[len(head):]
                    blank = not text.strip()
                    continue
                if self._move_word(cell_len(head)):
                    continue
            if used > 0 and (cells <= width or room <= 0):
                self._new_line()
                if text.startswith(" ") and text.strip():
                    text = text[1:]  # a wrapped word starts flush left, as in any text view
                continue
            head, text = _split_cells(text, room)
            self._add(index, head, blank)
            self._new_line()

    def _move_word(self, extra: int) -> bool:
        """Move the word the last line ends in to a new line, if it and `extra` more cells fit there.

        The word is the run of pieces back to the last whitespace on the line: it starts
        after a whitespace piece, at a token that starts with a space (dropped, as for any
        wrapped word), or after the last space inside a piece (the piece is cut there). A
        word that starts the line is wider than a line: it stays, and False says so. Only
        the last line changes, so appending still repaints only the lines from it on.
        """
        line = self.lines[-1]
        k, cut, keep_head = len(line), 0, False  # the word starts at line[k].text[cut:]
        while k > 0:
            piece = line[k - 1]
            if not piece.text:  # an empty piece (a partial UTF-8 character) is part of the word
                k -= 1
                continue
            if piece.blank:
                break
            spaces = [i for i, ch in enumerate(piece.text) if ch.isspace()]
            if spaces and spaces[-1] == len(piece.text) - 1:
                break
            k -= 1
            if spaces:
                cut, keep_head = spaces[-1] + 1, spaces[-1] > 0 or piece.text[0] != " "
                break
        if k == 0 and cut:
            keep_head = True  # the line starts with the word's space: that stays, the word moves
        if k == len(line) or (k == 0 and not keep_head):
            return False
        first = line[k]
        moved = [first._replace(text=first.text[cut:]), *line[k + 1:]]
        if sum(cell_len(p.text) for p in moved) + extra > max(1, self.width):
            return False
        del line[k:]
        if keep_head:
            head = first.text[:cut]
            line.append(first._replace(text=head, blank=not head.strip()))
        self.cells[-1] = sum(cell_len(p.text) for p in line)
        staying = {p.token for p in line}
        self._new_line()
        for piece in moved:
            self.lines[-1].append(piece)
            self.cells[-1] += cell_len(piece.text)
            if piece.token not in staying:
                self.token_lines[piece.token] = len(self.lines) - 1
        return True

    def place(self, index: int, text: str) -> None:
        """Lay out token `index` (its text as the pane shows it) after the tokens placed so far."""
        self.token_lines.append(len(self.lines) - 1)  # set again by its first piece (_add)
        self._unplaced = True
        for k, part in enumerate(text.split("\n")):
            if k:
                if self._unplaced:  # a newline-only token still needs a cell for its colour and the cursor
                    self._put(index, " ", True)
                self._new_line()
            if part:
                self._put(index, part, not part.strip())
        if self._unplaced:  # an empty piece (a partial UTF-8 byte): keep it addressable
            self._add(index, "", True)
