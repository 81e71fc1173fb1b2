"""Token distribution shift (TDS, Lin et al. 2024): rank, category, KL, summaries.

All measures are computed over the full vocabulary by token id. Tensors are float
logits; shapes are given as [T, V] (T positions, V vocabulary entries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .events import Category, SideSummary, TokenEvent

if TYPE_CHECKING:
    import torch

BUCKET_SIZE = 8


def category(rank: int) -> Category:
    """The paper's category of a token by its rank under the other model."""
    if rank <= 1:
        return "unshifted"
    if rank <= 3:
        return "marginal"
    return "shifted"


def ranks(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Rank of ids[t] in logits[t]: 1 + number of tokens with strictly higher logit. [T, V], [T] -> [T]."""
    chosen = logits.gather(-1, ids.unsqueeze(-1))  # [T, 1]
    return (logits > chosen).sum(-1) + 1


def kl_divergence(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) in nats per row, from logits. [T, V], [T, V] -> [T]."""
    import torch

    log_p = torch.log_softmax(p_logits.float(), dim=-1)
    log_q = torch.log_softmax(q_logits.float(), dim=-1)
    # clamp: float rounding can give tiny negatives for identical rows
    return (log_p.exp() * (log_p - log_q)).sum(-1).clamp_min(0.0)


def summarize(tokens: Sequence[TokenEvent], bucket_size: int = BUCKET_SIZE, top_n: int = 10) -> SideSummary:
    """Counts, per-position-bucket shifts, the most frequent shifted tokens, mean KL."""
    counts = Counter(t.shift for t in tokens)
    n_buckets = max((t.position for t in tokens), default=-1) // bucket_size + 1
    shifted_by_bucket = [0] * n_buckets
    tokens_by_bucket = [0] * n_buckets
    for t in tokens:
        tokens_by_bucket[t.position // bucket_size] += 1
        if t.shift == "shifted":
            shifted_by_bucket[t.position // bucket_size] += 1
    shifted_texts = Counter(t.text for t in tokens if t.shift == "shifted")
    kls = [t.kl for t in tokens if t.kl is not None]
    return SideSummary(
        n=len(tokens),
        unshifted=counts["unshifted"],
        marginal=counts["marginal"],
        shifted=counts["shifted"],
        bucket_size=bucket_size,
        shifted_by_bucket=tuple(shifted_by_bucket),
        tokens_by_bucket=tuple(tokens_by_bucket),
        top_shifted=tuple(shifted_texts.most_common(top_n)),
        mean_kl=sum(kls) / len(kls) if kls else None,
        unscored=counts[None],
    )


def recovered(bare: Sequence[TokenEvent], urial: Sequence[TokenEvent]) -> list[bool]:
    """Per aligned token: shifted under base + bare prompt but not under base + URIAL, i.e. the
    prompt recovered it (the tokens behind the closure). Both lists are of the same answer."""
    return [b.shift == "shifted" and u.shift is not None and u.shift != "shifted" for b, u in zip(bare, urial)]


def closure(bare: SideSummary, urial: SideSummary) -> float | None:
    """In-context closure of one answer (architecture §1)."""
    return closure_of(bare.share("shifted") if bare.scored else None, urial.share("shifted") if urial.scored else None)


def closure_of(bare_shifted: float | None, urial_shifted: float | None) -> float | None:
    """In-context closure from the two shifted shares: 1 - URIAL's / bare's; None when the bare
    prompt shows no shift or either share is unknown (no scored token)."""
    if not bare_shifted or urial_shifted is None:
        return None
    return 1.0 - urial_shifted / bare_shifted
