"""AnswerPane: one model's answer, token by token, coloured by its shift category.

A line-oriented ScrollView in the manner of Textual's Log widget and Toolong: tokens are
laid out into wrapped lines once, each line renders to a cached Strip, and appending a
token invalidates and repaints only the line(s) it touched. Lines wrap between words: a
token that continues a word (punctuation, a word piece) takes the word's start with it
to the next line. The pane never computes a measure: a token's category, ranks and
top-k all come from its TokenEvent. A nudged answer's tokens (NudgedToken, tui/nudge_view.py)
have no category: they are drawn by who chose them. A fork's forced start (tui/fork.py) is
marked: the chosen token with FORK_MARK before it, underlined on a background of its own, the
tokens before it (copied from the answer it was forked from) dim.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from alignterm.engine.events import NudgedToken, TokenEvent

from ..palette import chooser_style, pane_text
from .answer_layout import WrappedLines

PaneToken = TokenEvent | NudgedToken


def _shift(token: PaneToken) -> str | None:
    """A token's category (a nudged answer's tokens have none)."""
    return token.shift if isinstance(token, TokenEvent) else None

FORK_MARK = "»"  # before a fork's chosen token, after its leading whitespace

PROMPT = "Type a query and press Enter."  # an empty pane's placeholder, ready for a run


class AnswerPane(ScrollView, can_focus=True):
    """A streaming answer with inline shift highlights and a token cursor."""

    BINDINGS = [
        Binding("left", "cursor_step(-1)", "Previous token", show=False),
        Binding("right", "cursor_step(1)", "Next token", show=False),
        Binding("up", "cursor_line(-1)", "Token above", show=False),
        Binding("down", "cursor_line(1)", "Token below", show=False),
        Binding("home", "cursor_first", "First token", show=False),
        Binding("end", "cursor_last", "Last token", show=False),
        Binding("n", "next_shifted", "Next shifted/marginal",
                tooltip="Put the cursor on the next shifted or marginal token"),
        Binding("p,N", "previous_shifted", "Previous shifted/marginal", show=False),
        Binding("y", "app.copy('answer')", "Copy answer", show=False,
                tooltip="Copy this answer to your terminal's clipboard (OSC 52, works over SSH)"),
        Binding("Y", "app.copy('token')", "Copy token", show=False,
                tooltip="Copy the token under the cursor with its measures (rank, category, logprobs, KL)"),
        Binding("f", "app.fork", "Fork here", show=False,
                tooltip="Fork at the cursor token: choose another token there (either model's top-k, or typed) and "
                        "the model answers on from it"),
        Binding("u", "app.fork_back", "Back from fork", show=False,
                tooltip="Back to the run this fork came from, as it was"),
    ]

    COMPONENT_CLASSES = {
        "answer-pane--unshifted",
        "answer-pane--marginal",
        "answer-pane--shifted",
        "answer-pane--unscored",
        "answer-pane--top1-differs",
        "answer-pane--recovered",
        "answer-pane--cursor",
        "answer-pane--placeholder",
        "answer-pane--forced",
        "answer-pane--forced-prefix",
    }

    DEFAULT_CSS = """
    AnswerPane {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        scrollbar-gutter: stable;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    AnswerPane:focus { border: round $accent; }
    AnswerPane.-runaway { border: round $warning; border-subtitle-color: $warning; }
    AnswerPane.-runaway:focus { border: heavy $warning; }
    AnswerPane > .answer-pane--unshifted { color: $shift-unshifted; }
    AnswerPane > .answer-pane--marginal { color: $shift-marginal; }
    AnswerPane > .answer-pane--shifted { color: $shift-shifted; text-style: bold; }
    AnswerPane > .answer-pane--unscored { }
    AnswerPane > .answer-pane--top1-differs { text-style: underline; }
    AnswerPane > .answer-pane--recovered { background: $shift-shifted 35%; }
    AnswerPane > .answer-pane--cursor { text-style: reverse; }
    AnswerPane > .answer-pane--placeholder { text-style: italic; }
    AnswerPane > .answer-pane--forced { text-style: underline; }
    AnswerPane > .answer-pane--forced-prefix { text-style: dim; }
    AnswerPane.-mono > .answer-pane--unshifted { color: $foreground; text-style: none; }
    AnswerPane.-mono > .answer-pane--marginal { color: $foreground; text-style: bold; }
    AnswerPane.-mono > .answer-pane--shifted { color: $foreground; text-style: bold reverse; }
    AnswerPane.-mono > .answer-pane--recovered { background: transparent; text-style: italic; }
    AnswerPane.-mono > .answer-pane--cursor { text-style: reverse italic; }
    """

    placeholder: reactive[str] = reactive("", layout=False)
    monochrome: reactive[bool] = reactive(False)

    class CursorMoved(Message):
        """The token cursor moved (token is None when the cursor was cleared)."""

        def __init__(self, pane: AnswerPane, index: int, token: PaneToken | None) -> None:
            super().__init__()
            self.pane = pane
            self.index = index
            self.token = token

        @property
        def control(self) -> AnswerPane:
            return self.pane

    # The token under the cursor, -1 for none: validated into range, and every assignment
    # (the same index too) redraws the two tokens and tells the app (watch_cursor), as
    # Toolong's log view keeps its cursor. Repainting the whole pane is left to the watcher.
    cursor: reactive[int] = reactive(-1, repaint=False, always_update=True, init=False)

    def __init__(self, side: str, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.side = side
        self._tokens: list[PaneToken] = []
        self._layout = WrappedLines()
        self._cache: dict[int, Strip] = {}
        self._recovered: Sequence[bool] = ()
        self._forced = 0  # the answer's first tokens were forced (a fork): the last of them is the chosen one

    # ---- content ---------------------------------------------------------------------

    @property
    def tokens(self) -> Sequence[PaneToken]:
        return self._tokens

    @property
    def text(self) -> str:
        return "".join(t.text for t in self._tokens)

    @property
    def line_count(self) -> int:
        return len(self._layout.lines) if self._tokens else 0

    def append(self, token: PaneToken) -> None:
        """Add one token at the end, repainting only the lines it lands on."""
        self.extend((token,))

    def extend(self, tokens: Iterable[PaneToken]) -> None:
        """Add tokens at the end, repainting only the lines they land on."""
        follow = self.scroll_offset.y >= self.max_scroll_y
        first = len(self._layout.lines) - 1
        added = False
        for token in tokens:
            self._tokens.append(token)
            if self._layout.width:
                self._place(len(self._tokens) - 1)
            added = True
        if not added:
            return
        for y in range(first, len(self._layout.lines)):
            self._cache.pop(y, None)
        self._update_virtual_size()
        self.refresh_lines(first, len(self._layout.lines) - first)
        if follow and self.cursor < 0:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def set_tokens(self, tokens: Iterable[PaneToken]) -> None:
        """Replace the whole answer (after a run, or a session replay)."""
        self._tokens = list(tokens)
        if self.cursor >= len(self._tokens):
            self.set_reactive(AnswerPane.cursor, len(self._tokens) - 1)  # clamped, not a move: no message
        self._relayout()

    def recolor(self, tokens: Sequence[TokenEvent]) -> None:
        """Swap in re-scored events for the same tokens: same text, new measures, same layout."""
        if len(tokens) != len(self._tokens) or any(a.id != b.id for a, b in zip(tokens, self._tokens)):
            self.set_tokens(tokens)
            return
        self._tokens = list(tokens)
        self._cache.clear()
        self.refresh()
        if self.cursor >= 0:
            self.post_message(self.CursorMoved(self, self.cursor, self._tokens[self.cursor]))

    def set_recovered(self, flags: Sequence[bool]) -> None:
        """Mark the tokens a URIAL prompt recovered (shifted under the bare prompt, not under URIAL):
        a shifted-coloured background under their own colour, italic in monochrome."""
        if list(flags) != list(self._recovered):
            self._recovered = list(flags)
            self._cache.clear()
            self.refresh()

    def set_forced(self, count: int) -> None:
        """Mark the answer's first `count` tokens forced (a fork, tui/fork.py; 0: none): the last of them,
        the chosen token, with FORK_MARK and a style of its own, the ones before it dim."""
        if count != self._forced:
            self._forced = count
            self._relayout()

    @property
    def forced(self) -> int:
        return self._forced

    @property
    def recovered(self) -> list[int]:
        """Indices of the tokens marked recovered."""
        return [i for i, flag in enumerate(self._recovered) if flag]

    def clear(self) -> None:
        self._tokens = []
        self.remove_class("-runaway")  # the mark belongs to the answer cleared (screens/compare.py sets it)
        self.set_reactive(AnswerPane.cursor, -1)
        self._recovered = ()
        self._forced = 0
        self._relayout()
        self.scroll_home(animate=False, immediate=True)

    def _place(self, index: int) -> None:
        text = pane_text(self._tokens[index].text)
        if index == self._forced - 1:
            rest = text.lstrip()
            text = text[: len(text) - len(rest)] + FORK_MARK + rest
        self._layout.place(index, text)

    def _relayout(self) -> None:
        self._layout = WrappedLines(self._layout.width)
        self._cache.clear()
        if self._layout.width:
            for i in range(len(self._tokens)):
                self._place(i)
        self._update_virtual_size()
        self.refresh()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._layout.width, self.line_count)

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width != self._layout.width:
            self._layout.width = width
            self._relayout()
            if self.cursor >= 0:
                self._scroll_to_cursor()

    # ---- styles ----------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def watch_monochrome(self, value: bool) -> None:
        self.set_class(value, "-mono")
        self._cache.clear()
        self.refresh()

    def watch_placeholder(self) -> None:
        if not self._tokens:
            self._cache.clear()
            self.refresh()

    def _muted(self) -> Style:
        """A muted text colour, blended here: a component class's `$text-muted` is "auto 60%", which
        Textual resolves to white there (invisible on the light theme), and an alpha colour loses
        its alpha; so the pane's own text colour 60% of the way from its background."""
        _, _, background, color = self.colors
        return Style(color=background.blend(color, 0.6).rich_color)

    def token_style(self, index: int) -> Style:
        """The rich style token `index` is drawn with (colour class, underline, cursor)."""
        token = self._tokens[index]
        if isinstance(token, NudgedToken):
            return Style.parse(chooser_style(self.app, token.chosen_by, self.monochrome))
        # a token the other model could not score (llama.cpp's server) is drawn muted, uncategorised
        style = self.get_component_rich_style(f"answer-pane--{token.shift or 'unscored'}", partial=True)
        if token.shift is None:
            style += self._muted()
        if token.top1_differs:
            style += self.get_component_rich_style("answer-pane--top1-differs", partial=True)
        if index < len(self._recovered) and self._recovered[index]:
            style += self.get_component_rich_style("answer-pane--recovered", partial=True)
        if index == self._forced - 1:
            style += self.get_component_rich_style("answer-pane--forced", partial=True)
            if not self.monochrome:  # a neutral background, blended from the theme's, under the token's own colour
                _, _, background, color = self.colors
                style += Style(bgcolor=background.blend(color, 0.25).rich_color)
        elif index < self._forced:
            style += self.get_component_rich_style("answer-pane--forced-prefix", partial=True)
        return style

    def _cursor_style(self, style: Style, blank: bool, block: bool) -> Style:
        """`style` (a token's own) as drawn under the cursor.

        The cursor must not look like any category in any theme. A background colour of
        its own cannot promise that: the bundled themes' accent is (nearly) their marginal
        colour, so a blue token under an accent cursor looked amber. So the cursor *toggles
        reverse* on the token's own style (the CSS says `text-style: reverse`): the token
        keeps its category's hue, drawn as a block, which no category is. Rich's style
        addition sets reverse rather than toggling it, hence the code. In monochrome mode
        shifted already is bold reverse, so a toggled marginal token (bold) would look
        shifted and a toggled shifted one marginal: there the cursor also adds italic
        (`-mono` CSS), which no category uses. A space shows no text style, and its
        colour only as a background: under the cursor it is underlined too, and a
        coloured space (already a block) loses its block.
        """
        cursor = self.get_component_rich_style("answer-pane--cursor", partial=True)
        extra = Style(color=cursor.color, bgcolor=cursor.bgcolor, bold=cursor.bold, dim=cursor.dim,
                      italic=cursor.italic, underline=cursor.underline or (blank or None),
                      strike=cursor.strike, overline=cursor.overline)
        if not cursor.reverse:
            return style + extra
        if block:
            return style + Style(bgcolor=self.rich_style.bgcolor, reverse=False) + extra
        return style + Style(reverse=not style.reverse) + extra

    def _placeholder_lines(self) -> list[str]:
        """The placeholder wrapped to the pane (a model path on a loading line is shown whole)."""
        width = max(1, self.scrollable_content_region.width)
        return textwrap.wrap(self.placeholder, width, break_on_hyphens=False) if self.placeholder else []

    def render_answer_line(self, y: int) -> Strip:
        """Line `y` of the laid-out answer, uncropped, each segment tagged with its token."""
        cached = self._cache.get(y)
        if cached is not None:
            return cached
        base = self.rich_style
        segments: list[Segment] = []
        if not self._tokens:
            lines = self._placeholder_lines()
            if y < len(lines):
                style = base + self.get_component_rich_style("answer-pane--placeholder", partial=True) + self._muted()
                segments.append(Segment(lines[y], style))
        elif y < len(self._layout.lines):
            for piece in self._layout.lines[y]:
                style = base + self.token_style(piece.token)
                block = piece.blank and _shift(self._tokens[piece.token]) in ("marginal", "shifted") and style.color
                if block:
                    style += Style(bgcolor=style.color)  # a coloured space would be invisible
                if piece.token == self.cursor:
                    style = self._cursor_style(style, piece.blank, bool(block))
                segments.append(Segment(piece.text, style + Style(meta={"token": piece.token})))
        strip = Strip(segments)
        self._cache[y] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        line = self.render_answer_line(scroll_y + y)
        return line.crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_offsets(scroll_x, scroll_y + y)

    # ---- cursor ----------------------------------------------------------------------

    @property
    def cursor_token(self) -> PaneToken | None:
        return self._tokens[self.cursor] if 0 <= self.cursor < len(self._tokens) else None

    def move_cursor(self, index: int) -> None:
        """Put the cursor on token `index` (clamped; -1 clears it) and tell the app."""
        self.cursor = index

    def validate_cursor(self, index: int) -> int:
        return max(-1, min(index, len(self._tokens) - 1))

    def watch_cursor(self, old: int, index: int) -> None:
        for i in (old, index):
            if 0 <= i < len(self._layout.token_lines):
                self._refresh_token(i)
        if index >= 0:
            self._scroll_to_cursor()
        self.post_message(self.CursorMoved(self, index, self.cursor_token))

    def _token_line_span(self, index: int) -> range:
        start = self._layout.token_lines[index]
        end = self._layout.token_lines[index + 1] if index + 1 < len(self._layout.token_lines) else len(self._layout.lines) - 1
        return range(start, end + 1)

    def _refresh_token(self, index: int) -> None:
        span = self._token_line_span(index)
        for y in span:
            self._cache.pop(y, None)
        self.refresh_lines(span.start, len(span))

    def _scroll_to_cursor(self) -> None:
        if 0 <= self.cursor < len(self._layout.token_lines):
            y = self._layout.token_lines[self.cursor]
            self.scroll_to_region(Region(0, y, 1, 1), animate=False, immediate=True)

    def _start_of(self, index: int) -> tuple[int, int]:
        """(line, x) of the first cell of token `index`."""
        y = self._layout.token_lines[index]
        x = 0
        for piece in self._layout.lines[y]:
            if piece.token == index:
                return y, x
            x += cell_len(piece.text)
        return y, x

    def action_cursor_step(self, step: int) -> None:
        if not self._tokens:
            return
        start = (0 if step > 0 else len(self._tokens) - 1) if self.cursor < 0 else self.cursor + step
        self.move_cursor(max(0, min(start, len(self._tokens) - 1)))

    def action_cursor_line(self, step: int) -> None:
        if not self._tokens:
            return
        if self.cursor < 0:
            self.move_cursor(0)
            return
        y, x = self._start_of(self.cursor)
        target = y + step
        if not 0 <= target < len(self._layout.lines) or not self._layout.lines[target]:
            return
        cells = 0
        for piece in self._layout.lines[target]:
            cells += cell_len(piece.text)
            if cells > x:
                self.move_cursor(piece.token)
                return
        self.move_cursor(self._layout.lines[target][-1].token)

    def action_cursor_first(self) -> None:
        if self._tokens:
            self.move_cursor(0)

    def action_cursor_last(self) -> None:
        if self._tokens:
            self.move_cursor(len(self._tokens) - 1)

    def _find_shifted(self, indices: Iterable[int]) -> None:
        """Put the cursor on the first of `indices` that is shifted or marginal, else ring the bell.

        Marginal tokens count too: with marginal tokens on screen a user steps through both.
        Unscored tokens (no category) are skipped."""
        for i in indices:
            if _shift(self._tokens[i]) in ("marginal", "shifted"):
                self.move_cursor(i)
                return
        self.app.bell()

    def action_next_shifted(self) -> None:
        """The next shifted or marginal token after the cursor."""
        self._find_shifted(range(self.cursor + 1, len(self._tokens)))

    def action_previous_shifted(self) -> None:
        """The previous shifted or marginal token before the cursor."""
        start = self.cursor if self.cursor >= 0 else len(self._tokens)
        self._find_shifted(range(start - 1, -1, -1))

    def on_click(self, event: events.Click) -> None:
        token = event.style.meta.get("token")
        if token is not None:
            self.focus()
            self.move_cursor(token)

    def on_focus(self) -> None:
        # focusing the pane shows the cursor, so the inspector has something to show
        if self.cursor < 0 and self._tokens:
            top = min(self.scroll_offset.y, len(self._layout.lines) - 1)
            line = self._layout.lines[top]
            self.move_cursor(line[0].token if line else 0)
