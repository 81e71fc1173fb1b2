"""What a comparison run emits: the event stream every consumer (TUI, CLI, sessions) reads.

Events are plain frozen dataclasses so they can cross threads and be serialised without
touching a model. Nothing here computes a measure; `engine.shift` and `engine.compare` do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .values import DecodingParams

Side = Literal["aligned", "base"]
Category = Literal["unshifted", "marginal", "shifted"]
SIDES: tuple[Side, Side] = ("aligned", "base")
CATEGORIES: tuple[Category, Category, Category] = ("unshifted", "marginal", "shifted")


@dataclass(frozen=True)
class LoadingStep:
    """How far loading a pair is (before any run): `text` for a status line ("loading the base
    model… Loading weights 3/10"), the side it concerns (None for a step of the pair, such as
    checking the vocabularies) and, on the step that starts a side, the spec it loads from.
    A `warning` is worth more than a passing status line (the pair will barely fit in memory)."""

    text: str
    side: Side | None = None
    source: str = ""
    warning: bool = False


PairProgress = Callable[[LoadingStep], None]


@dataclass(frozen=True)
class TopEntry:
    """One candidate of a model's top-k at a position."""

    id: int
    text: str
    logprob: float


@dataclass(frozen=True)
class TokenEvent:
    """One answer token with its measures under its own model and under the other one.

    For the aligned side "other" is the base model (TDS); for the base side it is the
    aligned model (reverse shift). Where the other model's distribution is known only as a
    server's top-k, `rank_exact` is False when the token was outside it: `other_rank` is
    then k + 1, a lower bound (shown as "> k"), and `kl` is None. Where the other model
    cannot score given tokens at all (llama.cpp's own server), every `other_*` measure and
    `shift` are None: unavailable, never guessed.
    """

    side: Side
    position: int
    id: int
    text: str
    logprob: float
    other_logprob: float | None
    other_rank: int | None
    shift: Category | None
    kl: float | None
    top: tuple[TopEntry, ...] = ()
    other_top: tuple[TopEntry, ...] = ()
    rank_exact: bool = True

    @property
    def scored(self) -> bool:
        """False when the other model could not score this token (its measures are unavailable)."""
        return self.shift is not None

    @property
    def top1_differs(self) -> bool:
        """True when the two models' most probable tokens differ at this position."""
        if not self.top or not self.other_top:
            return False
        return self.top[0].id != self.other_top[0].id


@dataclass(frozen=True)
class SideSummary:
    """Counts and shares of one answer's categories, and where the shifts are.

    `unscored` counts tokens the other model could not score; shares are of the scored ones.
    """

    n: int
    unshifted: int
    marginal: int
    shifted: int
    # shifted count per position bucket: bucket i covers positions [i*size, (i+1)*size)
    bucket_size: int = 8
    shifted_by_bucket: tuple[int, ...] = ()
    tokens_by_bucket: tuple[int, ...] = ()
    top_shifted: tuple[tuple[str, int], ...] = ()
    mean_kl: float | None = None
    unscored: int = 0

    @property
    def scored(self) -> int:
        return self.n - self.unscored

    def share(self, category: Category) -> float:
        """Fraction of the scored tokens in `category` (0.0 when none was scored)."""
        return getattr(self, category) / self.scored if self.scored else 0.0

    def counts(self) -> dict[str, int]:
        return {"n": self.n, "unshifted": self.unshifted, "marginal": self.marginal, "shifted": self.shifted,
                "unscored": self.unscored}


@dataclass(frozen=True)
class Summary:
    """The run's summary: both sides, and the bare-prompt baseline when URIAL was used."""

    aligned: SideSummary
    base: SideSummary
    aligned_bare: SideSummary | None = None
    closure: float | None = None


@dataclass(frozen=True)
class RunStarted:
    """Both prompts are built and tokenised; tokens follow."""

    aligned_prompt_ids: tuple[int, ...]
    base_prompt_ids: tuple[int, ...]


@dataclass(frozen=True)
class BareScores:
    """The aligned tokens just yielded, scored under base + the bare prompt (the paper's TDS setting).

    Only in a run with a URIAL prompt, right after each batch of aligned TokenEvents and for
    the same positions, so a consumer can show either lens while the answer streams; the
    finished run holds them all as `ComparisonResult.aligned_bare`.
    """

    tokens: tuple[TokenEvent, ...]


@dataclass(frozen=True)
class SideFinished:
    """One side stopped: "eos", "stop" (a URIAL stop string), "length" or "cancelled"."""

    side: Side
    reason: str
    text: str
    tokens_per_s: float


@dataclass
class SideResult:
    """One side's answer with its measures."""

    prompt_ids: list[int]
    tokens: list[TokenEvent] = field(default_factory=list)
    text: str = ""
    finish_reason: str = ""
    tokens_per_s: float = 0.0
    forced: int = 0  # its first `forced` tokens were forced, not chosen by the model (a fork)


@dataclass
class ComparisonResult:
    """Everything a finished (or cancelled) run produced."""

    query: str
    urial: str | None  # the URIAL prompt text; None = the bare prompt
    params: DecodingParams
    aligned: SideResult
    base: SideResult
    summary: Summary
    aligned_bare: list[TokenEvent] | None = None
    cancelled: bool = False
    # the bare prompt the aligned_bare scores were read after (exported so closure can be recomputed);
    # not part of a session file, nor of equality
    bare_prompt_ids: list[int] | None = field(default=None, compare=False)
    history: tuple[tuple[str, str], ...] = ()  # the earlier (user, assistant) turns of a conversation

    def side(self, side: Side) -> SideResult:
        return self.aligned if side == "aligned" else self.base

    @property
    def bare_tokens(self) -> list[TokenEvent]:
        """The aligned answer scored under base + bare prompt: `aligned_bare` after a URIAL run, or
        the aligned tokens themselves when the run used the bare prompt."""
        return self.aligned_bare if self.aligned_bare is not None else self.aligned.tokens


@dataclass(frozen=True)
class RunFinished:
    """The last event of every run, cancelled or not."""

    result: ComparisonResult


Event = RunStarted | TokenEvent | BareScores | SideFinished | RunFinished

Chooser = Literal["base", "aligned"]


@dataclass(frozen=True)
class NudgedToken:
    """One token of a nudged answer (engine/nudge.py): which model chose it and how sure the base
    model was there (its top-1 probability, the quantity compared with γ). `top` is the base's
    top-k at this position; `aligned_top` the aligned model's, where it was consulted (else ())."""

    position: int
    id: int
    text: str
    chosen_by: Chooser
    base_top1: float
    top: tuple[TopEntry, ...] = ()
    aligned_top: tuple[TopEntry, ...] = ()


@dataclass(frozen=True)
class NudgeSummary:
    """How much of a nudged answer the aligned model wrote, where, and how close the answer is (word
    Jaccard over content words, engine/diversity.py) to the aligned answer and to the base answer of
    the same comparison (None where no comparison was given)."""

    n: int
    aligned: int
    aligned_positions: tuple[int, ...]
    similarity_aligned: float | None = None
    similarity_base: float | None = None

    @property
    def aligned_share(self) -> float:
        """Fraction of the answer's tokens the aligned model chose (0.0 for an empty answer)."""
        return self.aligned / self.n if self.n else 0.0


@dataclass
class NudgeResult:
    """A finished (or cancelled) nudged run: the base model decoding with the base prompt
    (`prompt_ids`), nudged by the aligned model where its top-1 probability fell below `gamma`."""

    query: str
    urial: str | None
    params: DecodingParams
    gamma: float
    prompt_ids: list[int]
    tokens: list[NudgedToken]
    text: str
    finish_reason: str
    summary: NudgeSummary
    cancelled: bool = False


@dataclass(frozen=True)
class NudgeFinished:
    """The last event of every nudged run, cancelled or not."""

    result: NudgeResult


NudgeEvent = NudgedToken | NudgeFinished
