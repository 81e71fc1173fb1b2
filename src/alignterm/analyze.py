"""`alignterm analyze`: compare the pair on one or many queries and write the results."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_write
from .engine.aggregate import Report
from .engine.errors import BadInput
from .engine.events import LoadingStep
from .engine.prompts import check_query
from .engine.sources import model_name
from .engine.values import CancelToken, DecodingParams, ModelSpec

if TYPE_CHECKING:
    from .analyze_samples import SamplesOptions
    from .engine.compare import Comparator
    from .engine.events import ComparisonResult
    from .engine.nudge import Nudger

FORMATS = ("jsonl", "csv", "html", "pretty", "llm-comparator")


@dataclass(frozen=True)
class AnalyzeJob:
    """What one `analyze` invocation does."""

    base: ModelSpec
    aligned: ModelSpec
    urial: str  # bundled name, path or "none"
    params: DecodingParams
    queries: list[dict[str, Any]]
    fmt: str
    out: Path | None
    top_k: int
    samples: SamplesOptions | None = None  # analyze --samples N: diversity mode (analyze_samples.py)
    summary: Path | None = None  # --summary FILE: the query-set report as JSON (engine/aggregate.py)
    ablation: bool = False  # --urial-ablation: each query's closure per part of the URIAL prompt (engine/ablation.py)
    nudge: float | None = None  # --nudge: γ of each query's nudged answer (engine/nudge.py); None: none
    show_prompts: bool = False  # --show-prompts: pretty prints each prompt's text and ids (formats/prompt_view.py)
    # set by the CLI's Ctrl-C handler: stops a run even when a library swallowed the interrupt
    cancel: CancelToken = field(default_factory=CancelToken)

    def check_interrupt(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (its exception may have been swallowed)."""
        if self.cancel.cancelled:
            raise KeyboardInterrupt


def read_queries(path: str) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file, each with a non-empty "query" string or a conversation's
    "turns" (a non-empty list of them, not both); bad lines are refused."""
    p = Path(path).expanduser()
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read queries file {path}: {err.strerror if isinstance(err, OSError) else err}") from None
    queries = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise BadInput(f"{path} line {n}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict) or ("query" in obj) == ("turns" in obj):
            raise BadInput(f'{path} line {n}: expected an object with either a "query" string or a conversation\'s '
                           '"turns" (a list of query strings)')
        turns = turns_of(obj)
        if not isinstance(turns, list) or not turns or not all(isinstance(q, str) and q.strip() for q in turns):
            raise BadInput(f'{path} line {n}: "query" must be a non-empty string, "turns" a non-empty list of them')
        if "turns" in obj and "force" in obj:
            raise BadInput(f'{path} line {n}: "force" starts the answer to one "query", not a conversation\'s "turns"')
        if not _valid_force(obj.get("force", {})):
            raise BadInput(f'{path} line {n}: "force" maps "aligned" and/or "base" to the start of that answer: '
                           "a non-empty text or a list of token ids")
        queries.append(obj)
    if not queries:
        raise BadInput(f"{path} holds no queries")
    return queries


def turns_of(q: dict[str, Any]) -> list[Any]:
    """A query line's user turns: its "turns", or its one "query"."""
    return q["turns"] if "turns" in q else [q["query"]]


def _valid_force(force: Any) -> bool:
    return isinstance(force, dict) and set(force) <= {"aligned", "base"} and all(
        (isinstance(v, str) and v != "") or (isinstance(v, list) and v and all(type(i) is int and i >= 0 for i in v))
        for v in force.values())


def forced_ids(start: str | list[int], tokenizer) -> tuple[int, ...]:
    """A query line's forced answer start as token ids: a text is tokenized as answer text (no BOS);
    ids must be in the model's vocabulary."""
    ids = tokenizer.encode(start) if isinstance(start, str) else start
    size = tokenizer.vocab_size
    if size is not None and any(i >= size for i in ids):
        raise BadInput(f"a forced token id is not in the model's vocabulary of {size} tokens")
    return tuple(ids)


ABLATION_FORMATS = ("jsonl", "pretty", "html")


def check_ablation_flags(urial: str, fmt: str, samples: bool) -> None:
    """--urial-ablation needs a URIAL prompt, a comparison run and a format with room for its table."""
    from .engine.prompts import NONE

    if urial == NONE:
        raise BadInput("--urial-ablation takes a URIAL prompt apart: it needs one, not --urial none")
    if samples:
        raise BadInput("--urial-ablation ablates a comparison run, not --samples")
    if fmt not in ABLATION_FORMATS:
        raise BadInput(f"--urial-ablation supports --format {', '.join(ABLATION_FORMATS)} (its per-variant table "
                       f"has no place in --format {fmt})")


def check_turns_flags(queries: list[dict[str, Any]], nudge: bool, samples: bool) -> None:
    """A conversation ("turns") is compared turn by turn; nudged decoding and diversity samples take
    single queries."""
    if any("turns" in q for q in queries) and (nudge or samples):
        flag = "--nudge" if nudge else "--samples"
        raise BadInput(f'{flag} takes single queries: the "turns" of a conversation are compared turn by turn '
                       "without it")


def check_show_prompts(fmt: str, samples: bool) -> None:
    """--show-prompts prints in the pretty view of a comparison run (JSON has the ids as prompt_ids)."""
    if fmt != "pretty":
        raise BadInput(f"--show-prompts prints the prompts in --format pretty, not {fmt} "
                       "(JSON records hold them as prompt_ids)")
    if samples:
        raise BadInput("--show-prompts shows a comparison run's prompts, not --samples")


def pick_format(fmt: str | None, out: Path | None) -> str:
    """The format asked for, else one guessed from -o's suffix, else pretty on a terminal."""
    if fmt:
        return fmt
    if out is not None and out.suffix.lstrip(".") in ("csv", "html", "jsonl"):
        return out.suffix.lstrip(".")
    return "pretty" if out is None and sys.stdout.isatty() else "jsonl"


def records(job: AnalyzeJob, progress: _Progress, report: Report) -> Iterator[dict[str, Any]]:
    """Load the pair once, then compare each query (each turn of a conversation); yields architecture
    §3 records and adds each comparison to `report`."""
    from .engine.compare import Comparator, ComparisonRequest
    from .engine.conversation import converse
    from .engine.prompts import load_urial

    urial_text = load_urial(job.urial)
    comparator = Comparator.load(job.base, job.aligned, top_k=max(job.top_k, 1), progress=progress.loading)
    if comparator.vocab.notice:
        print(f"alignterm: note: {comparator.vocab.notice}", file=sys.stderr)
    nudger = None
    if job.nudge is not None:
        from .engine.nudge import Nudger

        nudger = Nudger(comparator)
    progress.loaded()
    models = {"aligned": comparator.aligned, "base": comparator.base}
    for q in job.queries:
        job.check_interrupt()
        extra = {k: v for k, v in q.items() if k not in ("query", "turns")}
        results: Iterable[tuple[int | None, ComparisonResult]]
        if "turns" in q:  # one record per turn, numbered from 1 (architecture §3)
            results = enumerate(converse(comparator, q["turns"], urial_text, job.params, job.cancel), 1)
        else:
            force = {side: forced_ids(start, models[side].tokenizer) for side, start in q.get("force", {}).items()}
            request = ComparisonRequest(q["query"], urial_text, job.params, live=False, force=force)
            results = [(None, comparator.compare(request, job.cancel))]
        for turn, result in results:
            job.check_interrupt()
            record, tokens = _record(job, comparator, nudger, report, result,
                                     extra if turn is None else {**extra, "turn": turn})
            yield record
            progress(tokens)


def _record(job: AnalyzeJob, comparator: Comparator, nudger: Nudger | None, report: Report,
            result: ComparisonResult, extra: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One comparison's architecture §3 record, with what the job's flags add (ablation, nudged answer,
    prompt view), and the tokens generated for it; the comparison goes into `report`."""
    from .engine.ablation import ablate
    from .engine.prompts import urial_name
    from .formats.prompt_view import prompt_tokens
    from .formats.record import ablation_record, nudge_record, result_record

    report.add(result, extra.get("id"))
    record = result_record(result, base_model=model_name(job.base), aligned_model=model_name(job.aligned),
                           urial=urial_name(job.urial), top_k=job.top_k, extra=extra)
    tokens = len(result.aligned.tokens) + len(result.base.tokens)
    if job.ablation:  # a turn's ablation keeps its history examples in every variant (Comparator.rescore_aligned)
        ablation = ablate(comparator, result, job.cancel)
        job.check_interrupt()
        assert ablation is not None  # only job.cancel stops it, and check_interrupt raised then
        record["ablation"] = ablation_record(ablation)
    if nudger is not None and job.nudge is not None:  # refused for conversations (check_turns_flags)
        nudged = nudger.nudge(result.query, result.urial, job.params, job.nudge, job.cancel, reference=result)
        job.check_interrupt()
        report.add_nudge(nudged)
        record["nudged"] = nudge_record(nudged, job.top_k)
        tokens += len(nudged.tokens)
    if job.show_prompts:
        record["prompt_view"] = prompt_tokens(record, aligned=comparator.aligned.tokenizer,
                                              base=comparator.base.tokenizer)
    return record, tokens


def run_analyze(job: AnalyzeJob) -> int:
    """Write every record in the chosen format to -o (atomically) or stdout."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    for q in job.queries:
        for query in turns_of(q):
            check_query(query)
    err = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("queries"),
               TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn())
    report = Report()
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        progress = _Progress(bar, sum(len(turns_of(q)) for q in job.queries))
        if job.out is None:
            _write(job, sys.stdout, progress, report)
        else:
            with atomic_write(job.out) as f:
                _write(job, f, progress, report)
    if job.summary is not None:
        with atomic_write(job.summary) as f:
            f.write(json.dumps(_summary(job, report), ensure_ascii=False, indent=1) + "\n")
    return 0


def _summary(job: AnalyzeJob, report: Report) -> dict[str, Any]:
    """The query-set report's JSON object, with what the run compared."""
    from .engine.prompts import urial_name
    from .formats.record import aggregate_record

    return aggregate_record(report.aggregate(), base_model=model_name(job.base), aligned_model=model_name(job.aligned),
                            urial=urial_name(job.urial))


class _Progress:
    """analyze's line on stderr (a terminal only, drawn by rich): how far the model load is, then the
    queries done, the tokens per second (both answers) and the time left."""

    def __init__(self, bar, total: int) -> None:
        self._bar = bar
        self._task = bar.add_task("loading the models…", total=total, rate="")
        self._tokens = 0
        self._started: float | None = None

    def loading(self, step: LoadingStep) -> None:
        if step.warning:  # said whether or not the bar is drawn, like the vocabulary note
            print(f"alignterm: warning: {step.text}", file=sys.stderr)
        self._bar.update(self._task, description=f"{step.text} {step.source}".strip())

    def loaded(self) -> None:
        """The models are loaded: the token rate counts from here."""
        self._started = time.monotonic()
        self._bar.update(self._task, description="comparing")

    def __call__(self, tokens: int = 0) -> None:
        """One more query done, with `tokens` generated for it."""
        now = time.monotonic()
        self._tokens += tokens
        rate = f"{self._tokens / (now - self._started):.0f} tok/s" if self._started is not None and tokens else ""
        self._bar.update(self._task, advance=1, description="comparing", rate=rate)


def _write(job: AnalyzeJob, out, progress: _Progress, report: Report) -> None:
    """Every query's record in the job's format; `--samples` records (diversity mode) have their own views."""
    diversity = job.samples is not None
    if diversity:
        from .analyze_samples import samples_records

        recs = samples_records(job, progress)
    else:
        recs = records(job, progress, report)
    if job.fmt == "jsonl":
        for rec in recs:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
    elif job.fmt == "pretty":
        from rich.console import Console

        console = Console(file=out, force_terminal=None if out is sys.stdout else False)
        if diversity:
            from .formats.diversity_pretty import print_samples_record

            for rec in recs:
                print_samples_record(console, rec)
            return
        from .formats.pretty import print_record
        from .formats.report_pretty import report as report_view

        for rec in recs:
            print_record(console, rec)
        if len(report.aggregate().queries) > 1:
            console.print(report_view(_summary(job, report)))
    elif job.fmt == "csv":  # refused with --samples (check_samples_flags)
        from .formats.csv_rows import CsvWriter

        rows = CsvWriter(out, nudged=job.nudge is not None)
        for rec in recs:
            rows.write(rec)
    elif job.fmt == "llm-comparator":  # refused with --samples (check_samples_flags)
        from .formats.llm_comparator import LlmComparatorWriter

        doc = LlmComparatorWriter(out)
        for rec in recs:
            doc.write(rec)
        doc.close()
    else:
        from .formats.diversity_html import DiversityHtmlWriter
        from .formats.html import HtmlWriter

        if diversity:
            page = DiversityHtmlWriter(out)
            for rec in recs:
                page.write(rec)
            page.close()
            return
        writer = HtmlWriter(out)
        for rec in recs:
            writer.write(rec)
        writer.close(_summary(job, report))
