"""The transformers adapter: an HF folder or hub id on CUDA, MPS or CPU, with a KV cache."""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .backend import CachedScorer, TokenizerBase
from .devices import SPREAD, resolve_device
from .errors import AlignTermError, BadInput, ModelLoadError, OutOfMemory, is_out_of_memory
from .events import Side
from .load_progress import Report, transformers_progress
from .memory import Placement, hub_tensors, safetensors_tensors, weight_bytes
from .prompts import chat_messages, read_chat_template
from .sampling import generate_with
from .sources import existing_path, looks_like_hub_id
from .values import DecodingParams, ModelSpec, Step

if TYPE_CHECKING:
    from transformers import DynamicCache

HUB_TIMEOUT_S = 10.0
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
# Special tokens that end a generation whatever the config says: llama.cpp's own list
# (llama-vocab.cpp, special_eog_ids), so a model stops on the same ids through HF and GGUF.
EOG_NAMES = frozenset({
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
    "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<|return|>", "<|call|>",
})



def pick_dtype(requested: str, device: str) -> torch.dtype:
    """float32 on CPU (fast and exact there), bfloat16/float16 on accelerators, unless told."""
    if requested == "auto":
        if device.startswith("cuda") or device == SPREAD:
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
    if not looks_like_hub_id(spec):
        raise BadInput(f"model path not found: {spec}")
    _check_hub(spec)
    return spec


@functools.cache  # a success only (a failure raises): the memory check and the load both ask
def _check_hub(repo: str) -> None:
    """A hub id must be in the local cache or known to the hub, found out in seconds: transformers
    itself retries an unreachable hub for about a minute, printing a line per retry."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if isinstance(try_to_load_from_cache(repo, "config.json"), str):
        return
    unreachable = ModelLoadError(
        f"cannot load {repo}: no such local folder, it is not in the Hugging Face cache, and the hub cannot be "
        "reached (offline?): give a local model folder, or download it where there is a network")
    if constants.HF_HUB_OFFLINE:
        raise unreachable
    try:
        HfApi().model_info(repo, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        return  # it exists; the download says what access it needs
    except RepositoryNotFoundError:
        raise ModelLoadError(f"cannot load {repo}: no such local folder, and no such model on the Hugging Face hub "
                             "(or it is private: log in with `hf auth login`)") from None
    except Exception:  # the network's many errors (DNS, refused, timeout, proxy) all mean the same here
        raise unreachable from None


def _cached_folder(repo: str) -> Path | None:
    """The local snapshot folder of a hub id already in the Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo, "config.json")
    return Path(config).parent if isinstance(config, str) else None


def quantization(spec: ModelSpec, device: str, dtype: torch.dtype):
    """transformers' BitsAndBytesConfig for --quantize (None without it), or one line saying what is missing."""
    if spec.quantize is None:
        return None
    if not (device.startswith("cuda") or device == SPREAD):
        raise BadInput(f"--quantize {spec.quantize} needs a CUDA GPU (bitsandbytes), and {spec.spec} is to load on "
                       f"{device}: on the CPU use GGUF files (--backend gguf), which come quantized")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise BadInput(f"--quantize {spec.quantize} needs bitsandbytes: pip install 'alignterm[quant]'")
    from transformers import BitsAndBytesConfig

    if spec.quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)


class HFTokenizer(TokenizerBase):
    """A transformers tokenizer seen through the engine's Tokenizer protocol."""

    vocab_size: int

    def __init__(self, tok, eos_ids: set[int], chat_template: str | None) -> None:
        self._tok = tok
        self._added = dict(tok.added_tokens_decoder)  # a property that rebuilds this dict on every call
        self.vocab_size = len(tok)
        self.bos_id = _added_bos(tok)
        self.eos_ids = frozenset(eos_ids)
        self.chat_template = chat_template

    def _encode_plain(self, text: str) -> list[int]:
        return self._tok(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _token_bytes(self, token_id: int) -> bytes:
        added = self._added.get(token_id)
        if added is not None:
            return added.content.encode()
        token = self._tok.convert_ids_to_tokens(token_id)
        if _BYTE_TOKEN.fullmatch(token):  # SentencePiece byte fallback: shown as <0x20>, never as the space of "▁"
            return token.encode()
        if self._byte_level:  # GPT-2 style: each byte is stored as one printable character
            return bytes(self._byte_of[c] for c in token)
        return token.replace("\u2581", " ").encode()

    @functools.cached_property
    def _byte_of(self) -> dict[str, int]:
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        return {c: b for b, c in bytes_to_unicode().items()}

    @functools.cached_property
    def _byte_level(self) -> bool:
        decoder = getattr(getattr(self._tok, "backend_tokenizer", None), "decoder", None)
        return decoder is not None and b'"ByteLevel"' in decoder.__getstate__()

    def vocab(self) -> list[str]:
        return self._tok.convert_ids_to_tokens(list(range(self.vocab_size)))

    def special_ids(self) -> frozenset[int]:
        return frozenset(self._added)

    def chat_ids(self, query: str, history: Sequence[tuple[str, str]] = ()) -> list[int]:
        """The aligned model's prompt for `query` after `history`: its chat template with a generation prompt."""
        if not self.chat_template:
            raise BadInput(
                "the aligned model's tokenizer has no chat template: pass one with --chat-template FILE.jinja"
            )
        text = self._tok.apply_chat_template(
            chat_messages(query, history),
            chat_template=self.chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )
        return self.encode(text)


def _added_bos(tok) -> int | None:
    """The BOS id the tokenizer puts before a text; None where it adds none (Qwen2.5 has none to add)."""
    bos = tok.bos_token_id
    return bos if bos is not None and tok("a")["input_ids"][:1] == [bos] else None


class HFScorer(CachedScorer):
    """Incremental scoring with a DynamicCache: one forward pass per call, whatever its length."""

    def __init__(self, model) -> None:
        super().__init__()
        self._model = model
        self._cache: DynamicCache | None = None

    def _feed(self, ids: Sequence[int], last_only: bool = False) -> torch.Tensor:
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache(config=self._model.config)
        x = torch.tensor([list(ids)], device=self._model.device)
        with torch.inference_mode():
            out = self._model(input_ids=x, cache=self._cache, use_cache=True, logits_to_keep=1 if last_only else 0)
        self._cache = out.cache
        return out.logits[0].float()  # [len(ids), V], or [1, V]

    def _crop(self, keep: int) -> None:
        if self._cache is not None:  # nothing cached yet: nothing to drop
            self._cache.crop(-(len(self._ids) - keep))

    def _reset(self) -> None:
        self._cache = None


class HFBackend:
    """One transformers causal LM and its tokenizer."""

    kind = "hf"
    can_score = True
    can_batch = True
    samples_locally = True
    score_chunk = 1

    def __init__(self, name: str, model, tokenizer: HFTokenizer) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template = tokenizer.chat_template
        cfg = model.config
        self.context_length = int(getattr(cfg, "max_position_embeddings", 0) or 2048)
        placed = getattr(model, "hf_device_map", None) or {"": model.device}  # a spread model's map
        self.devices = frozenset(str(torch.device("cuda", d) if isinstance(d, int) else torch.device(d))
                                 for d in placed.values())

    @classmethod
    def placement(cls, spec: ModelSpec, side: Side) -> Placement | None:
        """Where the model will load and the memory its weights will take there, from its safetensors
        headers (engine/memory.py); None when the weights' sizes cannot be known before loading."""
        source = _source(spec.spec)
        device = resolve_device(spec.device, side)
        dtype = pick_dtype(spec.dtype, device)
        quantization(spec, device, dtype)
        local = existing_path(source)
        folder = local or _cached_folder(source)
        tensors = safetensors_tensors(folder) if folder is not None else None
        if tensors is None and local is None:
            tensors = hub_tensors(source)
        if tensors is None:
            return None
        what = {"8bit": "8-bit", "4bit": "4-bit"}.get(spec.quantize or "", str(dtype).removeprefix("torch."))
        return Placement(side, device, weight_bytes(tensors, dtype.itemsize, spec.quantize), what)

    @classmethod
    def load(cls, spec: ModelSpec, progress: Report | None = None) -> HFBackend:
        """Load a folder or hub id straight onto its device(s) (transformers' `device_map`); errors
        become one-line ModelLoadErrors. `progress(text)` hears how far the download and the weight
        loading are."""
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # progress bars and warnings would garble the terminal
        hf_logging.disable_progress_bar()
        source = _source(spec.spec)
        device = resolve_device(spec.device)
        dtype = pick_dtype(spec.dtype, device)
        quantized = quantization(spec, device, dtype)
        template = read_chat_template(spec.chat_template) if spec.chat_template else None
        try:
            tok = AutoTokenizer.from_pretrained(source, trust_remote_code=spec.trust_remote_code)
            with transformers_progress(progress) as tqdm_class:
                model = AutoModelForCausalLM.from_pretrained(
                    source, dtype=dtype, trust_remote_code=spec.trust_remote_code, tqdm_class=tqdm_class,
                    # the CPU is where from_pretrained puts weights by itself; elsewhere they go straight
                    # to the device, never through host RAM first ("auto": spread over every GPU)
                    device_map=None if device == "cpu" else ("auto" if device == SPREAD else device),
                    quantization_config=quantized,
                )
            model.eval()
        except Exception as err:  # transformers raises many types; the user needs the one line
            raise _load_error(spec, device, err) from None
        eos = {tok.eos_token_id} | {i for i, t in tok.added_tokens_decoder.items() if t.special and t.content in EOG_NAMES}
        eos -= {None}
        try:
            gen_eos = GenerationConfig.from_pretrained(source).eos_token_id
        except Exception:  # a folder without generation_config.json is normal
            gen_eos = None
        eos |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos]) - {None}
        return cls(spec.spec, model, HFTokenizer(tok, eos, template or tok.chat_template))

    def scorer(self) -> HFScorer:
        return HFScorer(self.model)

    def generate(self, prompt_ids: Sequence[int], params: DecodingParams) -> Generator[Step, None, None]:
        return generate_with(self.scorer(), prompt_ids, params, self.context_length, self.tokenizer.vocab_size)

    def generate_batch(self, prompt_ids: Sequence[int], params: DecodingParams, seeds: Sequence[int]) -> Generator[list[int], None, None]:
        """len(seeds) samples of one prompt in lockstep: the prompt is computed once, its KV cache
        repeated per sample, then one batched forward step per token. Yields each step's tokens,
        one per sample; sample r draws from its own generator seeded seeds[r], as `generate_with`
        does, so it is the sample a lone run with that seed gives (up to batched float rounding)."""
        from transformers import DynamicCache

        from .sampling import pick_token

        device = self.model.device
        budget = min(params.max_new_tokens, self.context_length - len(prompt_ids))
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([list(prompt_ids)], device=device),
                             cache=DynamicCache(config=self.model.config), use_cache=True)
        cache = out.cache
        cache.batch_repeat_interleave(len(seeds))
        logits = out.logits[0, -1].float().expand(len(seeds), -1)
        # logits come out on the output layer's device: the last GPU of a spread model
        gens = [torch.Generator(device=logits.device).manual_seed(seed) for seed in seeds]
        histories = [list(prompt_ids) for _ in seeds]
        vocab = self.tokenizer.vocab_size  # padded output rows are not tokens
        for i in range(budget):
            tokens = [pick_token(logits[r, :vocab], params, histories[r], gens[r]) for r in range(len(seeds))]
            for history, token in zip(histories, tokens):
                history.append(token)
            yield tokens
            if i + 1 < budget:  # the last tokens need no forward pass of their own
                with torch.inference_mode():
                    out = self.model(input_ids=torch.tensor([[t] for t in tokens], device=device), cache=cache,
                                     use_cache=True)
                cache, logits = out.cache, out.logits[:, -1].float()

    def embed(self, ids: Sequence[int]) -> torch.Tensor:
        """Mean-pooled last hidden layer (after the final norm) over `ids`, truncated to the context: [H]."""
        x = torch.tensor([list(ids)[: self.context_length]], device=self.model.device)
        with torch.inference_mode():
            out = self.model(input_ids=x, output_hidden_states=True)
        return out.hidden_states[-1][0].float().mean(0).cpu()


def _load_error(spec: ModelSpec, device: str, err: Exception) -> AlignTermError:
    """The one line a user reads when a model folder or hub id does not load."""
    text = str(err)
    if is_out_of_memory(err):
        return OutOfMemory(f"out of memory while loading {spec.spec} on {device} "
                           "(try a smaller --dtype, --quantize 8bit, GGUF files or another device)")
    if "custom code" in text or "trust_remote_code" in text:
        return ModelLoadError(f"{spec.spec} ships its own Python code (auto_map in its config), which alignterm "
                              "does not run by default: read that code, then pass --trust-remote-code to allow it")
    if "couldn't connect" in text or "offline mode" in text.lower():
        return ModelLoadError(f"cannot load {spec.spec}: no such local folder, and the Hugging Face hub cannot be "
                              "reached (offline?): give a local model folder, or download it where there is a network")
    if "deserializing header" in text or "SafetensorError" in type(err).__name__:
        return ModelLoadError(f"cannot load {spec.spec}: its .safetensors weights are corrupt or truncated "
                              f"({_first_line(err)})")
    return ModelLoadError(f"cannot load {spec.spec}: {_first_line(err)}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
