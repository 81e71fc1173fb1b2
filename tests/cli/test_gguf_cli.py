"""`analyze` with GGUF files: the JSON contract, ranks checkable from full logits, bad files."""

import json
import subprocess
import sys

import numpy as np
import pytest

from alignterm.engine.demo import ALIGNED_DIR, GGUF_DIR

from ..conftest import make_random_model, one_clear_line, run_main

BASE_GGUF = str(GGUF_DIR / "demo-base.q8_0.gguf")
ALIGNED_GGUF = str(GGUF_DIR / "demo-aligned.q8_0.gguf")


def _plain_llama_logits(path: str, ids: list[int]) -> np.ndarray:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=path, n_ctx=1024, logits_all=True, verbose=False)
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


@pytest.mark.parametrize("base,aligned", [(BASE_GGUF, ALIGNED_GGUF), (BASE_GGUF, str(ALIGNED_DIR))])
def test_analyze_on_gguf_and_mixed_pairs_gives_ranks_checkable_from_full_logits(queries, base, aligned):
    proc = run_main("analyze", "--query", queries[2], "--base", base, "--aligned", aligned,
                   "--max-new-tokens", "40", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["base_model"].endswith(".gguf") and r["aligned"]["tokens"]
    prompt, ids = r["base"]["prompt_ids"], [t["id"] for t in r["aligned"]["tokens"]]
    logits = _plain_llama_logits(BASE_GGUF, prompt + ids)[len(prompt) - 1 : -1]
    chosen = logits[np.arange(len(ids)), ids]
    ranks = ((logits > chosen[:, None]).sum(-1) + 1).tolist()
    assert ranks == [t["other_rank"] for t in r["aligned"]["tokens"]]
    assert all(t["kl"] is not None for t in r["aligned"]["tokens"])  # full vocabulary: exact KL


def test_a_text_file_named_gguf_is_refused(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model\n")
    line = one_clear_line(run_main("analyze", "--query", "hi", "--base", str(fake), "--aligned", ALIGNED_GGUF))
    assert "not a GGUF file" in line


def test_a_truncated_gguf_is_refused(tmp_path):
    data = (GGUF_DIR / "demo-base.q8_0.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) // 3])
    line = one_clear_line(run_main("analyze", "--query", "hi", "--base", str(cut), "--aligned", ALIGNED_GGUF))
    assert "cannot load" in line and "cut.gguf" in line


def test_a_context_smaller_than_the_prompt_is_refused():
    line = one_clear_line(run_main("analyze", "--query", "hi", "--base", BASE_GGUF, "--aligned", ALIGNED_GGUF,
                                   "--n-ctx", "64"))
    assert "context" in line


def test_a_gguf_with_another_vocabulary_is_refused(tmp_path):
    other = make_random_model(tmp_path / "other", ["another vocabulary entirely"] * 20)
    line = one_clear_line(run_main("analyze", "--query", "hi", "--base", BASE_GGUF, "--aligned", str(other)))
    assert "tokenizers differ" in line


def test_without_llama_cpp_a_gguf_gets_one_line_on_how_to_install():
    code = ("import sys; sys.modules['llama_cpp'] = None; from alignterm.cli import main; "
            f"sys.exit(main(['analyze', '--query', 'hi', '--base', {BASE_GGUF!r}, '--aligned', {ALIGNED_GGUF!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'alignterm[gguf]'" in one_clear_line(proc)


def test_n_gpu_layers_reaches_llama_cpp_and_a_cpu_build_gives_the_same_answers(queries, tmp_path, monkeypatch):
    """--n-gpu-layers is handed to llama.cpp as given (a spy around the real Llama); on this CPU
    build offloading nothing or everything gives the same answers."""
    import llama_cpp

    from alignterm.cli import main

    real, seen = llama_cpp.Llama, []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("n_gpu_layers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", spy)
    texts = []
    for flags in (["--n-gpu-layers", "0"], ["--n-gpu-layers", "-1"]):
        out = tmp_path / f"{flags[1]}.jsonl"
        assert main(["analyze", "--query", queries[2], "--base", BASE_GGUF, "--aligned", ALIGNED_GGUF,
                     "--max-new-tokens", "20", "--format", "jsonl", "-o", str(out), *flags]) == 0
        record = json.loads(out.read_text())
        texts.append((record["aligned"]["text"], record["base"]["text"]))
    assert seen == [0, 0, -1, -1] and texts[0] == texts[1]
