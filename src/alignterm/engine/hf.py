"""The transformers adapter: an HF folder or hub id on CUDA, MPS or CPU, with a KV cache."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Iterator, Sequence

import torch

from .backend import DecodingParams, ModelSpec, Step, existing_path
from .errors import BadInput, ModelLoadError
from .prompts import read_chat_template

# "org/name" or "name": what a hub id looks like; anything else is meant as a local path
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def pick_device(requested: str) -> str:
    """The torch device for --device, refusing a device this machine lacks."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: torch sees no CUDA GPU on this machine (try --device cpu)")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise BadInput("--device mps: this torch build has no MPS support here (try --device cpu)")
    if requested not in ("cpu", "cuda", "mps"):
        raise BadInput(f"unknown device {requested!r} (choose from auto, cpu, cuda, mps)")
    return requested


def pick_dtype(requested: str, device: str) -> torch.dtype:
    """float32 on CPU (fast and exact there), bfloat16/float16 on accelerators, unless told."""
    if requested == "auto":
        if device == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[requested]
    except KeyError:
        raise BadInput(f"unknown dtype {requested!r} (choose from auto, float32, bfloat16, float16)") from None


def _source(spec: str) -> str:
    """The local folder or hub id to load, or a clear error for a path that is not there."""
    path = existing_path(spec)
    if path is not None:
        if path.is_file():
            raise BadInput(f"{spec} is a file: give a Hugging Face model folder (or a .gguf with the gguf backend)")
        if not (path / "config.json").is_file():
            raise BadInput(f"{spec} has no config.json: not a Hugging Face model folder")
        return str(path)
    if spec.startswith((".", "/", "~")) or not _HUB_ID.match(spec):
        raise BadInput(f"model path not found: {spec}")
    return spec


class HFTokenizer:
    """A transformers tokenizer seen through the engine's Tokenizer protocol."""

    def __init__(self, tok, eos_ids: set[int], chat_template: str | None) -> None:
        self._tok = tok
        self.vocab_size = len(tok)
        self.bos_id = tok.bos_token_id
        self.eos_ids = frozenset(eos_ids)
        self.chat_template = chat_template

    def encode(self, text: str, *, add_bos: bool = False) -> list[int]:
        ids = self._tok(text, add_special_tokens=False)["input_ids"]
        if add_bos and self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids = [self.bos_id, *ids]
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    @cached_property
    def _pieces(self) -> list[str]:
        return [self.decode([i]) for i in range(self.vocab_size)]

    def piece(self, token_id: int) -> str:
        return self._pieces[token_id] if 0 <= token_id < self.vocab_size else ""

    def vocab(self) -> list[str]:
        return self._tok.convert_ids_to_tokens(list(range(self.vocab_size)))

    def chat_ids(self, query: str) -> list[int]:
        """The aligned model's prompt for `query`: its chat template with a generation prompt."""
        if not self.chat_template:
            raise BadInput(
                "the aligned model's tokenizer has no chat template: pass one with --chat-template FILE.jinja"
            )
        text = self._tok.apply_chat_template(
            [{"role": "user", "content": query}],
            chat_template=self.chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )
        return self.encode(text)


class HFScorer:
    """Incremental scoring with a DynamicCache: one forward pass per call, whatever its length."""

    def __init__(self, model) -> None:
        self._model = model
        self._cache = None
        self._ids: list[int] = []
        self._last: torch.Tensor | None = None  # [V] logits predicting the next token

    @property
    def length(self) -> int:
        return len(self._ids)

    @property
    def next_logits(self) -> torch.Tensor:
        if self._last is None:
            raise ValueError("set_context before scoring")
        return self._last

    def _feed(self, ids: Sequence[int]) -> torch.Tensor:
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache(config=self._model.config)
        x = torch.tensor([list(ids)], device=self._model.device)
        with torch.inference_mode():
            out = self._model(input_ids=x, cache=self._cache, use_cache=True)
        self._cache = out.cache
        self._ids.extend(ids)
        return out.logits[0].float()  # [len(ids), V]

    def set_context(self, ids: Sequence[int]) -> None:
        ids = list(ids)
        if not ids:
            raise ValueError("a scoring context needs at least one token")
        if ids == self._ids and self._last is not None:
            return
        keep = 0
        for a, b in zip(self._ids, ids):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(ids) - 1)  # re-feed at least one token to get the last row
        if keep == 0:
            self._cache, self._ids = None, []
        elif len(self._ids) > keep:
            self._cache.crop(-(len(self._ids) - keep))
            del self._ids[keep:]
        self._last = self._feed(ids[keep:])[-1]

    def score(self, ids: Sequence[int]) -> torch.Tensor:
        first = self.next_logits
        rows = self._feed(ids)
        out = torch.cat([first.unsqueeze(0), rows[:-1]])
        self._last = rows[-1]
        return out


def pick_token(logits: torch.Tensor, params: DecodingParams, history: list[int], gen) -> int:
    """Greedy argmax, or a sample with HF's repetition penalty, temperature and top-p."""
    if params.repetition_penalty != 1.0 and history:
        logits = logits.clone()
        seen = torch.tensor(sorted(set(history)), device=logits.device)
        vals = logits[seen]
        logits[seen] = torch.where(vals > 0, vals / params.repetition_penalty, vals * params.repetition_penalty)
    if params.greedy:
        return int(logits.argmax())
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > params.top_p
        sorted_p[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return int(torch.multinomial(probs, 1, generator=gen))


class HFBackend:
    """One transformers causal LM and its tokenizer."""

    kind = "hf"

    def __init__(self, name: str, model, tokenizer: HFTokenizer) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template = tokenizer.chat_template
        cfg = model.config
        self.context_length = int(getattr(cfg, "max_position_embeddings", 0) or 2048)

    @classmethod
    def load(cls, spec: ModelSpec) -> "HFBackend":
        """Load a folder or hub id; errors become one-line ModelLoadErrors."""
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # progress bars and warnings would garble the terminal
        hf_logging.disable_progress_bar()
        source = _source(spec.spec)
        device = pick_device(spec.device)
        dtype = pick_dtype(spec.dtype, device)
        template = read_chat_template(spec.chat_template) if spec.chat_template else None
        try:
            tok = AutoTokenizer.from_pretrained(source, trust_remote_code=spec.trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, trust_remote_code=spec.trust_remote_code
            )
        except torch.OutOfMemoryError:
            raise ModelLoadError(f"out of memory while loading {spec.spec} on {device} (try a smaller --dtype)") from None
        except Exception as err:  # transformers raises many types; the user needs the one line
            raise ModelLoadError(f"cannot load {spec.spec}: {_first_line(err)}") from None
        model.to(device).eval()
        eos = {tok.eos_token_id} - {None}
        try:
            gen_eos = GenerationConfig.from_pretrained(source).eos_token_id
        except Exception:  # a folder without generation_config.json is normal
            gen_eos = None
        eos |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos]) - {None}
        return cls(spec.spec, model, HFTokenizer(tok, eos, template or tok.chat_template))

    def scorer(self) -> HFScorer:
        return HFScorer(self.model)

    def generate(self, prompt_ids: Sequence[int], params: DecodingParams) -> Iterator[Step]:
        scorer = self.scorer()
        scorer.set_context(prompt_ids)
        history = list(prompt_ids)
        gen = None
        if not params.greedy:
            gen = torch.Generator(device=self.model.device).manual_seed(params.seed)
        budget = min(params.max_new_tokens, self.context_length - len(prompt_ids))
        for i in range(budget):
            logits = scorer.next_logits
            tok = pick_token(logits, params, history, gen)
            history.append(tok)
            yield Step(tok, logits)
            if i + 1 < budget:  # the last token needs no forward pass of its own
                scorer.score([tok])


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
