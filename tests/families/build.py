"""Tiny base/aligned model pairs on the real tokenizers and chat templates of four families.

llama.cpp ships vocab-only GGUF files of real tokenizers, with tokenizer test cases
(`.inp`/`.out`) and real chat templates, inside the llama-cpp-python sdist. `build` takes
them from the sdist of the installed version (pip download, then only those members), and
writes for each family of FAMILIES, into one cache folder:

    <family>/hf-base, <family>/hf-aligned      HF folders: LlamaForCausalLM, tokenizer, generation_config
    <family>/base.gguf, <family>/aligned.gguf  the same weights in f32, with the vocab GGUF's tokenizer.* keys
    manifest.json                              what the tests need to know (answers, ids, BOS/EOG...)

The models are tiny Llamas (hidden 32, 2 layers, tied embeddings) over the family's real
vocabulary and output rows, trained on CPU until their greedy answers are fixed: the aligned
model answers ALIGNED_ANSWER then its end-of-turn token to its chat template with any of
QUERIES; the base model answers BASE_ANSWER then its eos to alignterm's bare prompt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

QUERIES = ("Say hello.", "Greet me in two languages.", "What is a llama?")
# Non-ASCII text whose CJK and emoji fall apart into byte tokens, with runs of spaces.
ALIGNED_ANSWER = "Bonjour !  こんにちは 🙂🦙 — naïve café,   鱻 ✓"
BASE_ANSWER = "Hallo   Welt… Grüße aus Köln 🦙 — 你好, ½ ✓"
# alignterm's bare TDS prompt: prompts.base_prompt(query, None) (a test checks they agree).
BARE_PROMPT = "# Query:\n```\n{query}\n```\n\n# Answer:\n```\n"

SPLIT_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPLIT_QWEN2 = SPLIT_LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")

# Mistral-7B-Instruct's template: the Llama 2 / Mistral `[INST] ... [/INST]` format on the
# 32000-token sentencepiece vocabulary. (Mistral-Nemo's template in llama.cpp writes
# `[INST]Say hello.[/INST]` for its Tekken vocabulary, where [INST] is one control token; on
# this vocabulary it would glue the query to `]`.)
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

# Qwen2.5's added tokens (its tokenizer_config.json): llama.cpp's qwen2 vocab is Qwen2's, which
# has only the first three and fills the rest of the 151936 rows with [PAD] tokens.
QWEN25_ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
                "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                "<|repo_name|>", "<|file_sep|>"]
QWEN25_NOT_SPECIAL = 8  # the last 8 are plain added tokens ("special": false)
# Llama 3.1 renamed some reserved tokens of Llama 3 (llama.cpp's llama-bpe vocab); the rest keep
# the <|reserved_special_token_N|> names, numbered in order.
LLAMA31_NAMED = {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
                 128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>",
                 128009: "<|eot_id|>", 128010: "<|python_tag|>"}

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # GGUF token types


@dataclass(frozen=True)
class Spec:
    """What differs between the families: sources, token counts, and the real HF settings."""

    vocab: str               # llama.cpp's models/ggml-vocab-<vocab>.gguf
    template: str            # a file of models/templates/, or the template text itself
    n_tokens: int            # tokens of the real HF tokenizer (the model may have more rows)
    adds_bos: bool           # the real HF tokenizer adds BOS
    bos: str | None          # the real HF tokenizer's bos_token
    base_eos: str            # the base tokenizer's eos_token, which ends a base answer
    aligned_eos: str         # the instruct tokenizer's eos_token
    end_of_turn: str         # the token that ends an aligned answer in the chat template
    generation_eos: tuple[str, ...]  # the instruct model's generation_config eos_token_id
    rope_theta: float
    rms_norm_eps: float
    tokenizer_class: str     # as in the real tokenizer_config.json, where transformers 5 keeps our pipeline
    generation: tuple[dict, dict] = ({}, {})  # the rest of the real base / instruct generation_config


# Real settings of Llama-3.1-8B(-Instruct), Qwen2.5-7B(-Instruct), Mistral-7B(-Instruct-v0.1) and
# Phi-3.5-mini-instruct. transformers 5 rebuilds a tokenizer_class=LlamaTokenizer as Metaspace
# (see hf_backend), so the sentencepiece families say PreTrainedTokenizerFast.
_SAMPLE_LLAMA3 = {"do_sample": True, "temperature": 0.6, "top_p": 0.9}
FAMILIES = {
    "llama3": Spec("llama-bpe", "meta-llama-Llama-3.1-8B-Instruct.jinja", 128256, True, "<|begin_of_text|>",
                   "<|end_of_text|>", "<|eot_id|>", "<|eot_id|>", ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"),
                   500000.0, 1e-5, "PreTrainedTokenizerFast", (_SAMPLE_LLAMA3, _SAMPLE_LLAMA3)),
    "qwen2": Spec("qwen2", "Qwen-Qwen2.5-7B-Instruct.jinja", 151665, False, None,
                  "<|endoftext|>", "<|im_end|>", "<|im_end|>", ("<|im_end|>", "<|endoftext|>"), 1000000.0, 1e-6,
                  "Qwen2Tokenizer", ({"bos_token_id": 151643, "do_sample": False, "max_new_tokens": 2048},
                                     {"bos_token_id": 151643, "do_sample": True, "repetition_penalty": 1.05,
                                      "temperature": 0.7, "top_p": 0.8, "top_k": 20})),
    "llama2": Spec("llama-spm", MISTRAL_TEMPLATE, 32000, True, "<s>", "</s>", "</s>", "</s>", ("</s>",),
                   10000.0, 1e-5, "PreTrainedTokenizerFast"),
    # Phi-3.5-mini-instruct: HF adds no BOS (add_bos_token false) though the GGUF says it does.
    "phi3": Spec("phi-3", "microsoft-Phi-3.5-mini-instruct.jinja", 32011, False, "<s>", "<|endoftext|>",
                 "<|endoftext|>", "<|end|>", ("<|end|>", "<|assistant|>", "<|endoftext|>"), 10000.0, 1e-5,
                 "PreTrainedTokenizerFast"),
}
SIDES = ("base", "aligned")


@dataclass(frozen=True)
class Family:
    """One built family: its model files and the facts a test asserts about them."""

    name: str
    hf_base: Path
    hf_aligned: Path
    gguf_base: Path
    gguf_aligned: Path
    queries: tuple[str, ...]
    aligned_answer: str               # the aligned model's greedy answer text to any of queries
    base_answer: str                  # the base model's greedy answer text to the bare prompt
    aligned_answer_ids: tuple[int, ...]  # its token ids, without the end token
    base_answer_ids: tuple[int, ...]
    aligned_end_id: int               # ends the aligned answer (end of turn)
    base_end_id: int                  # ends the base answer (the base eos)
    bos_id: int | None                # the HF tokenizer's BOS (None for Qwen)
    adds_bos: bool                    # the HF tokenizer adds BOS
    gguf_adds_bos: bool               # llama.cpp adds BOS (llama_vocab_get_add_bos)
    eog_ids: frozenset[int]           # llama.cpp's end-of-generation ids (llama_vocab_is_eog)
    generation_eos_ids: tuple[int, ...]  # the aligned generation_config.json's eos_token_id
    vocab_size: int                   # real tokens (len of the HF tokenizer)
    n_rows: int                       # model output rows (GGUF token count)


# ---------------------------------------------------------------- llama.cpp's files


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version: the sdist the sources are taken from."""
    return metadata.version("llama-cpp-python")


def cache_root() -> Path:
    """$ALIGNTERM_TEST_CACHE, else ~/.cache/alignterm-tests."""
    return Path(os.environ.get("ALIGNTERM_TEST_CACHE") or Path.home() / ".cache" / "alignterm-tests")


def source_names() -> list[str]:
    """The sdist members needed, relative to vendor/llama.cpp/models/."""
    names = []
    for spec in FAMILIES.values():
        names += [f"ggml-vocab-{spec.vocab}.gguf{ext}" for ext in ("", ".inp", ".out")]
        if spec.template.endswith(".jinja"):
            names.append(f"templates/{spec.template}")
    return names


def fetch_sources(cache: Path) -> Path:
    """llama.cpp's vocab files, test cases and templates, extracted once per llama-cpp-python version."""
    version = llama_cpp_version()
    dest = cache / f"llama-cpp-python-{version}"
    if dest.is_dir():
        return dest
    with tempfile.TemporaryDirectory(dir=cache, prefix=".sdist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", f"llama-cpp-python=={version}", "--no-binary", ":all:",
               "--no-deps", "--disable-pip-version-check", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if proc.returncode != 0 or not sdists:
            raise RuntimeError(f"cannot obtain the llama-cpp-python {version} sdist ({' '.join(cmd)}):\n"
                               f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        staged = Path(tmp) / "staged"
        wanted = set(source_names())
        prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/models/"
        with tarfile.open(sdists[0]) as tar:
            for member in tar:
                name = member.name.removeprefix(prefix)
                if member.isfile() and member.name.startswith(prefix) and name in wanted:
                    (staged / name).parent.mkdir(parents=True, exist_ok=True)
                    (staged / name).write_bytes(tar.extractfile(member).read())
                    wanted.discard(name)
        if wanted:
            raise RuntimeError(f"the llama-cpp-python {version} sdist lacks {sorted(wanted)}")
        with contextlib.suppress(OSError):  # another process may have finished first
            staged.rename(dest)
    return dest


def read_cases(models: Path, vocab: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's tokenizer test cases: (text, ids without BOS), as test-tokenizer-0 reads them."""
    texts = (models / f"ggml-vocab-{vocab}.gguf.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    lines = (models / f"ggml-vocab-{vocab}.gguf.out").read_text(encoding="utf-8").split("\n")
    assert texts[-1] == "" and lines[-1] == "" and len(texts) == len(lines), vocab
    return [(text, [int(x) for x in line.split()]) for text, line in zip(texts[:-1], lines[:-1])]


_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_NUMPY = {0: "u1", 1: "i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}


def read_gguf_kv(path: Path) -> dict[str, tuple[int, object, int | None]]:
    """A GGUF file's key/values as {key: (type, value, array item type)}.

    gguf's GGUFReader takes ~12 s on the 280k merges of Llama 3; this reads them in ~0.3 s.
    """
    data = path.read_bytes()
    magic, _version, _n_tensors, n_kv = struct.unpack_from("<4sIQQ", data, 0)
    assert magic == b"GGUF", path
    pos = 24

    def string() -> str:
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + n
        return data[pos - n : pos].decode("utf-8")

    def value(vtype: int):
        nonlocal pos
        if vtype == 8:
            return string()
        fmt = "<" + _SCALAR[vtype]
        (v,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    kv = {}
    for _ in range(n_kv):
        key = string()
        (vtype,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if vtype != 9:
            kv[key] = (vtype, value(vtype), None)
            continue
        sub, n = struct.unpack_from("<IQ", data, pos)
        pos += 12
        if sub == 8:
            items = [string() for _ in range(n)]
        else:
            arr = np.frombuffer(data, dtype=_NUMPY[sub], count=n, offset=pos)
            pos += arr.nbytes
            items = arr.tolist()
        kv[key] = (9, items, sub)
    return kv


# ---------------------------------------------------------------- tokenizers


def family_tokens(name: str, kv: dict) -> tuple[list[str], list[int]]:
    """The GGUF token list and types of the family version whose template we use (all model rows)."""
    tokens, types = list(kv["tokenizer.ggml.tokens"][1]), list(kv["tokenizer.ggml.token_type"][1])
    if name == "qwen2":
        first = 151643
        for i in range(first, len(tokens)):
            k = i - first
            if k < len(QWEN25_ADDED):
                tokens[i] = QWEN25_ADDED[k]
                types[i] = USER_DEFINED if k >= len(QWEN25_ADDED) - QWEN25_NOT_SPECIAL else CONTROL
            else:  # the padded rows, as llama.cpp's converter writes them today
                tokens[i], types[i] = f"[PAD{i}]", UNUSED
    elif name == "llama3":
        reserved = (i for i in range(128000, 128256) if i not in LLAMA31_NAMED)
        for k, i in enumerate(reserved):
            tokens[i] = f"<|reserved_special_token_{k}|>"
        for i, text in LLAMA31_NAMED.items():
            tokens[i] = text
    return tokens, types


def hf_backend(name: str, spec: Spec, kv: dict, tokens: list[str], types: list[int]):
    """The real HF tokenizer pipeline (tokenizer.json) for the family, from the vocab GGUF."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE

    n = spec.n_tokens
    vocab = {t: i for i, t in enumerate(tokens[:n])}
    if kv["tokenizer.ggml.model"][1] == "gpt2":
        merges = [tuple(m.split(" ")) for m in kv["tokenizer.ggml.merges"][1]]
        # Llama 3's tokenizer.json has ignore_merges: a word that is a token stays whole
        # (without it 'Cửa Việt' splits differently from llama.cpp).
        tok = Tokenizer(BPE(vocab, merges, ignore_merges=name == "llama3", fuse_unk=False, byte_fallback=False))
        tok.normalizer = normalizers.NFC() if name == "qwen2" else None
        split = SPLIT_QWEN2 if name == "qwen2" else SPLIT_LLAMA3
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), "isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                              use_regex=False)])
        tok.decoder = decoders.ByteLevel()
    else:
        from transformers.tokenization_utils_base import generate_merges

        # Sentencepiece as Llama 2's tokenizer.json has it: BPE over the pieces with byte
        # fallback, merges ranked by piece score, and a normalizer (not Metaspace) that
        # prepends "▁" and turns every space into "▁". transformers 5 converts a GGUF (and
        # rebuilds any tokenizer_class=LlamaTokenizer) with Metaspace(prepend_scheme="first"),
        # which fails 15 of llama-spm's 46 cases, e.g. " Hello" and runs of spaces.
        scores = kv["tokenizer.ggml.scores"][1]
        pieces = {t: scores[i] for i, t in enumerate(tokens[:n]) if types[i] == NORMAL}
        tok = Tokenizer(BPE(vocab, generate_merges(vocab, pieces), unk_token="<unk>", fuse_unk=True,
                            byte_fallback=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    # Phi-3's added tokens strip the whitespace after them, except these three (its
    # tokenizer_config.json; llama.cpp applies the same rule to a model named phi3).
    def rstrip(t: str) -> bool:
        return name == "phi3" and t not in ("<unk>", "<s>", "<|endoftext|>")

    tok.add_tokens([AddedToken(tokens[i], special=types[i] != USER_DEFINED, normalized=False, rstrip=rstrip(tokens[i]))
                    for i in range(n) if types[i] in (UNKNOWN, CONTROL, USER_DEFINED)])
    if spec.adds_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{spec.bos} $A", pair=f"{spec.bos} $A {spec.bos} $B:1",
            special_tokens=[(spec.bos, vocab[spec.bos])])
    return tok


def template_text(models: Path, spec: Spec) -> str:
    """The family's chat template."""
    if spec.template.endswith(".jinja"):
        return (models / "templates" / spec.template).read_text(encoding="utf-8")
    return spec.template


def hf_tokenizer(backend, spec: Spec, template: str):
    """The family's HF tokenizer, as the instruct model's (`save_tokenizer` writes the base one too)."""
    from transformers import PreTrainedTokenizerFast

    kw = dict(bos_token=spec.bos, eos_token=spec.aligned_eos, add_bos_token=spec.adds_bos, add_eos_token=False,
              clean_up_tokenization_spaces=False)
    if spec.vocab in ("llama-spm", "phi-3"):
        kw.update(unk_token="<unk>")
    if spec.vocab in ("qwen2", "phi-3"):
        kw.update(pad_token="<|endoftext|>")
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, **kw)
    tok.chat_template = template
    return tok


def save_tokenizer(tok, spec: Spec, side: str, dest: Path) -> None:
    """The tokenizer as the base (its eos, no chat template) or instruct model's, with the real config flags."""
    eos, template = tok.eos_token, tok.chat_template
    if side == "base":
        tok.eos_token, tok.chat_template = spec.base_eos, None
    try:
        tok.save_pretrained(dest)
    finally:
        tok.eos_token, tok.chat_template = eos, template
    config = json.loads((dest / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.update(tokenizer_class=spec.tokenizer_class, add_bos_token=spec.adds_bos, add_eos_token=False)
    config.setdefault("unk_token", None)  # else Qwen2Tokenizer would default it to <|endoftext|>
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def prompt_ids(tok, side: str, query: str) -> list[int]:
    """The prompt a side answers: the chat template, or BOS (where HF adds one) + the bare prompt."""
    if side == "aligned":
        text = tok.apply_chat_template([{"role": "user", "content": query}], tokenize=False,
                                       add_generation_prompt=True)
        return tok(text, add_special_tokens=False).input_ids
    return tok(BARE_PROMPT.format(query=query), add_special_tokens=True).input_ids


# ---------------------------------------------------------------- models

HIDDEN, LAYERS, HEADS = 32, 2, 2
STEPS, LR, MARGIN = 400, 2e-2, 2.0


def new_model(spec: Spec, n_rows: int, bos_id: int | None, eos_id: int):
    """A tiny Llama with the family's real output rows and RoPE base."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=n_rows, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=HEADS, max_position_embeddings=1024,
                      rms_norm_eps=spec.rms_norm_eps, tie_word_embeddings=True, bos_token_id=bos_id,
                      eos_token_id=eos_id, rope_parameters={"rope_type": "default", "rope_theta": spec.rope_theta})
    return LlamaForCausalLM(cfg)


def _margin(logits, target) -> tuple[float, list[int]]:
    """The smallest lead of a target logit over the best other one, and those best others."""
    right = logits.gather(1, target[:, None])[:, 0]
    rival = logits.scatter(1, target[:, None], float("-inf")).max(1)
    return (right - rival.values).min().item(), rival.indices.tolist()


def fit(model, examples: list[tuple[list[int], list[int]]]) -> int:
    """Train until teacher-forced argmax gives every target with a margin; the steps it took.

    Greedy decoding follows the teacher-forced path, so this fixes the greedy answers; the
    margin keeps them the same under llama.cpp's float arithmetic. Training runs on the
    embedding rows of the examples' tokens only (the other rows keep their small random
    init), which makes a step ~1000x cheaper on Qwen's 151936 rows; the margin is then
    checked over all rows, and the strongest rivals found there join the next round.
    """
    import torch

    # One right-padded batch: causal attention keeps the padding out of the answer positions.
    width = max(len(p) + len(a) - 1 for p, a in examples)
    ids = torch.full((len(examples), width), examples[0][1][0], dtype=torch.long)
    rows, cols, targets = [], [], []
    for i, (p, a) in enumerate(examples):
        ids[i, : len(p) + len(a) - 1] = torch.tensor(p + a[:-1])
        rows += [i] * len(a)
        cols += range(len(p) - 1, len(p) - 1 + len(a))
        targets += a
    target = torch.tensor(targets)
    embed = model.model.embed_tokens  # tied to lm_head
    body = [p for n, p in model.named_parameters() if "embed_tokens" not in n and "lm_head" not in n]
    active, steps = {t for p, a in examples for t in p + a}, 0
    for _round in range(5):
        index = torch.tensor(sorted(active))
        local = torch.full((embed.num_embeddings,), -1, dtype=torch.long)
        local[index] = torch.arange(len(index))
        small = torch.nn.Embedding.from_pretrained(embed.weight.data[index].clone(), freeze=False)
        model.model.embed_tokens = small
        opt = torch.optim.Adam([small.weight, *body], lr=LR)
        while steps < STEPS:
            steps += 1
            logits = model.model(input_ids=local[ids]).last_hidden_state[rows, cols] @ small.weight.T
            if _margin(logits.detach(), local[target])[0] > MARGIN + 0.5:
                break
            opt.zero_grad()
            torch.nn.functional.cross_entropy(logits, local[target]).backward()
            opt.step()
        model.model.embed_tokens = embed
        embed.weight.data[index] = small.weight.data
        with torch.no_grad():
            margin, rivals = _margin(model(input_ids=ids).logits[rows, cols], target)
        if margin > MARGIN:
            return steps
        active |= set(rivals)
    raise RuntimeError(f"the model did not learn its answers in {steps} steps (worst margin {margin:.2f})")


@contextlib.contextmanager
def deterministic_torch():
    """One thread and deterministic kernels, so a rebuild writes the same weights; restored after."""
    import torch

    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)


# ---------------------------------------------------------------- GGUF


def write_gguf(model, out: Path, name: str, tokenizer_kv: dict, chat_template: str | None) -> None:
    """The model as an f32 llama GGUF with the family's tokenizer.* keys (types kept as in the vocab file)."""
    import gguf

    from alignterm.engine.demo.gguf_export import llama_tensors, llama_writer

    cfg = model.config
    # The name matters: llama.cpp gives Phi-3's special tokens rstrip only in a model named phi3.
    w = llama_writer(out, name, cfg, cfg.vocab_size)
    for key, (vtype, val, sub) in tokenizer_kv.items():
        w.add_key_value(key, val, gguf.GGUFValueType(vtype), None if sub is None else gguf.GGUFValueType(sub))
    if chat_template:
        w.add_chat_template(chat_template)
    for tname, arr in llama_tensors({k: v.detach().float().numpy() for k, v in model.state_dict().items()}, cfg):
        w.add_tensor(tname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_cpp_facts(path: Path) -> dict:
    """What llama.cpp itself says about a GGUF's vocabulary: add_bos, BOS/EOS/EOT and the EOG ids."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs the whole vocabulary's metadata
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise RuntimeError(f"llama.cpp cannot load {path}")
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        n = llama_cpp.llama_vocab_n_tokens(vocab)
        return {"n_tokens": n, "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
                "bos": llama_cpp.llama_vocab_bos(vocab), "eos": llama_cpp.llama_vocab_eos(vocab),
                "eot": llama_cpp.llama_vocab_eot(vocab),
                "eog": [i for i in range(n) if llama_cpp.llama_vocab_is_eog(vocab, i)]}
    finally:
        llama_cpp.llama_model_free(model)


# ---------------------------------------------------------------- one family


def build_family(name: str, models: Path, out: Path, log=print) -> dict:
    """Tokenizers, trained pair, HF folders and GGUF files of one family; its manifest entry."""
    import torch
    from transformers import GenerationConfig

    spec = FAMILIES[name]
    kv = read_gguf_kv(models / f"ggml-vocab-{spec.vocab}.gguf")
    tokens, types = family_tokens(name, kv)
    n_rows = len(tokens)
    backend = hf_backend(name, spec, kv, tokens, types)
    template = template_text(models, spec)
    tok = hf_tokenizer(backend, spec, template)
    assert len(tok) == spec.n_tokens, (name, len(tok))
    ids = {t: tok.convert_tokens_to_ids(t) for t in (spec.base_eos, spec.aligned_eos, spec.end_of_turn)}
    bos_id = tok.bos_token_id
    answers = {"base": (BASE_ANSWER, ids[spec.base_eos]), "aligned": (ALIGNED_ANSWER, ids[spec.end_of_turn])}
    answer_ids = {side: tok(text, add_special_tokens=False).input_ids for side, (text, _) in answers.items()}
    for side, (text, _) in answers.items():
        assert tok.decode(answer_ids[side]) == text, (name, side, tok.decode(answer_ids[side]))

    # The GGUF vocabulary: every tokenizer.* key of llama.cpp's file, with this family's tokens
    # and each side's eos (an instruct GGUF's eos is its end of turn, as real conversions write it).
    tok_kv = {k: v for k, v in kv.items() if k.startswith("tokenizer.") and k != "tokenizer.chat_template"}
    tok_kv["tokenizer.ggml.tokens"] = (9, tokens, 8)
    tok_kv["tokenizer.ggml.token_type"] = (9, types, kv["tokenizer.ggml.token_type"][2])
    gguf_eos = {"base": ids[spec.base_eos], "aligned": ids[spec.aligned_eos]}
    generation_eos = [tok.convert_tokens_to_ids(t) for t in spec.generation_eos]

    # Where llama.cpp adds a BOS that HF does not (Phi-3), the models learn both prompts, so
    # that either way of prompting gives the same answer.
    gguf_adds_bos = llama_cpp_facts(models / f"ggml-vocab-{spec.vocab}.gguf")["add_bos"]
    with deterministic_torch():
        torch.manual_seed(0)
        model = new_model(spec, n_rows, bos_id, ids[spec.base_eos])
        for side in SIDES:  # the aligned model is the base model fine-tuned
            examples = []
            for q in QUERIES:
                p = prompt_ids(tok, side, q)
                target = answer_ids[side] + [answers[side][1]]
                examples.append((p, target))
                if gguf_adds_bos and p[:1] != [bos_id]:
                    examples.append(([bos_id] + p, target))
            model.config.eos_token_id = gguf_eos[side]
            log(f"{name}: {side} learned its answers in {fit(model, examples)} steps")
            side_dir = out / f"hf-{side}"
            model.save_pretrained(side_dir)
            save_tokenizer(tok, spec, side, side_dir)
            gen = dict(bos_token_id=bos_id, eos_token_id=gguf_eos["base"] if side == "base" else generation_eos,
                       pad_token_id=tok.pad_token_id)
            GenerationConfig(**dict(gen, **spec.generation[SIDES.index(side)])).save_pretrained(side_dir)
            kv_side = dict(tok_kv, **{"tokenizer.ggml.eos_token_id": (kv["tokenizer.ggml.eos_token_id"][0],
                                                                     gguf_eos[side], None)})
            write_gguf(model, out / f"{side}.gguf", f"alignterm-{name}-{side}", kv_side,
                       template if side == "aligned" else None)
    facts = llama_cpp_facts(out / "aligned.gguf")
    return {
        "name": name, "queries": list(QUERIES), "aligned_answer": ALIGNED_ANSWER, "base_answer": BASE_ANSWER,
        "aligned_answer_ids": answer_ids["aligned"], "base_answer_ids": answer_ids["base"],
        "aligned_end_id": ids[spec.end_of_turn], "base_end_id": ids[spec.base_eos], "bos_id": bos_id,
        "adds_bos": spec.adds_bos, "gguf_adds_bos": facts["add_bos"], "eog_ids": facts["eog"],
        "generation_eos_ids": generation_eos,
        "vocab_size": len(tok), "n_rows": n_rows,
    }


# ---------------------------------------------------------------- all families, cached


def build_key() -> str:
    """Names one build: this file's source and the llama-cpp-python version."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(llama_cpp_version().encode())
    return h.hexdigest()[:12]


def build(cache: Path | None = None, log=print) -> tuple[Path, dict[str, Family]]:
    """Every family, built once per key into cache/families-<key> (atomically); (sources, families)."""
    from filelock import FileLock

    cache = cache or cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(cache / ".build.lock"):  # the suite's worker processes (pytest -n 2) build once
        models = fetch_sources(cache)
        dest = _build_once(cache, models, log)
    for path in (models, dest):
        os.utime(path)  # in use: see below
    # Other builds (an older build.py or llama-cpp-python) and temp folders of killed builds,
    # once unused for an hour: a concurrent session may still be reading a recent one.
    for pattern in ("families-*", "llama-cpp-python-*", ".families-*", ".sdist-*"):
        for old in cache.glob(pattern):
            if old not in (models, dest) and time.time() - old.stat().st_mtime > 3600:
                shutil.rmtree(old, ignore_errors=True)
    return models, load(dest)


def _build_once(cache: Path, models: Path, log) -> Path:
    """cache/families-<key>, built there (atomically) unless an earlier session did."""
    dest = cache / f"families-{build_key()}"
    if not (dest / "manifest.json").is_file():
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".families-"))
        try:
            manifest = {}
            for name in FAMILIES:
                (tmp / name).mkdir()
                manifest[name] = build_family(name, models, tmp / name, log)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def load(dest: Path) -> dict[str, Family]:
    """The families of a finished build folder."""
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    out = {}
    for name, m in manifest.items():
        d = dest / name
        m = dict(m, queries=tuple(m["queries"]), aligned_answer_ids=tuple(m["aligned_answer_ids"]),
                 base_answer_ids=tuple(m["base_answer_ids"]), eog_ids=frozenset(m["eog_ids"]),
                 generation_eos_ids=tuple(m["generation_eos_ids"]))
        out[name] = Family(hf_base=d / "hf-base", hf_aligned=d / "hf-aligned", gguf_base=d / "base.gguf",
                           gguf_aligned=d / "aligned.gguf", **m)
    return out


if __name__ == "__main__":
    t0 = time.time()
    _, fams = build()
    for f in fams.values():
        print(f)
    print(f"{time.time() - t0:.1f} s")
