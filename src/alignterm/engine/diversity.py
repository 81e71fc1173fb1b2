"""Diversity measures over sampled answers (architecture §1, Lake et al. 2024): pure functions.

A side is N sampled answers to one query. Within a side, every unordered pair of samples
is compared; across two sides, every (a, b) pair. Similarities are word-bag Jaccard
(content words: lower-cased words minus stopwords) or cosine of embedding vectors.
Nothing here touches a model; `engine.samples` draws the samples and the embeddings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TypeVar

T = TypeVar("T")

# A compact English stopword list (function words, auxiliaries, pronouns): what is left
# after removing them is what an answer is about.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just let me
more most my myself no nor not now of off on once only or other our ours ourselves out over own same
she should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves s t d ll m re ve don isn aren wasn weren hasn haven hadn
doesn didn won wouldn shouldn can't i'm it's that's there's i'd i'll you're let's
""".split())  # noqa: SIM905 (a word list reads better as text)

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def words(text: str) -> list[str]:
    """The lower-cased words of `text` (letters and digits; an inner apostrophe kept)."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """The words of `text` that are not stopwords, in order."""
    return [w for w in words(text) if w not in STOPWORDS]


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b|; two empty bags are the same bag (1.0)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    """Cosine of the angle between two vectors (0.0 when either is zero)."""
    dot = sum(x * y for x, y in zip(u, v))
    nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(y * y for y in v))
    return dot / (nu * nv) if nu and nv else 0.0


@dataclass(frozen=True)
class PairStats:
    """Mean and max similarity over a set of sample pairs."""

    mean: float
    max: float
    pairs: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "max": self.max, "pairs": self.pairs}


def _stats(values: list[float]) -> PairStats | None:
    return PairStats(sum(values) / len(values), max(values), len(values)) if values else None


def within(items: Sequence[T], sim: Callable[[T, T], float]) -> PairStats | None:
    """Similarity over every unordered pair of one side's samples; None with fewer than two."""
    return _stats([sim(a, b) for a, b in combinations(items, 2)])


def across(items_a: Sequence[T], items_b: Sequence[T], sim: Callable[[T, T], float]) -> PairStats | None:
    """Similarity over every (a, b) pair of two sides' samples; None when either side is empty."""
    return _stats([sim(a, b) for a in items_a for b in items_b])


def matrix(items: Sequence[T], sim: Callable[[T, T], float]) -> list[list[float]]:
    """The full similarity matrix [len(items), len(items)] (symmetric, computed once per pair)."""
    n = len(items)
    m = [[1.0] * n for _ in range(n)]
    for i, j in combinations(range(n), 2):
        m[i][j] = m[j][i] = sim(items[i], items[j])
    for i in range(n):
        m[i][i] = sim(items[i], items[i])
    return m


def word_bags(texts: Sequence[str]) -> list[set[str]]:
    """Each text's set of content words, the unit Jaccard compares."""
    return [set(content_words(t)) for t in texts]


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct-n (Li et al. 2016): unique word n-grams / all word n-grams over the side's samples."""
    grams: list[tuple[str, ...]] = []
    for t in texts:
        w = words(t)
        grams.extend(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    return len(set(grams)) / len(grams) if grams else None


def distinct_prefix(texts: Sequence[str], n_chars: int = 20) -> float | None:
    """Fraction of distinct openings: unique first `n_chars` characters / samples (how answers start)."""
    if not texts:
        return None
    return len({" ".join(t.split())[:n_chars] for t in texts}) / len(texts)


@dataclass(frozen=True)
class LengthStats:
    """Answer length in words over one side's samples."""

    mean: float
    std: float
    min: int
    max: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "std": self.std, "min": self.min, "max": self.max}


def length_stats(texts: Sequence[str]) -> LengthStats | None:
    """Mean, population standard deviation, min and max of the samples' word counts."""
    lengths = [len(words(t)) for t in texts]
    if not lengths:
        return None
    mean = sum(lengths) / len(lengths)
    std = math.sqrt(sum((x - mean) ** 2 for x in lengths) / len(lengths))
    return LengthStats(mean, std, min(lengths), max(lengths))


def coverage(aligned_text: str, base_texts: Sequence[str]) -> float | None:
    """Share of the aligned answer's distinct content words found in any of the base answers.

    None for an aligned answer without content words, or without base answers (nothing to cover with).
    """
    wanted = set(content_words(aligned_text))
    if not wanted or not base_texts:
        return None
    have: set[str] = set().union(*word_bags(base_texts))
    return len(wanted & have) / len(wanted)


def salient_words(text: str, others: Sequence[str], k: int = 8) -> list[str]:
    """The `k` content words of `text` with the highest tf-idf against `others`, in text order,
    as first written there (names keep their capital, which a model needs to copy them).

    tf = count in `text`; idf = log((1 + D) / (1 + df)) + 1 over the D = 1 + len(others)
    documents (smoothed, so a word every sample shares still ranks, below the distinctive
    ones). Ties keep the earlier word.
    """
    tf = Counter(content_words(text))
    if not tf:
        return []
    bags = word_bags(others)
    docs = 1 + len(bags)

    def tfidf(w: str) -> float:
        df = 1 + sum(w in b for b in bags)
        return tf[w] * (math.log((1 + docs) / (1 + df)) + 1)

    order = list(tf)  # first-appearance order (Counter keeps insertion order)
    top = set(sorted(order, key=lambda w: (-tfidf(w), order.index(w)))[:k])
    written: dict[str, str] = {}
    for w in _WORD.findall(text):
        written.setdefault(w.lower(), w)
    return [written[w] for w in order if w in top]


@dataclass(frozen=True)
class Similarity:
    """One similarity measure over every side's samples: within each side, across each pair
    of sides, and the full matrix over all samples (sides in order, samples in order)."""

    within: dict[str, PairStats | None]
    across: dict[str, PairStats | None]  # key "a~b" for sides a and b
    matrix: list[list[float]]

    def as_dict(self) -> dict:
        def d(stats: PairStats | None):
            return stats.as_dict() if stats else None

        return {"within": {k: d(v) for k, v in self.within.items()},
                "across": {k: d(v) for k, v in self.across.items()}, "matrix": self.matrix}


def similarity(items: Mapping[str, Sequence[T]], sim: Callable[[T, T], float]) -> Similarity:
    """`sim` within each side, across every pair of sides (in the dict's order), and as a matrix."""
    sides = list(items)
    return Similarity(
        within={s: within(items[s], sim) for s in sides},
        across={f"{a}~{b}": across(items[a], items[b], sim) for a, b in combinations(sides, 2)},
        matrix=matrix([x for s in sides for x in items[s]], sim),
    )


@dataclass(frozen=True)
class SideStats:
    """One side's diversity on its own: distinct-1/2/3, distinct openings, lengths."""

    distinct_1: float | None
    distinct_2: float | None
    distinct_3: float | None
    distinct_prefix: float | None
    length: LengthStats | None

    def as_dict(self) -> dict:
        return {"distinct_1": self.distinct_1, "distinct_2": self.distinct_2, "distinct_3": self.distinct_3,
                "distinct_prefix": self.distinct_prefix, "length": self.length.as_dict() if self.length else None}


def side_stats(texts: Sequence[str], prefix_chars: int = 20) -> SideStats:
    """Distinct-n for n = 1, 2, 3, the distinct-opening fraction and length statistics."""
    return SideStats(distinct_n(texts, 1), distinct_n(texts, 2), distinct_n(texts, 3),
                     distinct_prefix(texts, prefix_chars), length_stats(texts))


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


@dataclass(frozen=True)
class DiversityMeasures:
    """Every measure of one query's samples. Embedding measures are None where unavailable."""

    jaccard: Similarity
    sides: dict[str, SideStats]
    coverage: dict[str, list[float | None]]  # per base side: one value per aligned sample
    embedding: Similarity | None = None  # the base model's own hidden states
    sentence_embedding: Similarity | None = None  # a sentence-embedding model (--embedder)

    def coverage_mean(self, side: str) -> float | None:
        return _mean(self.coverage.get(side, []))

    def headline(self, measure: str = "jaccard") -> dict[str, float | None]:
        """Lake et al.'s comparison: base + hint vs aligned, next to aligned vs aligned (and base vs aligned)."""
        sim: Similarity | None = getattr(self, measure)

        def mean(stats: PairStats | None) -> float | None:
            return stats.mean if stats else None

        if sim is None:
            return {"aligned~aligned": None, "base_hint~aligned": None, "base_urial~aligned": None}
        return {"aligned~aligned": mean(sim.within.get("aligned")),
                "base_hint~aligned": mean(sim.across.get("aligned~base_hint")),
                "base_urial~aligned": mean(sim.across.get("aligned~base_urial"))}

    def as_dict(self) -> dict:
        def d(sim: Similarity | None):
            return sim.as_dict() if sim else None

        return {
            "headline": {m: self.headline(m) for m in ("jaccard", "embedding", "sentence_embedding")},
            "jaccard": d(self.jaccard),
            "embedding": d(self.embedding),
            "sentence_embedding": d(self.sentence_embedding),
            "sides": {s: st.as_dict() for s, st in self.sides.items()},
            "coverage": {s: {"mean": self.coverage_mean(s), "per_aligned_sample": v} for s, v in self.coverage.items()},
        }


def measure(texts: dict[str, list[str]], vectors: dict[str, list[Sequence[float]]] | None = None,
            sentence_vectors: dict[str, list[Sequence[float]]] | None = None) -> DiversityMeasures:
    """All measures of one query's samples; `texts` maps side -> samples, "aligned" first.

    Coverage is computed for every other side against the aligned samples.
    """
    aligned = texts.get("aligned", [])
    return DiversityMeasures(
        jaccard=similarity({s: word_bags(t) for s, t in texts.items()}, jaccard),
        sides={s: side_stats(t) for s, t in texts.items()},
        coverage={s: [coverage(a, t) for a in aligned] for s, t in texts.items() if s != "aligned"},
        embedding=similarity(vectors, cosine) if vectors is not None else None,
        sentence_embedding=similarity(sentence_vectors, cosine) if sentence_vectors is not None else None,
    )


def mean_to_first(matrix: Sequence[Sequence[float]], n_first: int) -> list[float | None]:
    """Per row of a similarity matrix, the mean similarity to the first `n_first` items (itself left out).

    With the matrix of `similarity` over sides in order ("aligned" first), row i's value is
    sample i's mean similarity to the aligned samples; None where there is nothing to compare with.
    """
    means: list[float | None] = []
    for row, values in enumerate(matrix):
        sims = [values[j] for j in range(n_first) if j != row]
        means.append(sum(sims) / len(sims) if sims else None)
    return means
