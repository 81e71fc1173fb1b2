"""Nudged decoding (Fei, Razeghi, Singh, "Nudging: Inference-time Alignment via Model Collaboration",
arXiv 2410.09300; docs/decisions.md, "Nudged decoding"): the base model answers with its own prompt
(URIAL or bare), and where it is unsure the aligned model writes the next word.

The rule, at each answer position, with p = the base model's top-1 probability there:

- the base is writing: it keeps its token if p >= γ; if p < γ the aligned model takes over and
  writes at least one word, starting with its own token here;
- the aligned model is writing: a token of its that continues the current word is kept; at a token
  that starts a new word (its text begins with whitespace) the base takes back over, with its own
  token, if p >= γ, else the aligned model writes that word too.

Both models keep a KV cache over the same answer (engine/backend.py's scorers): the base steps once
per token, the aligned model once per token it writes, plus one pass to catch up with the base's
tokens when a nudge starts. The answer ends as the comparison's base answer does (engine/answer.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .answer import GrowingAnswer
from .diversity import jaccard, word_bags
from .errors import BadInput
from .events import (
    Chooser,
    ComparisonResult,
    NudgedToken,
    NudgeEvent,
    NudgeFinished,
    NudgeResult,
    NudgeSummary,
    TopEntry,
)
from .rows import Rows
from .values import CancelToken, DecodingParams, TopK

if TYPE_CHECKING:
    import torch

    from .backend import Backend, Tokenizer
    from .compare import Comparator

# γ as the reference implementation documents it: its README example and its notebook default (docs/decisions.md).
DEFAULT_GAMMA = 0.4


def check_gamma(gamma: float) -> float:
    """γ must be a probability: in [0, 1]."""
    if not 0.0 <= gamma <= 1.0:  # also refuses NaN
        raise BadInput(f"--gamma must be in [0, 1] (got {gamma})")
    return gamma


def starts_word(tokenizer: Tokenizer, token_id: int) -> bool:
    """True when the token's own text begins with whitespace: it opens a new word."""
    return tokenizer.piece(token_id)[:1].isspace()


class _Decoder:
    """One model's side of a nudged run: its scorer, its sampling generator and its choice."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.scorer = backend.scorer()
        self.params = DecodingParams()
        self._gen: torch.Generator | None = None

    def restart(self, params: DecodingParams) -> None:
        """A new run: its parameters, and a fresh sampling generator (seeded at the first draw)."""
        self.params = params
        self._gen = None

    def choose(self, history: list[int]) -> tuple[int, float, torch.Tensor | TopK]:
        """The token this model picks after `history` (its context), its top-1 probability there, and the row."""
        row = self.scorer.next_logits
        if isinstance(row, TopK):  # a server's top-k: its most likely token is known, nothing to sample from
            if not self.params.greedy or self.params.repetition_penalty != 1.0 or not row.ids:
                raise BadInput(f"{self.backend.name} gives only its top-k, so nudged decoding with it is greedy "
                               "only (--temperature 0, --repetition-penalty 1)")
            return row.ids[0], math.exp(row.logprobs[0]), row
        import torch

        from .sampling import pick_token  # torch stays a lazy import: the CLI checks --gamma with this module

        logits = row[: self.backend.tokenizer.vocab_size]  # padded output rows are not tokens
        if self._gen is None and not self.params.greedy:
            self._gen = torch.Generator(device=logits.device).manual_seed(self.params.seed)
        top1 = float(torch.softmax(logits.float(), -1).max())
        return pick_token(logits, self.params, history, self._gen), top1, row


class Nudger:
    """Nudged runs over a comparator's loaded pair, with their own two KV caches (kept between runs,
    so a shared URIAL prefix is fed once). Callers hold `comparator.lock` around a run, as for
    any model work on the pair."""

    def __init__(self, comparator: Comparator) -> None:
        for model in (comparator.base, comparator.aligned):
            if not model.can_score:
                raise BadInput(f"{model.name} cannot score given tokens, so it cannot take part in nudged decoding")
        self._pair = comparator
        self._base = _Decoder(comparator.base)
        self._aligned = _Decoder(comparator.aligned)

    def run(self, query: str, urial: str | None, params: DecodingParams, gamma: float,
            cancel: CancelToken | None = None, reference: ComparisonResult | None = None) -> Iterator[NudgeEvent]:
        """Stream a nudged answer: a NudgedToken per answer token, then NudgeFinished. `reference`, a
        comparison of the same query, gives the summary's similarities to its two answers."""
        check_gamma(gamma)
        cancel = cancel or CancelToken()
        pair = self._pair
        aligned_ids, base_ids = pair.prompts(query, urial)
        budget = min(params.max_new_tokens, pair.answer_room(aligned_ids, base_ids))
        base, aligned = self._base, self._aligned
        base.restart(params)
        aligned.restart(params)
        base.scorer.set_context(base_ids)
        answer = GrowingAnswer(pair.base.tokenizer, True, base_ids)
        taken: list[tuple[Chooser, float, tuple[TopEntry, ...], tuple[TopEntry, ...]]] = []  # per answer.ids
        tokens: list[NudgedToken] = []
        nudging = False  # the aligned model is writing a word
        for step in range(budget):
            if cancel.cancelled:
                answer.end("cancelled")
                break
            out = answer.ids
            token, top1, base_row = base.choose(base_ids + out)
            aligned_row = None
            if nudging or top1 < gamma:
                if not nudging:  # a nudge starts: the aligned cache catches up with the answer in one pass
                    aligned.scorer.set_context(aligned_ids + out)
                mine, _, aligned_row = aligned.choose(aligned_ids + out)
                # a nudge writes whole words: the base takes back over only where a word starts and it is sure
                nudging = not (nudging and top1 >= gamma and starts_word(pair.aligned.tokenizer, mine))
                if nudging:
                    token = mine
            who: Chooser = "aligned" if nudging else "base"
            entry = (who, top1, self._top(base_row, token, "base"),
                     () if aligned_row is None else self._top(aligned_row, token, "aligned"))
            if who == "aligned" and token in pair.aligned.tokenizer.eos_ids:
                answer.end("eos")
            elif who == "aligned" and not pair.vocab.shared(token):  # the base has no such token to read on
                answer.end("foreign")
            else:
                held = len(answer.ids)
                answer.add(token)
                if len(answer.ids) > held:  # not an end of sequence
                    taken.append(entry)
            released = self._released(answer, taken)
            tokens += released
            yield from released
            if answer.ended:
                break
            if step + 1 < budget:  # the last token needs no forward pass of its own
                base.scorer.score([token])
                if nudging:
                    aligned.scorer.score([token])
        answer.end("cancelled" if cancel.cancelled else "length")
        released = self._released(answer, taken)
        tokens += released
        yield from released
        summary = summarize_nudge(tokens, "".join(t.text for t in tokens), reference)
        yield NudgeFinished(NudgeResult(
            query=query, urial=urial, params=params, gamma=gamma, prompt_ids=base_ids, tokens=tokens,
            text="".join(t.text for t in tokens), finish_reason=answer.reason or "", summary=summary,
            cancelled=cancel.cancelled,
        ))

    def _released(self, answer: GrowingAnswer, taken: Sequence[tuple]) -> list[NudgedToken]:
        return [NudgedToken(i, answer.ids[i], text, *taken[i]) for i, text in answer.take_released()]

    def _top(self, row: torch.Tensor | TopK, token: int, model: Chooser) -> tuple[TopEntry, ...]:
        """A model's top-k at one position, as the inspector shows it."""
        k = self._pair.top_k
        (top,) = Rows.of_row(row).as_topk([token], k)
        piece = self._pair.vocab.pieces[model]
        return tuple(TopEntry(i, piece(i), lp) for i, lp in zip(top.ids[:k], top.logprobs[:k]))

    def nudge(self, query: str, urial: str | None, params: DecodingParams, gamma: float,
              cancel: CancelToken | None = None, reference: ComparisonResult | None = None) -> NudgeResult:
        """Run to the end and return the result (for batch use)."""
        for event in self.run(query, urial, params, gamma, cancel, reference):
            if isinstance(event, NudgeFinished):
                return event.result
        raise AssertionError("a nudged run always ends with NudgeFinished")


def summarize_nudge(tokens: Sequence[NudgedToken], text: str, reference: ComparisonResult | None) -> NudgeSummary:
    """The aligned model's share and positions, and the word-Jaccard similarities to `reference`'s answers."""
    positions = tuple(t.position for t in tokens if t.chosen_by == "aligned")
    if reference is None:
        return NudgeSummary(len(tokens), len(positions), positions)
    mine, aligned, base = word_bags([text, reference.aligned.text, reference.base.text])
    return NudgeSummary(len(tokens), len(positions), positions, jaccard(mine, aligned), jaccard(mine, base))
