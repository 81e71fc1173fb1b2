"""Write the demo pair as GGUF files with the `gguf` package, then quantize with llama.cpp.

Why not llama.cpp's `convert_hf_to_gguf.py`: it ships only inside the llama-cpp-python
sdist, and it refuses a self-trained BPE tokenizer unless its pre-tokenizer hash table is
patched. The demo models are plain Llama with a byte-level BPE (GPT-2 style)
tokenizer, so writing the few dozen tensors and keys directly is short and exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# HF Llama tensor names -> GGUF names (llama.cpp's convention); {i} is the layer.
LAYER_TENSORS = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}
QUANT_TYPES = ("q8_0", "q4_0")


def _permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF stores Q/K rows for rotate-half RoPE; llama.cpp expects interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_tensors(hf: dict[str, np.ndarray], cfg) -> list[tuple[str, np.ndarray]]:
    """A Llama model's HF weights (name -> array) as llama.cpp's f32 tensors, in its names and RoPE layout."""
    out = [("token_embd.weight", hf["model.embed_tokens.weight"])]
    for i in range(cfg.num_hidden_layers):
        for src, dst in LAYER_TENSORS.items():
            w = hf[f"model.layers.{i}.{src}"]
            if src.startswith("self_attn.q_proj"):
                w = _permute_rope(w, cfg.num_attention_heads)
            elif src.startswith("self_attn.k_proj"):
                w = _permute_rope(w, cfg.num_key_value_heads)
            out.append((f"blk.{i}.{dst}", w))
    out.append(("output_norm.weight", hf["model.norm.weight"]))
    if not cfg.tie_word_embeddings:  # tied: llama.cpp reuses token_embd
        out.append(("output.weight", hf["lm_head.weight"]))
    return [(name, np.ascontiguousarray(w, dtype=np.float32)) for name, w in out]


def llama_writer(out_file: Path, name: str, cfg, n_vocab: int):
    """A GGUFWriter for an f32 Llama model with the architecture keys of `cfg` (tokenizer keys: the caller's)."""
    import gguf

    rope = getattr(cfg, "rope_parameters", None) or {}
    w = gguf.GGUFWriter(str(out_file), "llama")
    w.add_name(name)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))))
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    return w


def write_f32_gguf(model_dir: Path, out_file: Path, name: str) -> None:
    """One HF demo model folder (Llama + byte-level BPE) as an f32 GGUF file."""
    import gguf
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    w = llama_writer(out_file, name, cfg, len(tok))

    tokens = tok.convert_ids_to_tokens(list(range(len(tok))))
    special = set(tok.all_special_ids)
    types = [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tok))]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    special_vocab = gguf.SpecialVocab(model_dir, load_merges=True)
    special_vocab.add_to_gguf(w)
    w.add_add_bos_token(True)
    end = tok.convert_tokens_to_ids("<|end|>")
    if tok.chat_template:
        w.add_eot_token_id(end)  # the aligned model's end of turn
        w.add_chat_template(tok.chat_template)

    for tname, arr in llama_tensors(load_file(str(model_dir / "model.safetensors")), cfg):
        w.add_tensor(tname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(src: Path, dst: Path, qtype: str) -> None:
    """Quantize a GGUF file with llama.cpp's own quantizer (Q8_0 / Q4_0 need rows % 32 == 0)."""
    import ctypes

    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}[qtype]
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs every tensor it quantizes
        failed = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params)) != 0
    if failed:
        raise RuntimeError(f"llama.cpp could not quantize {src} to {qtype}")


def export_pair(pair_dir: Path, qtype: str = "q8_0", log=print) -> list[Path]:
    """Write demo-base/aligned .f32.gguf and .<qtype>.gguf into pair_dir/gguf."""
    out_dir = pair_dir / "gguf"
    out_dir.mkdir(exist_ok=True)
    written = []
    for side in ("base", "aligned"):
        f32 = out_dir / f"demo-{side}.f32.gguf"
        write_f32_gguf(pair_dir / side, f32, f"alignterm-demo-{side}")
        q = out_dir / f"demo-{side}.{qtype}.gguf"
        quantize(f32, q, qtype)
        written += [f32, q]
        log(f"gguf: {f32.name} ({f32.stat().st_size / 1e6:.1f} MB), {q.name} ({q.stat().st_size / 1e6:.1f} MB)")
    return written
