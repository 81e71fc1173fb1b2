"""Forks: issue #21's "fork at a token" in the app, and the trail of runs a fork came from.

A controller for the comparison screen, as `lens.py` and `nudge_view.py` are (docs/decisions.md,
"Forcing a prefix", "Fork in the app"). `f` in an answer pane opens the fork dialog
(screens/fork.py) on the token under the cursor; the token chosen there (either model's top-k,
or a typed text) makes a new comparison whose forked side is forced to its answer before the
cursor + that token (`ComparisonRequest.force`) and generates on, while the other side keeps its
answer: a base fork keeps the aligned answer (`keep_aligned`, ctrl+b's path), an aligned fork the
base answer (`keep_base`). The run is the model host's, cancellable with Esc like every run.
Each fork pushes the run on screen (its result, scores, lens and cursors) onto a stack; `u`, Esc at
the end of its chain, or the palette go back to it as it was. It measures nothing: the candidates'
probabilities are the engine's log-probabilities, exponentiated for reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alignterm.engine.errors import BadInput
from alignterm.engine.events import SIDES, Side, TokenEvent

from .palette import visible_whitespace
from .widgets.answer_pane import AnswerPane

if TYPE_CHECKING:
    from alignterm.engine.compare import ComparisonRequest, Rescored
    from alignterm.engine.events import ComparisonResult

    from .screens.compare import CompareScreen


@dataclass(frozen=True)
class Candidate:
    """A token the fork dialog offers: one entry of a model's top-k at the cursor's position."""

    model: Side
    rank: int
    id: int
    text: str
    prob: float
    current: bool  # the answer has this token there


@dataclass(frozen=True)
class ForkPoint:
    """Where the run on screen was forked: which side, at which answer position, how deep in the trail."""

    side: Side
    position: int
    depth: int

    @property
    def label(self) -> str:
        return f"fork {self.depth} at token {self.position}"  # the pane it is in names the side


@dataclass(frozen=True)
class Parent:
    """A run as it was on screen when it was forked, to go back to."""

    result: ComparisonResult
    rescored: Rescored | None
    lens: str
    base_label: str  # the URIAL prompt its base answer was made with
    cursors: dict[str, int]
    focused: str | None  # the answer pane that had the focus
    point: ForkPoint | None  # where it was itself forked, if it is a fork


def candidates(token: TokenEvent) -> list[Candidate]:
    """Both models' top-k at `token`'s position, aligned first (as the inspector's columns)."""
    own: Side = token.side
    other: Side = "base" if own == "aligned" else "aligned"
    tops = {own: token.top, other: token.other_top}
    return [Candidate(model, rank, entry.id, entry.text, math.exp(entry.logprob), entry.id == token.id)
            for model in SIDES for rank, entry in enumerate(tops[model], start=1)]


def fork_request(result: ComparisonResult, side: Side, position: int, ids: tuple[int, ...]) -> ComparisonRequest:
    """The fork of `result` at answer `position` of `side` with `ids` there: the same query, prompt,
    parameters and history; the side forced to its answer before `position` + `ids`; the other kept."""
    from alignterm.engine.compare import ComparisonRequest

    head = tuple(t.id for t in result.side(side).tokens[:position])
    return ComparisonRequest(
        query=result.query, urial=result.urial, params=result.params, live=True, history=result.history,
        force={side: head + ids},
        keep_aligned=result if side == "base" else None, keep_base=result if side == "aligned" else None,
    )


def forced_count(request: ComparisonRequest, side: Side) -> int:
    """How many of `side`'s first answer tokens a run forces (a fork), or keeps forced (the side kept)."""
    kept = request.keep_aligned if side == "aligned" else request.keep_base
    if kept is not None:
        return kept.side(side).forced
    return len(request.force.get(side, ()))


class Forks:
    """The fork on screen (None: not a fork) and the runs it came from, latest last."""

    def __init__(self, screen: CompareScreen) -> None:
        self.screen = screen
        self.parents: list[Parent] = []
        self.point: ForkPoint | None = None

    def reset(self) -> None:
        """Forget the trail (a new run, a cleared screen, an opened session)."""
        self.parents, self.point = [], None

    # ---- forking -----------------------------------------------------------------------

    def _refused(self, pane: AnswerPane) -> str | None:
        """Why the token at `pane`'s cursor cannot be forked now (None: it can)."""
        screen, comparator = self.screen, self.screen.host.comparator
        if screen.read_only is not None:
            return f"This session is read-only: {screen.read_only}"
        if comparator is None:
            return "Forking needs the models, and none are loaded (Enter re-runs a replayed session on them)."
        if screen.running:
            return "A run is in progress: let it finish, or cancel it (Esc)."
        if screen.nudge.on:
            return "The base pane shows the nudged answer: leave it (ctrl+n) to fork the base answer."
        if screen.result is None:
            return "No run yet: fork a finished run's answer."
        if not isinstance(pane.cursor_token, TokenEvent):
            return "Put the cursor on a token of an answer first (Tab into a pane, ← →)."
        if not (comparator.base.can_score and comparator.aligned.can_score):
            return "Forking needs both models to score given tokens, and a server's model here cannot."
        return None

    def open(self) -> None:
        """f: the fork dialog for the token under the focused pane's cursor."""
        from .screens.fork import ForkScreen

        screen = self.screen
        pane = screen.focused_pane()
        why = self._refused(pane)
        if why is not None:
            screen.notify(why, title="Fork", severity="warning")
            return
        token = pane.cursor_token
        assert isinstance(token, TokenEvent)
        side: Side = token.side
        index = pane.cursor

        def chosen(ids: tuple[int, ...] | None) -> None:
            if ids:
                self.start(side, index, ids)

        title = f"Fork the {side} answer at token {token.position}: instead of “{visible_whitespace(token.text)}”"
        screen.app.push_screen(ForkScreen(title, candidates(token), lambda text: self.tokenize(side, text)), chosen)

    def tokenize(self, side: Side, text: str) -> tuple[int, ...]:
        """A typed token text as the ids to force: answer text, no BOS, ordinary tokens of the side's model."""
        comparator = self.screen.host.comparator
        if comparator is None:
            raise BadInput("the models are not loaded")
        if text == "":
            raise BadInput("Type a token's text first (a leading space is part of it).")
        tokenizer = (comparator.base if side == "base" else comparator.aligned).tokenizer
        ids = tokenizer.encode(text, add_bos=False)
        size, special = tokenizer.vocab_size, tokenizer.special_ids()
        if not ids or any((size is not None and i >= size) or i in special for i in ids):
            raise BadInput(f"{text!r} is not answer text the {side} model knows: it makes no ordinary token.")
        return tuple(ids)

    def start(self, side: Side, index: int, ids: tuple[int, ...]) -> None:
        """Fork the result on screen at answer token `index` of `side`, with `ids` in its place."""
        screen = self.screen
        result = screen.result
        if result is None or screen.running:
            return
        focused = screen.focused
        self.parents.append(Parent(
            result=result, rescored=screen.rescored, lens=screen.aligned.lens, base_label=screen.base_urial_label,
            cursors={s: screen.pane(s).cursor for s in SIDES},
            focused=focused.side if isinstance(focused, AnswerPane) else None,
            point=self.point,
        ))
        self.point = ForkPoint(side, index, len(self.parents))
        screen.begin_run(fork_request(result, side, index, ids), screen.base_urial_label)
        self.decorate()

    def decorate(self) -> None:
        """Say in the forked pane's subtitle that the run on screen is a fork, and where."""
        if self.point is not None:
            pane = self.screen.pane(self.point.side)
            pane.border_subtitle = f"{pane.border_subtitle} · {self.point.label}"

    # ---- back ----------------------------------------------------------------------------

    def back(self, quiet: bool = False) -> bool:
        """Show the run this fork came from as it was (a fork still running is dropped); False, with a
        notice unless `quiet`, when the run on screen is no fork."""
        screen = self.screen
        if not self.parents:
            if not quiet:
                screen.notify("The run on screen is not a fork: there is no run to go back to.", title="Fork")
            return False
        parent = self.parents.pop()
        self.point = parent.point
        screen.aligned.lens = parent.lens
        screen.show_again(parent.result, parent.rescored, parent.base_label)
        if parent.focused is not None:
            screen.pane(parent.focused).focus()
        for side, cursor in parent.cursors.items():
            if cursor >= 0:
                screen.pane(side).move_cursor(cursor)
        screen.notify(f"Back to {self.point.label if self.point else 'the run the fork came from'}.", title="Fork")
        return True
