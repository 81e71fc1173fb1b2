"""A comparison run: both models answer one query; each answer is scored under the other model.

The aligned model answers in its chat template; the base model answers with the URIAL
(or bare) prompt. Aligned tokens are scored under base with context base prompt +
aligned tokens so far (TDS); base tokens under aligned with context aligned prompt +
base tokens so far (reverse shift). `Comparator.run` yields events for both sides,
interleaved, and can be cancelled between tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from . import shift
from .answer import GrowingAnswer
from .backend import Backend, Scorer
from .errors import AlignTermError, BadInput, ContextOverflow
from .events import (
    BareScores,
    ComparisonResult,
    Event,
    PairProgress,
    RunFinished,
    RunStarted,
    Side,
    SideFinished,
    SideResult,
    SideSummary,
    Summary,
    TokenEvent,
)
from .loading import load_checked_pair
from .measure import measure
from .prompts import base_prompt, check_query
from .rows import Rows
from .values import CancelToken, DecodingParams, ModelSpec, Step, TopK
from .vocab import SharedVocab, shared_vocab

# A re-score feeds the answer in passes of this many tokens, so a newer edit can stop it between them.
RESCORE_CHUNK = 64


@dataclass(frozen=True)
class ComparisonRequest:
    """One query to compare. `urial` is the URIAL prompt text; None gives the bare prompt.

    `live` scores each token as it is generated (for a streaming view; a server scores its
    backend's `score_chunk` tokens per call); otherwise each
    finished answer is scored in one forward pass (for batch analysis).

    `keep_aligned`, a finished result for the same query, re-runs the base side only: its
    aligned answer is kept and re-scored under the new base prompt (after a URIAL edit).
    `keep_base`, a finished result for the same query and prompts, re-runs the aligned side only:
    its base answer is kept as it was, measures and all (they do not depend on the aligned answer).

    `force` gives a side's answer a forced start (token ids): those tokens are its answer's
    first, read and measured like generated ones, and the model generates on from them (a fork
    at a token: docs/decisions.md, "Forcing a prefix").

    `history`, the earlier (user, assistant) turns of a conversation, goes before the query: in the
    aligned model's chat template, and as URIAL examples in the base model's prompt (and alone before
    the query in the bare one). The assistant turns are the aligned model's (engine/conversation.py).
    """

    query: str
    urial: str | None = None
    params: DecodingParams = field(default_factory=DecodingParams)
    live: bool = True
    keep_aligned: ComparisonResult | None = None
    keep_base: ComparisonResult | None = None
    force: Mapping[Side, tuple[int, ...]] = field(default_factory=dict)
    history: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rescored:
    """The finished aligned answer re-scored under base + an edited URIAL prompt."""

    tokens: list[TokenEvent]
    summary: SideSummary
    bare: SideSummary
    closure: float | None


class _SideRun:
    """One side's generation: its steps, the answer they grow (engine/answer.py) and what is measured."""

    def __init__(self, side: Side, own: Backend, prompt_ids: list[int], params: DecodingParams, stops: bool,
                 forced: Sequence[int] = ()):
        self.side = side
        self.prompt_ids = prompt_ids
        self.forced = tuple(forced)
        self.steps = _forced_then_generated(own, prompt_ids, self.forced, params)
        self.answer = GrowingAnswer(own.tokenizer, stops, prompt_ids)
        # the steps taken but not yet released into the answer; steps[i] is the answer's token _first + i
        # (released steps are dropped: their logits rows are large, and are measured once)
        self._pending: list[Step] = []
        self._first = 0
        self.unscored: list[Step] = []  # released into the answer, with their texts in `texts`, not yet measured
        self.texts: list[str] = []
        self.events: list[TokenEvent] = []
        self.started = time.perf_counter()
        self.elapsed = 0.0

    @property
    def active(self) -> bool:
        return not self.answer.ended

    @property
    def reason(self) -> str:
        return self.answer.reason or ""

    def advance(self, cancel: CancelToken) -> None:
        """Generate one token (or stop, when cancelled); release what can no longer be part of a stop."""
        step = None if cancel.cancelled else next(self.steps, None)
        if step is None:
            self.answer.end("cancelled" if cancel.cancelled else "length")
        else:
            self._pending.append(step)
            self.answer.add(step.id)
        released = self.answer.take_released()
        for index, text in released:
            self.unscored.append(self._pending[index - self._first])
            self.texts.append(text)
        if released:
            done = released[-1][0] + 1 - self._first
            del self._pending[:done]
            self._first += done
        if self.answer.ended:
            self.elapsed = time.perf_counter() - self.started
            self.steps.close()  # a server's stream is closed now (stop string, cancel), not when collected

    @property
    def rate(self) -> float:
        """Tokens per second of this side so far."""
        elapsed = self.elapsed or (time.perf_counter() - self.started)
        return len(self.events) / elapsed if elapsed > 0 else 0.0


def _forced_then_generated(own: Backend, prompt_ids: list[int], forced: tuple[int, ...],
                           params: DecodingParams) -> Generator[Step, None, None]:
    """The forced tokens as steps, each with the row its model would have drawn it from, then the
    model's own generation after them (within the same token budget)."""
    if forced:
        if not own.can_score:
            raise BadInput(f"{own.name} cannot score given tokens, so its answer cannot start with forced tokens")
        scorer = own.scorer()
        scorer.set_context(prompt_ids)
        rows = scorer.score(list(forced))
        vocab = own.tokenizer.vocab_size  # as in generation: padded output rows are not tokens
        for token, row in zip(forced[: params.max_new_tokens], rows):
            yield Step(token, row if isinstance(row, TopK) else row[:vocab])
    if params.max_new_tokens > len(forced):
        yield from own.generate(prompt_ids + list(forced), replace(params, max_new_tokens=params.max_new_tokens - len(forced)))


class Comparator:
    """A loaded base/aligned pair and the scorers that keep their prompt caches between runs."""

    def __init__(self, base: Backend, aligned: Backend, top_k: int = 10, vocab: SharedVocab | None = None) -> None:
        self.base = base
        self.aligned = aligned
        self.top_k = top_k
        self.vocab = vocab or shared_vocab(base, aligned)  # `notice` says how the vocabularies differ, if they do
        # held for any model work on this pair: a run, a re-score and diversity sampling share the
        # cached scorers (also when two apps share one comparator)
        self.lock = threading.Lock()
        # None where a model cannot score given tokens: that side's measures are unavailable
        self._under_base = base.scorer() if base.can_score else None  # aligned tokens, base + URIAL context
        self._under_base_bare = base.scorer() if base.can_score else None  # aligned tokens, base + bare context
        self._under_aligned = aligned.scorer() if aligned.can_score else None  # base tokens, aligned chat context
        self._aligned_own = aligned.scorer() if aligned.can_score else None  # aligned answers re-read for a re-score
        self._own_rows: tuple[tuple[int, ...], Rows] | None = None

    @classmethod
    def load(cls, base: ModelSpec, aligned: ModelSpec, top_k: int = 10, progress: PairProgress | None = None) -> Comparator:
        """Load both models (checking their vocabularies match); `progress` hears each step."""
        b, a, vocab = load_checked_pair(base, aligned, progress)
        return cls(b, a, top_k=top_k, vocab=vocab)

    def prompts(self, query: str, urial: str | None,
                history: Sequence[tuple[str, str]] = ()) -> tuple[list[int], list[int]]:
        """The aligned model's and the base model's prompt ids for `query` after `history`."""
        check_query(query)
        aligned_ids = self.aligned.tokenizer.chat_ids(query, history)
        return aligned_ids, self._base_ids(query, urial, history)

    def _base_ids(self, query: str, urial: str | None, history: Sequence[tuple[str, str]] = ()) -> list[int]:
        return self.base.tokenizer.encode(base_prompt(query, urial, history), add_bos=True)

    def answer_room(self, aligned_ids: list[int], base_ids: list[int]) -> int:
        """How many answer tokens fit: each answer is also read in the other model's context."""
        room = min(self.aligned.context_length - len(aligned_ids), self.base.context_length - len(base_ids))
        if room < 1:
            raise ContextOverflow(
                f"the prompts ({len(aligned_ids)} aligned / {len(base_ids)} base tokens) leave no room in the "
                f"models' context ({self.aligned.context_length} / {self.base.context_length} tokens): "
                "shorten the query or the URIAL prompt"
            )
        return room

    def run(self, request: ComparisonRequest, cancel: CancelToken | None = None) -> Iterator[Event]:
        """Stream a comparison: RunStarted, TokenEvents of both sides, SideFinished x2, RunFinished."""
        cancel = cancel or CancelToken()
        aligned_ids, base_ids = self.prompts(request.query, request.urial, request.history)
        room = self.answer_room(aligned_ids, base_ids)
        params = replace(request.params, max_new_tokens=min(request.params.max_new_tokens, room))
        kept = request.keep_aligned
        if kept is not None and (kept.query != request.query or kept.aligned.prompt_ids != aligned_ids):
            raise BadInput("only the base side can be re-run on the same query: run both sides for a new one")
        kept_base = request.keep_base
        if kept_base is not None and (kept is not None or kept_base.query != request.query
                                      or kept_base.aligned.prompt_ids != aligned_ids
                                      or kept_base.base.prompt_ids != base_ids):
            raise BadInput("only the aligned side can be re-run with the base answer kept, on the same query and prompts")
        yield RunStarted(tuple(aligned_ids), tuple(base_ids))
        if kept is not None:
            yield from self._rerun_base(request, kept, base_ids, params, cancel)
            return
        if kept_base is not None:
            yield from self._rerun_aligned(request, kept_base, aligned_ids, base_ids, params, cancel)
            return

        bare = request.urial is not None and self._under_base_bare is not None
        if self._under_base is not None:
            self._under_base.set_context(base_ids)
        if self._under_aligned is not None:
            self._under_aligned.set_context(aligned_ids)
        bare_ids = self._base_ids(request.query, None, request.history) if bare else None
        if self._under_base_bare is not None and bare_ids is not None:
            self._under_base_bare.set_context(bare_ids)
        sides = (
            _SideRun("aligned", self.aligned, aligned_ids, params, stops=False, forced=request.force.get("aligned", ())),
            _SideRun("base", self.base, base_ids, params, stops=True, forced=request.force.get("base", ())),
        )
        aligned_bare: list[TokenEvent] | None = [] if bare else None
        yield from self._drive(sides, request.live, cancel, aligned_bare)
        yield RunFinished(ComparisonResult(
            query=request.query,
            urial=request.urial,
            params=request.params,
            aligned=self._side_result(sides[0]),
            base=self._side_result(sides[1]),
            summary=summarize_pair(sides[0].events, sides[1].events, aligned_bare),
            aligned_bare=aligned_bare,
            cancelled=cancel.cancelled,
            bare_prompt_ids=bare_ids,
            history=request.history,
        ))

    def _rerun_base(self, request: ComparisonRequest, kept: ComparisonResult, base_ids: list[int],
                    params: DecodingParams, cancel: CancelToken) -> Iterator[Event]:
        """The kept aligned answer re-scored under the new base prompt, then a new base answer."""
        rescored = self.rescore_aligned(kept, request.urial)
        assert rescored is not None  # not cancellable here: the run's own cancel stops the base side
        yield from rescored.tokens
        yield SideFinished("aligned", kept.aligned.finish_reason, kept.aligned.text, kept.aligned.tokens_per_s)
        if self._under_aligned is not None:
            self._under_aligned.set_context(kept.aligned.prompt_ids)
        run = _SideRun("base", self.base, base_ids, params, stops=True, forced=request.force.get("base", ()))
        yield from self._drive((run,), request.live, cancel, None)
        if request.urial is None:
            bare = None
        else:  # the bare prompt does not change with the URIAL prompt: the kept scoring stands
            bare = kept.bare_tokens
        aligned = replace(kept.aligned, tokens=rescored.tokens)
        yield RunFinished(ComparisonResult(
            query=request.query, urial=request.urial, params=request.params, aligned=aligned,
            base=self._side_result(run), summary=summarize_pair(rescored.tokens, run.events, bare),
            aligned_bare=bare, cancelled=cancel.cancelled,
            bare_prompt_ids=None if bare is None else self._base_ids(request.query, None, request.history),
            history=request.history,
        ))

    def _rerun_aligned(self, request: ComparisonRequest, kept: ComparisonResult, aligned_ids: list[int],
                       base_ids: list[int], params: DecodingParams, cancel: CancelToken) -> Iterator[Event]:
        """The kept base answer as it was (its measures read the aligned prompt and the base answer only,
        both unchanged), then a new aligned answer measured as in a full run."""
        yield from kept.base.tokens
        yield SideFinished("base", kept.base.finish_reason, kept.base.text, kept.base.tokens_per_s)
        bare = request.urial is not None and self._under_base_bare is not None
        if self._under_base is not None:
            self._under_base.set_context(base_ids)
        bare_ids = self._base_ids(request.query, None, request.history) if bare else None
        if self._under_base_bare is not None and bare_ids is not None:
            self._under_base_bare.set_context(bare_ids)
        run = _SideRun("aligned", self.aligned, aligned_ids, params, stops=False, forced=request.force.get("aligned", ()))
        aligned_bare: list[TokenEvent] | None = [] if bare else None
        yield from self._drive((run,), request.live, cancel, aligned_bare)
        yield RunFinished(ComparisonResult(
            query=request.query, urial=request.urial, params=request.params, aligned=self._side_result(run),
            base=replace(kept.base, tokens=list(kept.base.tokens)),
            summary=summarize_pair(run.events, kept.base.tokens, aligned_bare), aligned_bare=aligned_bare,
            cancelled=cancel.cancelled, bare_prompt_ids=bare_ids, history=request.history,
        ))

    def _drive(self, runs: Sequence[_SideRun], live: bool, cancel: CancelToken,
               aligned_bare: list[TokenEvent] | None) -> Iterator[Event]:
        """Advance the sides in turn, one token each, until every one has ended; yield each side's
        token events as they are measured (`live`: every declared chunk, else once at its end), a
        BareScores after each batch of aligned ones when `aligned_bare` collects them, and a
        SideFinished per side."""
        while any(run.active for run in runs):
            for run in runs:
                if not run.active:
                    continue
                run.advance(cancel)
                if not run.active or (live and len(run.unscored) >= self._live_chunk(run.side)):
                    yield from self._measure(run, aligned_bare)
                if not run.active:
                    yield SideFinished(run.side, run.reason, self._text(run), run.rate)

    def compare(self, request: ComparisonRequest, cancel: CancelToken | None = None) -> ComparisonResult:
        """Run to the end and return the result (for batch use)."""
        for event in self.run(request, cancel):
            if isinstance(event, RunFinished):
                return event.result
        raise AssertionError("a run always ends with RunFinished")

    def _measure(self, run: _SideRun, aligned_bare: list[TokenEvent] | None) -> Iterator[Event]:
        """Score what `run` released under the other model (an aligned side also under base + the
        bare prompt, when `aligned_bare` collects those) and yield the new events."""
        if not run.unscored:
            return
        steps, run.unscored = run.unscored, []
        texts, run.texts = run.texts, []
        ids = [s.id for s in steps]
        own = Rows.of_steps(steps)
        start = len(run.events)
        scorer = self._under_base if run.side == "aligned" else self._under_aligned
        other = self._score(scorer, ids) if scorer is not None else None
        events = measure(run.side, start, ids, texts, own, other, self.vocab, self.top_k)
        run.events.extend(events)
        yield from events
        if run.side == "aligned" and aligned_bare is not None and self._under_base_bare is not None:
            bare = measure(run.side, start, ids, texts, own, self._score(self._under_base_bare, ids), self.vocab,
                           self.top_k)
            yield BareScores(tuple(bare))
            aligned_bare.extend(bare)

    def _score(self, scorer: Scorer, ids: list[int]) -> Rows:
        """The other model's rows along `ids`. A foreign id (engine/vocab.py) is not fed to it, since
        it has no such token: its row, and the next token's, come from the context without it."""
        if all(self.vocab.shared(i) for i in ids):
            return Rows.of(scorer.score(ids))
        rows, run = [], []
        for i in [*ids, None]:
            if i is not None and self.vocab.shared(i):
                run.append(i)
                continue
            if run:
                rows.append(Rows.of(scorer.score(run)))
                run = []
            if i is not None:
                rows.append(Rows.of_row(scorer.next_logits))
        return Rows.cat(rows)

    def _live_chunk(self, side: Side) -> int:
        """Tokens scored per call while streaming: the scoring model's declared chunk."""
        scoring = self.base if side == "aligned" else self.aligned
        return scoring.score_chunk if scoring.can_score else 1

    def _text(self, run: _SideRun) -> str:
        return "".join(e.text for e in run.events)

    def _side_result(self, run: _SideRun) -> SideResult:
        return SideResult(
            prompt_ids=list(run.prompt_ids),
            tokens=run.events,
            text=self._text(run),
            finish_reason=run.reason,
            tokens_per_s=run.rate,
            forced=min(len(run.forced), len(run.events)),
        )

    def _aligned_rows(self, result: ComparisonResult, scorer: Scorer) -> Rows:
        """The aligned model's own rows along its answer: one forward pass, kept for repeated edits."""
        key = (*result.aligned.prompt_ids, -1, *(t.id for t in result.aligned.tokens))
        if self._own_rows is None or self._own_rows[0] != key:
            scorer.set_context(result.aligned.prompt_ids)
            self._own_rows = (key, Rows.of(scorer.score([t.id for t in result.aligned.tokens])))
        return self._own_rows[1]

    def rescore_aligned(self, result: ComparisonResult, urial: str | None,
                        cancel: CancelToken | None = None) -> Rescored | None:
        """Re-score the finished aligned answer under base + `urial`, reusing the cached prompt prefix;
        None when `cancel` stopped it (between passes of RESCORE_CHUNK answer tokens)."""
        if self._under_base is None or self._aligned_own is None:
            cannot = self.base if self._under_base is None else self.aligned
            raise AlignTermError(f"{cannot.name} cannot score given tokens, so the answer cannot be re-scored "
                                 "under an edited URIAL prompt")
        ids = [t.id for t in result.aligned.tokens]
        base_ids = self._base_ids(result.query, urial, result.history)
        if len(base_ids) + len(ids) > self.base.context_length:
            raise ContextOverflow(
                f"the URIAL prompt ({len(base_ids)} tokens) and the answer ({len(ids)}) do not fit the base "
                f"model's context of {self.base.context_length} tokens"
            )
        if not ids:
            empty = shift.summarize([])
            return Rescored([], empty, empty, None)
        own = self._aligned_rows(result, self._aligned_own)
        self._under_base.set_context(base_ids)
        parts = []
        for start in range(0, len(ids), RESCORE_CHUNK):
            if cancel is not None and cancel.cancelled:
                return None
            parts.append(self._score(self._under_base, ids[start : start + RESCORE_CHUNK]))
        texts = [t.text for t in result.aligned.tokens]
        tokens = measure("aligned", 0, ids, texts, own, Rows.cat(parts), self.vocab, self.top_k)
        summary = shift.summarize(tokens)
        bare = shift.summarize(tokens if urial is None else result.bare_tokens)
        return Rescored(tokens, summary, bare, shift.closure(bare, summary) if urial is not None else None)


def summarize_pair(
    aligned: list[TokenEvent], base: list[TokenEvent], aligned_bare: list[TokenEvent] | None
) -> Summary:
    """Both sides' summaries, plus the bare baseline and the closure when URIAL was used."""
    a = shift.summarize(aligned)
    bare = shift.summarize(aligned_bare) if aligned_bare is not None else None
    return Summary(
        aligned=a,
        base=shift.summarize(base),
        aligned_bare=bare,
        closure=shift.closure(bare, a) if bare is not None else None,
    )
