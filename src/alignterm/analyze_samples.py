"""`alignterm analyze --samples N`: draw N samples per side for each query and write their measures.

Output: JSON Lines (one object per query, `formats.diversity_record`), an HTML page with
similarity heat maps, or a pretty table. CSV is refused: a record's nested samples and
matrices do not fit rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .engine.errors import BadInput

if TYPE_CHECKING:
    from .analyze import AnalyzeJob

SAMPLE_FORMATS = ("jsonl", "html", "pretty")


@dataclass(frozen=True)
class SamplesOptions:
    """The `--samples` flags of one analyze run."""

    n: int
    hint: str | None = None  # --hint: one typed hint for every base_hint sample
    embedder: str | None = None  # --embedder: a sentence-transformers model folder


def check_samples_flags(n: int | None, hint: str | None, embedder: str | None, fmt: str) -> SamplesOptions | None:
    """The options of `--samples`, or None without it; bad combinations are usage errors."""
    if n is None:
        if hint is not None or embedder is not None:
            raise BadInput("--hint and --embedder need --samples N")
        return None
    if n < 2:
        raise BadInput(f"--samples must be at least 2: similarity within a side needs two samples (got {n})")
    if fmt not in SAMPLE_FORMATS:
        raise BadInput(f"--format {fmt} does not fit --samples (nested samples and matrices): "
                       f"use {', '.join(SAMPLE_FORMATS)}")
    if hint is not None and not hint.strip():
        raise BadInput("--hint is empty")
    return SamplesOptions(n, hint, embedder)


def samples_records(job: AnalyzeJob, progress) -> Iterator[dict[str, Any]]:
    """Load the pair once, then sample and measure each query; yields one record per query."""
    from .engine.loading import load_pair
    from .engine.prompts import load_urial, urial_name
    from .engine.samples import Sampler, SamplingRequest, SentenceEmbedder
    from .engine.sources import model_name
    from .formats.diversity_record import samples_record

    opts = job.samples
    assert opts is not None
    urial_text = load_urial(job.urial)
    embedder = SentenceEmbedder(opts.embedder) if opts.embedder else None  # fails before the models load
    sampler = Sampler(*load_pair(job.base, job.aligned, progress.loading), embedder=embedder)
    progress.loaded()
    for q in job.queries:
        job.check_interrupt()
        extra = {k: v for k, v in q.items() if k != "query"}
        result = sampler.run(SamplingRequest(q["query"], opts.n, urial_text, job.params, opts.hint), job.cancel)
        job.check_interrupt()
        yield samples_record(result, base_model=model_name(job.base), aligned_model=model_name(job.aligned),
                             urial=urial_name(job.urial), extra=extra)
        progress()
