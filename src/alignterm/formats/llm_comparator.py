"""`--format llm-comparator`: the query set as one input file of PAIR's LLM Comparator.

The schema is LLM Comparator's `DataResponse` (client/lib/types.ts in PAIR-code/llm-comparator,
and the "JSON Data Format" of its README): `metadata` (`source_path`, `custom_fields_schema`),
`models` (two names) and `examples`, each with `input_text`, `tags`, `output_text_a`,
`output_text_b`, `score`, `individual_rater_scores` and `custom_fields`. Model A is the aligned
answer, model B the base answer under the run's prompt (URIAL or bare). `score` is a judge's
preference for A over B, which alignterm does not make: it is null (the type allows it; the app
leaves such examples out of its score histogram). What alignterm measures goes in custom fields,
built from the architecture §3 records so they equal the JSON Lines output of the same run.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

FORMAT = "llm-comparator"

# name, LLM Comparator field type, what it holds (the types are the app's FieldType values)
CUSTOM_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("query_id", "string", 'the input line\'s "id" (null without one)'),
    ("urial", "category", "the base model's prompt: a URIAL prompt's name, or none (bare)"),
    ("closure", "number", "in-context closure: 1 - shifted share under base + URIAL / under base + bare (null: bare run)"),
    ("shifted_share_urial", "number", "shifted share of the aligned answer under base + URIAL (null: bare run)"),
    ("shifted_share_bare", "number", "shifted share of the aligned answer under base + the bare prompt"),
    ("reverse_shifted_share", "number", "shifted share of the base answer under the aligned model"),
    ("answer_tokens", "per_model_number", "answer length in tokens [A aligned, B base]"),
    ("answer_chars", "per_model_number", "answer length in characters [A aligned, B base]"),
    ("finish_reason", "per_model_category", "why each answer ended: eos, stop, length, cancelled"),
    ("runaway", "per_model_boolean", "ran to the token limit without closing the answer (base only)"),
)
SCORE_MEANING = ("null: LLM Comparator's score is a judge's preference for A over B, which alignterm does not "
                 "make; the measures are custom fields")


def _shifted(summary: dict[str, Any] | None) -> float | None:
    """A side summary's shifted share; None without the summary or where no token was scored."""
    if summary is None or summary["n"] == summary["unscored"]:
        return None
    return summary["shares"]["shifted"]


def example(record: dict[str, Any]) -> dict[str, Any]:
    """One query's architecture §3 record as an LLM Comparator example."""
    summary = record["summary"]
    urial = record["urial"]
    aligned, base = record["aligned"], record["base"]
    tags = [f"URIAL: {urial}" if urial is not None else "bare prompt"]
    if base["runaway"]:
        tags.append("base ran to the token limit")
    return {
        "input_text": record["query"],
        "tags": tags,
        "output_text_a": aligned["text"],
        "output_text_b": base["text"],
        "score": None,
        "individual_rater_scores": [],
        "rationale_list": [],  # in the app's Example type, read when rationale clusters are given (none here)
        "custom_fields": {
            "query_id": None if record.get("id") is None else str(record["id"]),
            "urial": urial if urial is not None else "none",
            "closure": summary.get("closure"),
            "shifted_share_urial": _shifted(summary["aligned"]) if urial is not None else None,
            "shifted_share_bare": _shifted(summary.get("aligned_bare", summary["aligned"])),
            "reverse_shifted_share": _shifted(summary["base"]),
            "answer_tokens": [len(aligned["tokens"]), len(base["tokens"])],
            "answer_chars": [len(aligned["text"]), len(base["text"])],
            "finish_reason": [aligned["finish_reason"], base["finish_reason"]],
            "runaway": [False, base["runaway"]],
        },
    }


class LlmComparatorWriter:
    """Collects the records of a run and writes the one JSON document when closed."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._examples: list[dict[str, Any]] = []
        self._run: dict[str, Any] | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self._run is None:  # every record of a run shares its models, prompt and parameters
            self._run = {k: record[k] for k in ("aligned_model", "base_model", "urial", "params")}
        self._examples.append(example(record))

    def close(self) -> None:
        run = self._run or {}
        urial = run.get("urial")
        prompt = f"URIAL {urial}" if urial is not None else "bare prompt"
        doc = {
            "metadata": {
                "source_path": f"alignterm analyze: A = aligned {run.get('aligned_model')}, "
                               f"B = base {run.get('base_model')} + {prompt}",
                "custom_fields_schema": [{"name": n, "type": t} for n, t, _ in CUSTOM_FIELDS],
                "alignterm": {**run, "score": SCORE_MEANING, "model_a": "aligned", "model_b": f"base + {prompt}",
                              "custom_fields": {n: what for n, _, what in CUSTOM_FIELDS}},
            },
            "models": [{"name": f"aligned ({run.get('aligned_model')})"},
                       {"name": f"base + {prompt} ({run.get('base_model')})"}],
            "examples": self._examples,
        }
        self._out.write(json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False) + "\n")
