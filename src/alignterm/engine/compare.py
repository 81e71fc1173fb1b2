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
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from . import shift
from .backend import Backend
from .errors import AlignTermError, BadInput, ContextOverflow
from .events import (
    BareScores,
    ComparisonResult,
    Event,
    RunFinished,
    RunStarted,
    Side,
    SideFinished,
    SideResult,
    SideSummary,
    Summary,
    TokenEvent,
    TopEntry,
)
from .loading import load_checked_pair
from .prompts import base_prompt, check_query, may_start_stop, stop_cut, strip_closing
from .token_text import TextStream
from .values import CancelToken, DecodingParams, ModelSpec, Step, TopK
from .vocab import SharedVocab, shared_vocab

if TYPE_CHECKING:
    import torch

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
    """

    query: str
    urial: str | None = None
    params: DecodingParams = field(default_factory=DecodingParams)
    live: bool = True
    keep_aligned: ComparisonResult | None = None


@dataclass(frozen=True)
class Rescored:
    """The finished aligned answer re-scored under base + an edited URIAL prompt."""

    tokens: list[TokenEvent]
    summary: SideSummary
    bare: SideSummary
    closure: float | None


def measure(
    side: Side,
    start: int,
    ids: Sequence[int],
    own: torch.Tensor,
    other: torch.Tensor,
    texts: Sequence[str],
    vocab: SharedVocab,
    top_k: int,
) -> list[TokenEvent]:
    """Token events for ids (positions start..), from own and other model logits [T, V]."""
    import torch

    # Output layers may be padded past the tokenizers: a model's own measures are over its
    # tokens, the cross-model ones (rank, KL) over the ids both models share.
    other_side = "base" if side == "aligned" else "aligned"
    own, other = own[..., : vocab.sizes[side]], other[..., : vocab.sizes[other_side]].to(own.device)
    width = min(own.shape[-1], other.shape[-1], vocab.size)
    ids_own = torch.tensor(list(ids), device=own.device)
    ids_t = ids_own.clamp(max=width - 1)  # a foreign id has no measure under the other model: nulled in _event
    own_lp = torch.log_softmax(own, -1)
    other_lp = torch.log_softmax(other, -1)
    shared_own, shared_other = own[..., :width], other[..., :width]
    ranks = shift.ranks(shared_other, ids_t)
    # KL(P_align || P_base) on both sides: for the base side "other" is the aligned model
    kl = (shift.kl_divergence(shared_own, shared_other) if side == "aligned"
          else shift.kl_divergence(shared_other, shared_own))
    own_top = own_lp.topk(min(top_k, own_lp.shape[-1]), dim=-1)
    other_top = other_lp.topk(min(top_k, other_lp.shape[-1]), dim=-1)
    rows = zip(
        ids,
        own_lp.gather(-1, ids_own[:, None])[:, 0].tolist(),
        other_lp.gather(-1, ids_t[:, None])[:, 0].tolist(),
        ranks.tolist(),
        kl.tolist(),
        own_top.indices.tolist(),
        own_top.values.tolist(),
        other_top.indices.tolist(),
        other_top.values.tolist(),
    )
    return [
        _event(side, start + i, tid, text, vocab, lp, olp, rank, d, zip(ti, tv), zip(oi, ov))
        for i, ((tid, lp, olp, rank, d, ti, tv, oi, ov), text) in enumerate(zip(rows, texts))
    ]


def _event(side: Side, position: int, tid: int, text: str, vocab: SharedVocab, lp: float, olp: float | None,
           rank: int | None, kl: float | None, top, other_top, rank_exact: bool = True) -> TokenEvent:
    """One TokenEvent; `top` / `other_top` are (id, logprob) pairs. A token the pair does not share
    (engine/vocab.py) gets no measure under the other model: unavailable, never guessed."""
    own_piece, other_piece = vocab.pieces[side], vocab.pieces["base" if side == "aligned" else "aligned"]
    if not vocab.shared(tid) or rank is None:
        olp, rank, kl, other_top = None, None, None, ()
    return TokenEvent(
        side=side,
        position=position,
        id=tid,
        text=text,
        logprob=lp,
        other_logprob=olp,
        other_rank=rank,
        shift=shift.category(rank) if rank is not None else None,
        kl=kl,
        top=tuple(TopEntry(a, own_piece(a), b) for a, b in top),
        other_top=tuple(TopEntry(a, other_piece(a), b) for a, b in other_top),
        rank_exact=rank_exact,
    )


def as_topk(logits: torch.Tensor, ids: Sequence[int], k: int) -> list[TopK]:
    """Full-vocabulary logits [T, V] seen as TopK rows, exact ranks included (to pair with a server's top-k)."""
    import torch

    ids_t = torch.tensor(list(ids), device=logits.device)
    lp = torch.log_softmax(logits.float(), -1)
    top = lp.topk(min(k, lp.shape[-1]), dim=-1)
    chosen = lp.gather(-1, ids_t[:, None])[:, 0].tolist()
    rows = zip(ids, chosen, shift.ranks(logits, ids_t).tolist(), top.indices.tolist(), top.values.tolist())
    return [TopK(k, tuple(ti), tuple(tv), tid, c, r) for tid, c, r, ti, tv in rows]


def measure_topk(
    side: Side,
    start: int,
    ids: Sequence[int],
    own: torch.Tensor | list[TopK],
    other: torch.Tensor | list[TopK],
    texts: Sequence[str],
    vocab: SharedVocab,
    top_k: int,
) -> list[TokenEvent]:
    """Token events where either model is known only by a server's top-k: ranks beyond k are bounds, KL is None."""
    own = own if isinstance(own, list) else as_topk(own, ids, top_k)
    other = other if isinstance(other, list) else as_topk(other, ids, top_k)
    events = []
    for i, (tid, text, mine, theirs) in enumerate(zip(ids, texts, own, other)):
        rank, exact = theirs.rank()
        top = zip(mine.ids[:top_k], mine.logprobs)
        other_top = zip(theirs.ids[:top_k], theirs.logprobs)
        events.append(_event(side, start + i, tid, text, vocab, mine.token_logprob, theirs.token_logprob, rank, None,
                             top, other_top, exact))
    return events


def measure_unscored(
    side: Side, start: int, ids: Sequence[int], own: torch.Tensor | list[TopK], texts: Sequence[str],
    vocab: SharedVocab, top_k: int
) -> list[TokenEvent]:
    """Token events with the own model's measures only: the other model cannot score given tokens."""
    own = own if isinstance(own, list) else as_topk(own, ids, top_k)
    return [
        _event(side, start + i, tid, text, vocab, mine.token_logprob, None, None, None,
               zip(mine.ids[:top_k], mine.logprobs), ())
        for i, (tid, text, mine) in enumerate(zip(ids, texts, own))
    ]


class _SideRun:
    """One side's generation: what is generated, held back, released and measured."""

    def __init__(self, side: Side, own: Backend, prompt_ids: list[int], params: DecodingParams, stops: bool):
        self.side = side
        self.own = own
        self.steps: Generator[Step, None, None] = own.generate(prompt_ids, params)  # type: ignore[assignment]
        self.stops = stops  # the base side stops at "# Query" and drops the closing fence
        self.held: list[Step] = []  # may still turn out to be fence + stop string
        self.text = TextStream(own.tokenizer.decode, prompt_ids)  # each kept token's text in context
        self.partial: list[Step] = []  # kept, but ending inside a character: no text yet
        self.unscored: list[Step] = []  # kept, with their texts in `texts`, not yet measured
        self.texts: list[str] = []
        self.events: list[TokenEvent] = []
        self.reason = ""
        self.started = time.perf_counter()
        self.elapsed = 0.0

    @property
    def active(self) -> bool:
        return not self.reason

    def advance(self) -> None:
        """Generate one token; release what can no longer be part of a stop."""
        step = next(self.steps, None)
        if step is None:
            self._finish("length")
        elif step.id in self.own.tokenizer.eos_ids:
            self._finish("eos")
        elif not self.stops:
            self._keep([step])
        else:
            self.held.append(step)
            text = self._held_text()
            cut = stop_cut(text)
            if cut is not None:
                self._release_before(cut)
                self._finish("stop")
                return
            while self.held and not may_start_stop(text):
                self._keep([self.held.pop(0)])
                text = self._held_text()

    def cancel(self) -> None:
        self._keep(self.held)
        self.held = []
        self._finish("cancelled")

    def _keep(self, steps: list[Step]) -> None:
        """Steps that are part of the answer: each gets its text once its character is whole."""
        for step in steps:
            self.partial.append(step)
            texts = self.text.push(step.id)
            if texts is not None:
                self._texts_known(texts)

    def _texts_known(self, texts: list[str]) -> None:
        """The partial steps' texts are known (engine/token_text.py): they can be measured."""
        self.texts += texts
        self.unscored += self.partial
        self.partial = []

    def _held_text(self) -> str:
        return self.text.peek([s.id for s in self.held])

    def _release_before(self, cut: int) -> None:
        """Keep the held tokens that end at or before `cut` characters."""
        kept: list[Step] = []
        for s in self.held:
            kept.append(s)
            if len(self.text.peek([k.id for k in kept])) > cut:
                kept.pop()
                break
        self._keep(kept)
        self.held = []

    def _finish(self, reason: str) -> None:
        if self.stops and reason in ("eos", "length") and self.held:
            self._release_before(strip_closing(self._held_text(), len(self._held_text())))
        if self.partial:  # the answer ends inside a character: what is left is its text (U+FFFD)
            self._texts_known(self.text.flush())
        self.reason = reason
        self.elapsed = time.perf_counter() - self.started
        self.steps.close()  # a server's stream is closed now (stop string, cancel), not when collected

    @property
    def rate(self) -> float:
        """Tokens per second of this side so far."""
        elapsed = self.elapsed or (time.perf_counter() - self.started)
        return len(self.events) / elapsed if elapsed > 0 else 0.0


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
        self._own_rows: tuple[tuple[int, ...], torch.Tensor] | None = None

    @classmethod
    def load(cls, base: ModelSpec, aligned: ModelSpec, top_k: int = 10, progress=None) -> Comparator:
        """Load both models (checking their vocabularies match); `progress(step, detail)` hears each step."""
        b, a, vocab = load_checked_pair(base, aligned, progress)
        return cls(b, a, top_k=top_k, vocab=vocab)

    def prompts(self, query: str, urial: str | None) -> tuple[list[int], list[int]]:
        """The aligned model's and the base model's prompt ids for `query`."""
        check_query(query)
        aligned_ids = self.aligned.tokenizer.chat_ids(query)
        return aligned_ids, self._base_ids(query, urial)

    def _base_ids(self, query: str, urial: str | None) -> list[int]:
        return self.base.tokenizer.encode(base_prompt(query, urial), add_bos=True)

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
        aligned_ids, base_ids = self.prompts(request.query, request.urial)
        room = self.answer_room(aligned_ids, base_ids)
        params = replace(request.params, max_new_tokens=min(request.params.max_new_tokens, room))
        kept = request.keep_aligned
        if kept is not None and (kept.query != request.query or kept.aligned.prompt_ids != aligned_ids):
            raise BadInput("only the base side can be re-run on the same query: run both sides for a new one")
        yield RunStarted(tuple(aligned_ids), tuple(base_ids))
        if kept is not None:
            yield from self._rerun_base(request, kept, base_ids, params, cancel)
            return

        bare = request.urial is not None and self._under_base_bare is not None
        if self._under_base is not None:
            self._under_base.set_context(base_ids)
        if self._under_aligned is not None:
            self._under_aligned.set_context(aligned_ids)
        bare_ids = self._base_ids(request.query, None) if bare else None
        if bare:
            self._under_base_bare.set_context(bare_ids)
        sides = (
            _SideRun("aligned", self.aligned, aligned_ids, params, stops=False),
            _SideRun("base", self.base, base_ids, params, stops=True),
        )
        bare_events: list[TokenEvent] = []
        while any(run.active for run in sides):
            for run in sides:
                if not run.active:
                    continue
                if cancel.cancelled:
                    run.cancel()
                else:
                    run.advance()
                if not run.active or (request.live and len(run.unscored) >= self._live_chunk(run.side)):
                    if run.side == "aligned":
                        events = self._measure(run, self._under_base, self._under_base_bare if bare else None)
                        yield from events[0]
                        if events[1]:
                            yield BareScores(tuple(events[1]))
                        bare_events.extend(events[1])
                    else:
                        yield from self._measure(run, self._under_aligned, None)[0]
                if not run.active:
                    yield SideFinished(run.side, run.reason, self._text(run), run.rate)

        aligned_bare = bare_events if bare else None
        result = ComparisonResult(
            query=request.query,
            urial=request.urial,
            params=request.params,
            aligned=self._side_result(sides[0], aligned_ids),
            base=self._side_result(sides[1], base_ids),
            summary=summarize_pair(sides[0].events, sides[1].events, aligned_bare),
            aligned_bare=aligned_bare,
            cancelled=cancel.cancelled,
            bare_prompt_ids=bare_ids,
        )
        yield RunFinished(result)

    def _rerun_base(self, request: ComparisonRequest, kept: ComparisonResult, base_ids: list[int],
                    params: DecodingParams, cancel: CancelToken) -> Iterator[Event]:
        """The kept aligned answer re-scored under the new base prompt, then a new base answer."""
        rescored = self.rescore_aligned(kept, request.urial)
        assert rescored is not None  # not cancellable here: the run's own cancel stops the base side
        yield from rescored.tokens
        yield SideFinished("aligned", kept.aligned.finish_reason, kept.aligned.text, kept.aligned.tokens_per_s)
        if self._under_aligned is not None:
            self._under_aligned.set_context(kept.aligned.prompt_ids)
        run = _SideRun("base", self.base, base_ids, params, stops=True)
        while run.active:
            if cancel.cancelled:
                run.cancel()
            else:
                run.advance()
            if not run.active or (request.live and len(run.unscored) >= self._live_chunk("base")):
                yield from self._measure(run, self._under_aligned, None)[0]
        yield SideFinished("base", run.reason, self._text(run), run.rate)
        if request.urial is None:
            bare = None
        else:  # the bare prompt does not change with the URIAL prompt: the kept scoring stands
            bare = kept.bare_tokens
        aligned = replace(kept.aligned, tokens=rescored.tokens)
        yield RunFinished(ComparisonResult(
            query=request.query, urial=request.urial, params=request.params, aligned=aligned,
            base=self._side_result(run, base_ids), summary=summarize_pair(rescored.tokens, run.events, bare),
            aligned_bare=bare, cancelled=cancel.cancelled,
            bare_prompt_ids=None if bare is None else self._base_ids(request.query, None),
        ))

    def compare(self, request: ComparisonRequest, cancel: CancelToken | None = None) -> ComparisonResult:
        """Run to the end and return the result (for batch use)."""
        for event in self.run(request, cancel):
            if isinstance(event, RunFinished):
                return event.result
        raise AssertionError("a run always ends with RunFinished")

    def _measure(self, run: _SideRun, scorer, bare_scorer) -> tuple[list[TokenEvent], list[TokenEvent]]:
        """Score what `run` released under the other model (and under bare base); new events."""
        if not run.unscored:
            return [], []
        import torch

        steps, run.unscored = run.unscored, []
        texts, run.texts = run.texts, []
        ids = [s.id for s in steps]
        rows = [s.logits for s in steps]
        own = rows if isinstance(rows[0], TopK) else torch.stack(rows)
        start = len(run.events)
        if scorer is None:
            events = measure_unscored(run.side, start, ids, own, texts, self.vocab, self.top_k)
            run.events.extend(events)
            return events, []
        events = self._events(run.side, start, ids, texts, own, self._score(scorer, ids))
        run.events.extend(events)
        bare = self._events(run.side, start, ids, texts, own, self._score(bare_scorer, ids)) if bare_scorer else []
        return events, bare

    def _score(self, scorer, ids: list[int]):
        """The other model's rows along `ids`. A foreign id (engine/vocab.py) is not fed to it, since
        it has no such token: its row, and the next token's, come from the context without it."""
        if all(self.vocab.shared(i) for i in ids):
            return scorer.score(ids)
        import torch

        rows, run = [], []
        for i in [*ids, None]:
            if i is not None and self.vocab.shared(i):
                run.append(i)
                continue
            if run:
                rows.append(scorer.score(run))
                run = []
            if i is not None:
                rows.append(scorer.next_logits.unsqueeze(0))
        return torch.cat(rows)

    def _live_chunk(self, side: Side) -> int:
        """Tokens scored per call while streaming: the scoring model's declared chunk."""
        scoring = self.base if side == "aligned" else self.aligned
        return scoring.score_chunk if scoring.can_score else 1

    def _events(self, side: Side, start: int, ids, texts, own, other) -> list[TokenEvent]:
        if isinstance(own, list) or isinstance(other, list):  # a server's top-k on either side
            return measure_topk(side, start, ids, own, other, texts, self.vocab, self.top_k)
        return measure(side, start, ids, own, other, texts, self.vocab, self.top_k)

    def _text(self, run: _SideRun) -> str:
        return "".join(e.text for e in run.events)

    def _side_result(self, run: _SideRun, prompt_ids: list[int]) -> SideResult:
        return SideResult(
            prompt_ids=list(prompt_ids),
            tokens=run.events,
            text=self._text(run),
            finish_reason=run.reason,
            tokens_per_s=run.rate,
        )

    def _aligned_rows(self, result: ComparisonResult) -> torch.Tensor:
        """The aligned model's own logits [T, V] along its answer: one forward pass, kept for repeated edits."""
        key = (*result.aligned.prompt_ids, -1, *(t.id for t in result.aligned.tokens))
        if self._own_rows is None or self._own_rows[0] != key:
            self._aligned_own.set_context(result.aligned.prompt_ids)
            self._own_rows = (key, self._aligned_own.score([t.id for t in result.aligned.tokens]))
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
        base_ids = self._base_ids(result.query, urial)
        if len(base_ids) + len(ids) > self.base.context_length:
            raise ContextOverflow(
                f"the URIAL prompt ({len(base_ids)} tokens) and the answer ({len(ids)}) do not fit the base "
                f"model's context of {self.base.context_length} tokens"
            )
        if not ids:
            empty = shift.summarize([])
            return Rescored([], empty, empty, None)
        own = self._aligned_rows(result)
        self._under_base.set_context(base_ids)
        parts = []
        for start in range(0, len(ids), RESCORE_CHUNK):
            if cancel is not None and cancel.cancelled:
                return None
            parts.append(self._score(self._under_base, ids[start : start + RESCORE_CHUNK]))
        other = [row for part in parts for row in part] if isinstance(parts[0], list) else _cat(parts)
        tokens = self._events("aligned", 0, ids, [t.text for t in result.aligned.tokens], own, other)
        summary = shift.summarize(tokens)
        bare = shift.summarize(tokens if urial is None else result.bare_tokens)
        return Rescored(tokens, summary, bare, shift.closure(bare, summary) if urial is not None else None)


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    import torch

    return torch.cat(parts)


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
