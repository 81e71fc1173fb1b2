"""URIAL example ablation (issue #20): which part of a URIAL prompt does the work.

For one finished comparison the aligned answer is kept and re-scored under base + variants of
the run's URIAL prompt (engine/prompts.py `split_urial`: a preamble and numbered examples):
the full prompt, each example removed, the preamble alone, each example alone, and the bare
prompt, the closure's denominator. Per variant: its shifted share, its in-context closure and
the answer positions it recovers (architecture §1).

Every variant goes through `Comparator.rescore_aligned` on the comparator's one base scorer, in
an order where consecutive prompts share long prefixes, so the KV cache re-feeds only from the
first example that differs (docs/decisions.md, "URIAL ablation").
"""

from __future__ import annotations

from dataclasses import dataclass

from . import shift
from .compare import Comparator, Rescored
from .errors import BadInput
from .events import ComparisonResult, SideSummary
from .prompts import example_query, split_urial
from .values import CancelToken


@dataclass(frozen=True)
class Variant:
    """One prompt of the ablation: its name, the example numbers it holds (1-based, in prompt
    order) and its URIAL text (None: the bare prompt)."""

    name: str
    examples: tuple[int, ...]
    urial: str | None


@dataclass(frozen=True)
class VariantScore:
    """The aligned answer under base + one variant."""

    name: str
    examples: tuple[int, ...]
    summary: SideSummary
    closure: float | None  # against the bare variant of the same ablation
    recovered: tuple[int, ...]  # answer positions shifted under the bare prompt and not under this one

    @property
    def shifted_share(self) -> float | None:
        """Share of the scored tokens that are shifted; None when none was scored."""
        return self.summary.share("shifted") if self.summary.scored else None


@dataclass(frozen=True)
class Ablation:
    """Every variant's score, in `variants()` order (full first, bare last)."""

    example_queries: tuple[str, ...]  # example k's query is example_queries[k - 1]
    scores: tuple[VariantScore, ...]

    def score(self, name: str) -> VariantScore:
        """The score of the variant called `name` (KeyError for a variant this prompt does not have)."""
        return {s.name: s for s in self.scores}[name]


def variants(urial: str) -> list[Variant]:
    """The ablation's prompts for `urial`: full, without k (each k), preamble, only k (each k),
    bare. A variant with the same examples as an earlier one (with one or two examples) or with
    no text at all (no preamble, no example: that is the bare prompt) is left out."""
    preamble, examples = split_urial(urial)
    everything = tuple(range(1, len(examples) + 1))
    sets = [("full", everything)]
    sets += [(f"without {k}", tuple(i for i in everything if i != k)) for k in everything]
    sets += [("preamble", ())]
    sets += [(f"only {k}", (k,)) for k in everything]
    out: list[Variant] = []
    for name, held in sets:
        text = preamble + "".join(examples[i - 1] for i in held)
        if text.strip() and all(v.examples != held for v in out):
            out.append(Variant(name, held, text))
    return [*out, Variant("bare", (), None)]


def scoring_order(chosen: list[Variant]) -> list[Variant]:
    """`chosen` in the order the scorer reads them: each example set after every set it is a prefix
    of (the trie of example sequences, children first), so the next prompt re-feeds only the
    examples past their common prefix, often none; full comes first, since a run leaves its cache
    there, and bare, which shares nothing past the BOS, last."""
    past_every_example = 1 << 30

    def key(v: Variant) -> tuple[int, tuple[int, ...]]:
        return (v.urial is None, (*v.examples, past_every_example))

    return sorted(chosen, key=key)


def ablate(comparator: Comparator, result: ComparisonResult, cancel: CancelToken | None = None) -> Ablation | None:
    """Score `result`'s aligned answer under every variant of its URIAL prompt; None when `cancel`
    stopped it (between variants, or between passes of a re-score). Hold `comparator.lock` as for
    any model work. Raises BadInput for a bare-prompt run and, where a model cannot score given
    tokens, the re-score's own error."""
    if result.urial is None:
        raise BadInput("the comparison used the bare prompt (--urial none): there is no URIAL prompt to ablate")
    chosen = variants(result.urial)
    scored: dict[str, Rescored] = {}
    for variant in scoring_order(chosen):
        if cancel is not None and cancel.cancelled:
            return None
        rescored = comparator.rescore_aligned(result, variant.urial, cancel)
        if rescored is None:
            return None
        scored[variant.name] = rescored
    bare = scored["bare"]
    scores = []
    for variant in chosen:
        mine = scored[variant.name]
        recovered = shift.recovered(bare.tokens, mine.tokens)
        scores.append(VariantScore(
            name=variant.name,
            examples=variant.examples,
            summary=mine.summary,
            closure=shift.closure(bare.summary, mine.summary),
            recovered=tuple(t.position for t, r in zip(bare.tokens, recovered) if r),
        ))
    _, examples = split_urial(result.urial)
    return Ablation(tuple(example_query(e) for e in examples), tuple(scores))
