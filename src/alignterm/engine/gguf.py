"""The llama-cpp-python adapter: quantized GGUF files, full-vocabulary logits, llama.cpp's KV cache.

One `Llama` holds the weights; every scorer (and every generation) gets its own llama.cpp
context on those weights, so the base model can hold the URIAL context and the bare
context at once without loading the file twice.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Generator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .backend import CachedScorer, OneSampleAtATime, TokenizerBase
from .devices import check_device_form
from .errors import BadInput, ModelLoadError
from .prompts import chat_messages, read_chat_template
from .sampling import generate_with
from .values import DecodingParams, ModelSpec, Step

if TYPE_CHECKING:
    from llama_cpp._internals import LlamaContext

INSTALL_HINT = "the GGUF backend needs llama-cpp-python: pip install 'alignterm[gguf]'"
DEFAULT_MAX_CTX = 4096
GGUF_MAGIC = b"GGUF"


def _layers_line(metadata: dict[str, str], n_gpu_layers: int, gpu: bool) -> str:
    """`32 of 32 layers on the GPU`, as llama.cpp placed them (n_gpu_layers < 0: all)."""
    layers = int(metadata.get(f"{metadata.get('general.architecture')}.block_count", 0))
    on_gpu = layers if n_gpu_layers < 0 else min(n_gpu_layers, layers)
    return f"{on_gpu} of {layers} layers on the GPU" + ("" if gpu else " (this llama-cpp-python has no GPU support)")


def _llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise BadInput(INSTALL_HINT) from None
    return llama_cpp


def check_gguf_file(spec: str) -> Path:
    """The path of a readable GGUF file, or a one-line reason why it is not one."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise BadInput(f"model path not found: {spec}")
    if not path.is_file():
        raise BadInput(f"{spec} is not a file: the gguf backend loads one .gguf file")
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise BadInput(f"{spec} is not a GGUF file (it does not start with the GGUF magic bytes)")
    return path


class GGUFTokenizer(TokenizerBase):
    """The GGUF's own tokenizer, through llama.cpp, with llama.cpp's own BOS and end-of-generation rules."""

    vocab_size: int

    def __init__(self, llm, chat_template: str | None) -> None:
        import llama_cpp

        self._llm = llm
        self._model = llm._model
        vocab = self._model.vocab
        attrs = [llama_cpp.llama_vocab_get_attr(vocab, i) for i in range(llm.n_vocab())]
        # a converter pads the vocabulary to the output rows with `[PAD…]` tokens, typed unused
        # (older converters: unknown): they are not tokens
        padding = llama_cpp.LLAMA_TOKEN_ATTR_UNUSED | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        self.vocab_size = len(attrs)
        while self.vocab_size > 1 and attrs[self.vocab_size - 1] & padding:
            self.vocab_size -= 1
        not_ordinary = (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
                        | llama_cpp.LLAMA_TOKEN_ATTR_UNUSED | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN)
        self._special = frozenset(i for i, a in enumerate(attrs) if a & not_ordinary)
        self._byte_tokens = frozenset(i for i, a in enumerate(attrs) if a & llama_cpp.LLAMA_TOKEN_ATTR_BYTE)
        bos = llm.token_bos()
        # the BOS a prompt starts with: only where the file says to add one (Qwen2.5's says not to)
        self.bos_id = bos if bos >= 0 and llama_cpp.llama_vocab_get_add_bos(vocab) else None
        # llama.cpp's end-of-generation set (eos, eot, eom, <|end_of_text|>, ...), as its own server stops on
        self.eos_ids = frozenset(i for i in self._special | {llm.token_eos()} if llama_cpp.llama_vocab_is_eog(vocab, i))
        self.chat_template = chat_template

    def _encode_plain(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _token_bytes(self, token_id: int) -> bytes:
        if token_id in self._byte_tokens:  # SentencePiece byte fallback: shown as <0x20>, never as the space of "▁"
            return self._model.token_get_text(token_id).encode()
        return self._raw(token_id)

    def _piece_bytes(self, token_id: int) -> bytes:
        import llama_cpp

        size = 64
        while True:  # llama.cpp answers minus the size it needs when the buffer is too small
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._model.vocab, token_id, buf, size, 0, True)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def decode(self, ids: Sequence[int]) -> str:
        # each token's own bytes joined, as llama.cpp's detokenizer does (special tokens as text)
        return b"".join(self._raw(i) for i in ids).decode("utf-8", errors="replace")

    def _raw(self, token_id: int) -> bytes:
        if token_id not in self._bytes:
            self._bytes[token_id] = self._piece_bytes(token_id)
        return self._bytes[token_id]

    @cached_property
    def _bytes(self) -> dict[int, bytes]:
        return {}

    def vocab(self) -> list[str]:
        return [self._model.token_get_text(i) for i in range(self.vocab_size)]

    def special_ids(self) -> frozenset[int]:
        return self._special

    def chat_ids(self, query: str, history: Sequence[tuple[str, str]] = ()) -> list[int]:
        if not self.chat_template:
            raise BadInput(
                "the aligned model's GGUF has no chat template: pass one with --chat-template FILE.jinja"
            )
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        bos = self.decode([self._llm.token_bos()]) if self._llm.token_bos() >= 0 else ""
        eos = self.decode([self._llm.token_eos()])
        formatter = Jinja2ChatFormatter(self.chat_template, eos_token=eos, bos_token=bos, add_generation_prompt=True)
        messages: Any = chat_messages(query, history)  # the role/content dicts llama_cpp types as its TypedDicts
        text = formatter(messages=messages).prompt
        return self.encode(text)


class GGUFScorer(CachedScorer):
    """A llama.cpp context of its own on the shared weights; returns full-vocabulary logits."""

    def __init__(self, llm) -> None:
        super().__init__()
        from llama_cpp._internals import LlamaBatch, LlamaContext

        self._n_vocab = llm.n_vocab()
        self._n_batch = llm.n_batch
        self._ctx = LlamaContext(model=llm._model, params=llm.context_params, verbose=False)
        self._batch = LlamaBatch(n_tokens=self._n_batch, embd=0, n_seq_max=1, verbose=False)

    def _feed(self, ids: Sequence[int], last_only: bool = False) -> torch.Tensor:
        rows = []
        n_past = len(self._ids)
        for i in range(0, len(ids), self._n_batch):
            chunk = list(ids[i : i + self._n_batch])
            self._batch.set_batch(batch=chunk, n_past=n_past, logits_all=not last_only)  # else the last row only
            self._ctx.decode(self._batch)
            n_rows = 1 if last_only else len(chunk)
            logits = np.ctypeslib.as_array(self._ctx.get_logits(), shape=(n_rows, self._n_vocab))
            rows.append(torch.from_numpy(logits.copy()))  # llama.cpp reuses that buffer
            n_past += len(chunk)
        return rows[-1] if last_only else torch.cat(rows)  # [len(ids), V], or [1, V]

    def _crop(self, keep: int) -> None:
        self._ctx.kv_cache_seq_rm(-1, keep, -1)

    def _reset(self) -> None:
        self._ctx.kv_cache_clear()


class GGUFBackend(OneSampleAtATime):
    """One GGUF model loaded by llama-cpp-python."""

    kind = "gguf"
    can_score = True
    samples_locally = True
    score_chunk = 1
    devices: frozenset[str] = frozenset()  # llama.cpp holds its own memory, not torch

    def __init__(self, name: str, llm, tokenizer: GGUFTokenizer) -> None:
        self.name = name
        self.llm = llm
        self.tokenizer = tokenizer
        self.chat_template = tokenizer.chat_template
        self.context_length = llm.n_ctx()
        self._idle: list[GGUFScorer] = []  # generation contexts not in use
        self._embed_ctx: LlamaContext | None = None  # made on the first embed(): llama.cpp needs embeddings on for hidden states

    @classmethod
    def load(cls, spec: ModelSpec, progress: Callable[[str], None] | None = None) -> GGUFBackend:
        """Load a .gguf; all layers on the GPU when llama.cpp was built with GPU support (`cuda:N`: that
        GPU alone; otherwise llama.cpp spreads them over every GPU). `progress` hears how many went there."""
        path = check_gguf_file(spec.spec)
        llama_cpp = _llama_cpp()
        gpu = llama_cpp.llama_supports_gpu_offload()
        check_device_form(spec.device)
        if spec.device not in ("auto", "cpu") and not gpu:
            raise BadInput(f"--device {spec.device}: this llama-cpp-python was built without GPU support (see the README)")
        n_gpu_layers = spec.n_gpu_layers
        if n_gpu_layers is None:
            n_gpu_layers = -1 if spec.device != "cpu" and gpu else 0
        one_gpu = spec.device.startswith("cuda:")
        placement = {"main_gpu": int(spec.device.partition(":")[2]), "split_mode": llama_cpp.LLAMA_SPLIT_MODE_NONE} \
            if one_gpu else {}
        template = read_chat_template(spec.chat_template) if spec.chat_template else None
        try:
            train_ctx = _train_context(path)
            n_ctx = spec.n_ctx or min(train_ctx or DEFAULT_MAX_CTX, DEFAULT_MAX_CTX)
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_gpu_layers=n_gpu_layers,
                # llama-cpp-python's default thread count (half the cores): ggml's threads
                # spin while they wait, and one per core starves everything else (~500x slower
                # here when another process was busy)
                logits_all=False,
                verbose=False,
                **placement,
            )
        except (ValueError, RuntimeError, OSError) as err:
            raise ModelLoadError(f"cannot load {spec.spec}: {str(err).splitlines()[0]} (a truncated or corrupt file?)") from None
        template = template or llm.metadata.get("tokenizer.chat_template")
        if progress is not None:
            progress(_layers_line(llm.metadata, n_gpu_layers if gpu else 0, gpu))
        return cls(spec.spec, llm, GGUFTokenizer(llm, template))

    def scorer(self) -> GGUFScorer:
        return GGUFScorer(self.llm)

    def generate(self, prompt_ids: Sequence[int], params: DecodingParams) -> Generator[Step, None, None]:
        # A llama.cpp context costs milliseconds to create and to warm up (about as much as
        # scoring a 170-token prompt on the demo model): finished generations hand theirs
        # back for the next one, which also reuses the KV cache of a shared prompt prefix.
        scorer = self._idle.pop() if self._idle else self.scorer()
        try:
            yield from generate_with(scorer, prompt_ids, params, self.context_length, self.tokenizer.vocab_size)
        finally:
            self._idle.append(scorer)

    def embed(self, ids: Sequence[int]) -> torch.Tensor:
        """Mean-pooled last hidden layer over `ids` (truncated to the context): [n_embd].

        llama.cpp returns hidden states only from a context made with embeddings on, so one
        is made on first use (a few MB on the demo pair) and kept. Pooling is done here,
        over per-token outputs, so a text longer than one batch is pooled exactly.
        """
        import llama_cpp
        from llama_cpp._internals import LlamaBatch, LlamaContext

        if self._embed_ctx is None:
            params = type(self.llm.context_params).from_buffer_copy(self.llm.context_params)
            params.embeddings = True  # pooling stays the model's own: none for a causal LM, so per-token rows
            self._embed_ctx = LlamaContext(model=self.llm._model, params=params, verbose=False)
        ctx, n_batch, n_embd = self._embed_ctx, self.llm.n_batch, self.llm.n_embd()
        ids = list(ids)[: self.context_length]
        batch = LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        ctx.kv_cache_clear()
        total = torch.zeros(n_embd, dtype=torch.float64)
        for i in range(0, len(ids), n_batch):
            chunk = ids[i : i + n_batch]
            batch.set_batch(batch=chunk, n_past=i, logits_all=True)
            ctx.decode(batch)
            rows = np.ctypeslib.as_array(llama_cpp.llama_get_embeddings(ctx.ctx), shape=(len(chunk), n_embd))
            total += torch.from_numpy(rows.astype(np.float64)).sum(0)
        return (total / max(len(ids), 1)).float()


def _train_context(path: Path) -> int | None:
    """The context length the GGUF was trained with, from the metadata of llama.cpp's vocabulary-only
    load (no weights: 0.7 s for Llama 3's 128k tokens; gguf's GGUFReader walks every token in Python: ~20 s)."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:  # hparams such as n_ctx_train are not read in a vocabulary-only load; the metadata is
        with contextlib.closing(LlamaModel(path_model=str(path), params=params, verbose=False)) as model:
            metadata = model.metadata()
    except (ValueError, RuntimeError, OSError):  # an unreadable file (or metadata that is not UTF-8)
        return None  # is reported by the real load that follows
    length = metadata.get(f"{metadata.get('general.architecture')}.context_length", "")
    return int(length) if length.isdigit() else None
