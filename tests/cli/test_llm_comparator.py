"""`analyze --format llm-comparator`: PAIR's LLM Comparator input file, checked against its schema and
against the JSON Lines records of the same run."""

import io
import json

import pytest

from alignterm.formats.llm_comparator import LlmComparatorWriter

from ..conftest import analyze_records, one_clear_line, run_main

# LLM Comparator's input schema, written out from its source (PAIR-code/llm-comparator): the README's
# "JSON Data Format" ("All the fields presented below are required") and client/lib/types.ts
# (`DataResponse`, `Metadata`, `Model`, `Example` with `score: number | null`, `CustomFieldSchema`, `FieldType`).
NUMBER = (int, float)
REQUIRED_TOP = {"metadata": dict, "models": list, "examples": list}
REQUIRED_METADATA = {"source_path": str, "custom_fields_schema": list}
REQUIRED_EXAMPLE = {"input_text": str, "tags": list, "output_text_a": str, "output_text_b": str,
                    "score": (*NUMBER, type(None)), "individual_rater_scores": list, "custom_fields": dict}
FIELD_TYPES = {"number", "string", "category", "text", "url", "image_path", "image_byte", "per_model_boolean",
               "per_model_number", "per_model_category", "per_model_text", "per_rating_string",
               "per_rating_per_model_category", "base"}
# what a custom field's value is, per type (types.ts's comments on FieldType; null is allowed)
VALUE_TYPES = {"number": NUMBER, "string": str, "category": str, "per_model_number": NUMBER,
               "per_model_boolean": bool, "per_model_category": str}

QUERIES = ["Where was Drarre from?", "What is the Kodo?"]
FLAGS = ("--max-new-tokens", "24", "--top-k", "0")


def check_schema(doc: dict) -> None:
    """Every required field of LLM Comparator's input, with its type; custom fields as their schema says."""
    for key, kind in REQUIRED_TOP.items():
        assert isinstance(doc[key], kind), key
    for key, kind in REQUIRED_METADATA.items():
        assert isinstance(doc["metadata"][key], kind), key
    assert len(doc["models"]) == 2 and all(isinstance(m["name"], str) and m["name"] for m in doc["models"])
    schema = {f["name"]: f["type"] for f in doc["metadata"]["custom_fields_schema"]}
    assert set(schema.values()) <= FIELD_TYPES
    for ex in doc["examples"]:
        for key, kind in REQUIRED_EXAMPLE.items():
            assert isinstance(ex[key], kind), key
        assert all(isinstance(t, str) for t in ex["tags"])
        assert set(ex["custom_fields"]) == set(schema)
        for name, kind in schema.items():
            value = ex["custom_fields"][name]
            if kind.startswith("per_model"):  # one value per model: [A, B]
                assert isinstance(value, list) and len(value) == 2, name
                assert all(isinstance(v, VALUE_TYPES[kind]) for v in value), name
            else:
                assert value is None or isinstance(value, VALUE_TYPES[kind]), name


def shifted_share(tokens: list[dict]) -> float:
    return sum(t["shift"] == "shifted" for t in tokens) / len(tokens)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The same queries written as JSON Lines and as an LLM Comparator file (greedy: the same answers)."""
    folder = tmp_path_factory.mktemp("lc")
    records = analyze_records(folder, QUERIES, *FLAGS)
    out = folder / "comparator.json"
    proc = run_main("analyze", "--queries", str(folder / "q.jsonl"), "--format", "llm-comparator", "-o", str(out),
                    *FLAGS)
    assert proc.returncode == 0, proc.stderr
    return records, json.loads(out.read_text(encoding="utf-8")), folder


def test_the_file_follows_llm_comparators_schema(run):
    _, doc, folder = run
    check_schema(doc)
    assert len(doc["examples"]) == len(QUERIES)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # written atomically: no temp file left


def test_model_a_is_aligned_and_model_b_base_with_urial(run):
    records, doc, _ = run
    a, b = (m["name"] for m in doc["models"])
    assert a.startswith("aligned") and records[0]["aligned_model"] in a
    assert b.startswith("base + URIAL default") and records[0]["base_model"] in b
    assert doc["metadata"]["alignterm"]["params"] == records[0]["params"]


def test_values_equal_the_jsonl_records_of_the_same_run(run):
    records, doc, _ = run
    for rec, ex in zip(records, doc["examples"], strict=True):
        f = ex["custom_fields"]
        assert ex["input_text"] == rec["query"]
        assert ex["output_text_a"] == rec["aligned"]["text"] and ex["output_text_b"] == rec["base"]["text"]
        assert ex["score"] is None and ex["individual_rater_scores"] == []
        assert "URIAL: default" in ex["tags"]
        assert f["query_id"] == rec["id"] and f["urial"] == "default"
        # shares recounted from the records' tokens, the closure from them (architecture §1)
        urial, bare = shifted_share(rec["aligned"]["tokens"]), shifted_share(rec["aligned_bare"]["tokens"])
        assert f["shifted_share_urial"] == pytest.approx(urial)
        assert f["shifted_share_bare"] == pytest.approx(bare)
        assert f["reverse_shifted_share"] == pytest.approx(shifted_share(rec["base"]["tokens"]))
        assert f["closure"] == rec["summary"]["closure"]
        if bare:
            assert f["closure"] == pytest.approx(1 - urial / bare)
        assert f["answer_tokens"] == [len(rec["aligned"]["tokens"]), len(rec["base"]["tokens"])]
        assert f["answer_chars"] == [len(rec["aligned"]["text"]), len(rec["base"]["text"])]
        assert f["finish_reason"] == [rec["aligned"]["finish_reason"], rec["base"]["finish_reason"]]
        assert f["runaway"] == [False, rec["base"]["finish_reason"] == "length"]


def test_a_bare_run_has_no_urial_share_nor_closure(tmp_path):
    out = tmp_path / "bare.json"
    proc = run_main("analyze", "--query", QUERIES[0], "--urial", "none", "--format", "llm-comparator", "-o", str(out),
                    *FLAGS)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    check_schema(doc)
    (ex,) = doc["examples"]
    assert ex["tags"][0] == "bare prompt" and doc["models"][1]["name"].startswith("base + bare prompt")
    assert ex["custom_fields"]["closure"] is None and ex["custom_fields"]["shifted_share_urial"] is None
    assert ex["custom_fields"]["shifted_share_bare"] is not None


def test_model_text_with_quotes_newlines_and_unicode_round_trips(run):
    records, _, _ = run
    hostile = 'He said "hi"\n\tthen \\ left: 鱻 🦙 é </script>\u202e\x00'
    rec = {**records[0], "query": hostile + "?",
           "aligned": {**records[0]["aligned"], "text": hostile},
           "base": {**records[0]["base"], "text": hostile[::-1]}}
    out = io.StringIO()
    writer = LlmComparatorWriter(out)
    writer.write(rec)
    writer.close()
    (ex,) = json.loads(out.getvalue())["examples"]
    assert ex["input_text"] == hostile + "?"
    assert ex["output_text_a"] == hostile and ex["output_text_b"] == hostile[::-1]


@pytest.mark.parametrize("flags", [("--samples", "2"), ("--urial-ablation",), ("--show-prompts",)])
def test_combinations_that_make_no_sense_are_refused_in_one_line(flags, tmp_path):
    out = tmp_path / "x.json"
    line = one_clear_line(run_main("analyze", "--query", "hi", "--format", "llm-comparator", "-o", str(out), *flags))
    assert "llm-comparator" in line and flags[0] in line
    assert not out.exists()
