"""The query-set report's cost (issue #17): `analyze --queries` over 100 queries on the demo pair,
against the time `engine.aggregate.Report` and the report's writers take over the same results.
Target: under 5% of the run."""

from __future__ import annotations

import io
import time

from alignterm.engine.aggregate import Report
from alignterm.engine.compare import Comparator, ComparisonRequest
from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR, demo_queries
from alignterm.engine.prompts import load_urial
from alignterm.engine.values import DecodingParams, ModelSpec
from alignterm.formats.record import aggregate_record

from .common import report

QUERIES = 100
TOKENS = 100


def run() -> None:
    from rich.console import Console

    from alignterm.formats.report_html import report_section
    from alignterm.formats.report_pretty import report as pretty_report

    queries = [q["query"] for q in demo_queries()]
    comparator = Comparator.load(ModelSpec(str(BASE_DIR)), ModelSpec(str(ALIGNED_DIR)))
    urial = load_urial("default")
    params = DecodingParams(max_new_tokens=TOKENS)
    results = []
    start = time.perf_counter()
    for i in range(QUERIES):
        results.append(comparator.compare(ComparisonRequest(queries[i % len(queries)], urial, params, live=False)))
    run_s = time.perf_counter() - start
    start = time.perf_counter()
    rep = Report()
    for r in results:
        rep.add(r)
    summary = aggregate_record(rep.aggregate())
    report_section(summary)
    Console(file=io.StringIO(), width=80).print(pretty_report(summary))
    agg_s = time.perf_counter() - start
    tokens = sum(len(r.aligned.tokens) + len(r.base.tokens) for r in results)
    print(f"  {QUERIES} queries, {tokens} tokens, {tokens / run_s:.0f} tokens/s: {run_s:.1f} s")
    report(f"query-set report over {QUERIES} queries", agg_s, run_s, target="< 0.05x", ok=agg_s < 0.05 * run_s)
