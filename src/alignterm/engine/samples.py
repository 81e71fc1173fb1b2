"""Diversity mode (architecture §1, Lake et al. 2024): N sampled answers per side, and their measures.

Three sides answer one query:

- `aligned`: the aligned model in its chat template;
- `base_urial`: the base model with the URIAL prompt (or the bare prompt);
- `base_hint`: the same, plus a semantic hint as a `# Summary:` block before `# Answer:`.
  The hint is the user's text, or, per aligned sample, its most salient content words:
  tf-idf against answers about other things, the URIAL examples' (the bundled default
  prompt's when the run is bare), so what an answer shares with every assistant answer
  (greetings, caveats) ranks low and its facts rank high. The URIAL examples get a summary
  block of their own, built the same way, so the base model sees the format in context.

Samples of one prompt are drawn as one batch where the backend can (transformers: the
prompt computed once, one batched step per token); otherwise one after another on the
side's scorer, whose `set_context` reuses the longest common prefix of its KV cache, so
the prompt is not computed again per sample (docs/decisions.md). A run is cancellable
between tokens and reports each finished sample.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from . import diversity
from .answer import GrowingAnswer
from .backend import Backend, EmbeddingsUnavailable
from .errors import BadInput, ContextOverflow, ModelLoadError
from .prompts import FENCE, base_prompt, check_query, load_urial
from .values import CancelToken, DecodingParams

SAMPLE_SIDES = ("aligned", "base_urial", "base_hint")  # not events.SIDES: a comparison has two sides
# --samples with greedy params (the app's default) would draw N identical answers
SAMPLING_TEMPERATURE = 1.0
SAMPLING_TOP_P = 0.95
HINT_WORDS = 8
EMBED_INSTALL_HINT = "--embedder needs sentence-transformers: pip install 'alignterm[embed]'"

_ANSWER = f"# Answer:\n{FENCE}\n"
_EXAMPLE_ANSWER = re.compile(re.escape(_ANSWER) + r"(.*?)\n" + re.escape(FENCE), re.DOTALL)


def sampling_params(params: DecodingParams) -> DecodingParams:
    """The params samples are drawn with: greedy ones become temperature 1.0 (top_p 0.95 unless set below 1)."""
    if not params.greedy:
        return params
    return replace(params, temperature=SAMPLING_TEMPERATURE,
                   top_p=params.top_p if params.top_p < 1.0 else SAMPLING_TOP_P)


def keyword_hint(text: str, others: Sequence[str], k: int = HINT_WORDS) -> str:
    """A hint made from an answer without any external model: its k most salient content words."""
    return ", ".join(diversity.salient_words(text, others, k))


@lru_cache(maxsize=8)
def example_answers(urial: str | None) -> tuple[str, ...]:
    """The answers of a URIAL prompt's examples; the bundled default prompt's for a bare run
    or a prompt without examples (the `preamble` one). Cached: every automatic hint asks."""
    answers = tuple(m.group(1) for m in _EXAMPLE_ANSWER.finditer(urial or ""))
    return answers or example_answers(load_urial("default"))


def _with_summary(prompt: str, hint: str, at: int) -> str:
    return f"{prompt[:at]}# Summary:\n{FENCE}\n{hint}\n{FENCE}\n\n{prompt[at:]}"


@lru_cache(maxsize=8)
def hinted_urial(urial: str | None) -> str | None:
    """The URIAL prompt with a keyword `# Summary:` block before each example's `# Answer:`."""
    if urial is None:
        return None
    answers = example_answers(urial)
    out = urial
    for i, m in reversed(list(enumerate(_EXAMPLE_ANSWER.finditer(urial)))):
        out = _with_summary(out, keyword_hint(answers[i], answers[:i] + answers[i + 1:]), m.start())
    return out


def hinted_prompt(query: str, urial: str | None, hint: str) -> str:
    """The base prompt of the `base_hint` side: hinted examples, the query, then the hint before `# Answer:`."""
    prompt = base_prompt(query, hinted_urial(urial))
    return _with_summary(prompt, hint, prompt.rindex(_ANSWER))


@dataclass(frozen=True)
class SamplingRequest:
    """N samples per side for one query. `urial` is the URIAL text (None: bare prompt);
    `hint` is a typed hint for every `base_hint` sample (None: built from each aligned sample)."""

    query: str
    n: int
    urial: str | None = None
    params: DecodingParams = field(default_factory=DecodingParams)
    hint: str | None = None
    hint_words: int = HINT_WORDS


@dataclass(frozen=True)
class Sample:
    """One sampled answer. Sample i of side k uses seed params.seed + k * n + i."""

    side: str
    index: int
    seed: int
    text: str
    n_tokens: int
    finish_reason: str  # eos, stop, length, cancelled
    hint: str | None = None  # base_hint only: the hint it was given


@dataclass(frozen=True)
class SamplesResult:
    """Every side's samples and their measures; `cancelled` when the run stopped early."""

    request: SamplingRequest
    params: DecodingParams  # what the samples were drawn with (after sampling_params)
    samples: dict[str, list[Sample]]
    measures: diversity.DiversityMeasures
    embedding_note: str | None = None  # why the hidden-state embedding measure is missing
    embedder: str | None = None  # the sentence-embedding model, when one was used
    cancelled: bool = False


Vectors = dict[str, list[Sequence[float]]]  # side -> one embedding per sample
Progress = Callable[[int, int, Sample], None]  # (samples done, samples in all, the one just finished)


class SentenceEmbedder:
    """A sentence-transformers model at `path` (the optional `alignterm[embed]` extra)."""

    def __init__(self, path: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise BadInput(EMBED_INSTALL_HINT) from None
        try:
            # float32 whatever the folder was saved in: half precision on the CPU is slow and imprecise
            self._model = SentenceTransformer(path, device="cpu", model_kwargs={"dtype": "float32"})
        except (OSError, ValueError, RuntimeError) as err:  # a wrong or unreadable path: one line
            raise ModelLoadError(f"cannot load embedder {path}: {(str(err) or repr(err)).splitlines()[0]}") from None
        self.name = path

    def __call__(self, texts: list[str]) -> list[Sequence[float]]:
        return self._model.encode(texts, convert_to_numpy=True).tolist()


class Sampler:
    """Draws the three sides' samples on a loaded pair and measures them (one per app or analyze run)."""

    def __init__(self, base: Backend, aligned: Backend, embedder: SentenceEmbedder | None = None) -> None:
        self.base = base
        self.aligned = aligned
        self.embedder = embedder
        # one scorer per side, kept between samples and queries: its KV cache holds the side's prompt
        self._scorers = {"aligned": aligned.scorer(), "base_urial": base.scorer(), "base_hint": base.scorer()}

    def run(self, request: SamplingRequest, cancel: CancelToken | None = None,
            progress: Progress | None = None) -> SamplesResult:
        """Draw request.n samples per side (aligned first: hints come from its samples), then measure."""
        check_query(request.query)
        if request.n < 1:
            raise BadInput(f"the number of samples must be at least 1 (got {request.n})")
        cancel = cancel or CancelToken()
        params = sampling_params(request.params)
        samples: dict[str, list[Sample]] = {side: [] for side in SAMPLE_SIDES}
        total = request.n * len(SAMPLE_SIDES)
        for k, side in enumerate(SAMPLE_SIDES):
            if cancel.cancelled:
                break
            hints = [self._hint(request, [s.text for s in samples["aligned"]], i) if side == "base_hint" else None
                     for i in range(request.n)]
            prompts = [self._prompt(side, request, hint) for hint in hints]
            seeds = [params.seed + k * request.n + i for i in range(request.n)]
            backend = self.aligned if side == "aligned" else self.base
            if backend.can_batch and all(p == prompts[0] for p in prompts):
                drawn: Iterable[Sample] = self._draw_batch(side, prompts[0], params, seeds, cancel)
            else:
                drawn = self._draw_each(side, prompts, params, seeds, cancel)
            for sample, hint in zip(drawn, hints):
                samples[side].append(replace(sample, hint=hint))
                if progress:
                    progress(sum(map(len, samples.values())), total, samples[side][-1])
        texts = {side: [s.text for s in samples[side]] for side in SAMPLE_SIDES}
        vectors, note = self._hidden_state_vectors(texts)
        sentence: Vectors | None = None
        if self.embedder is not None:
            sentence = {side: self.embedder(t) if t else [] for side, t in texts.items()}
        return SamplesResult(request, params, samples, diversity.measure(texts, vectors, sentence), note,
                             self.embedder.name if self.embedder else None, cancel.cancelled)

    @staticmethod
    def _hint(request: SamplingRequest, aligned: list[str], i: int) -> str:
        """The typed hint, or the salient words of aligned sample i against the URIAL examples' answers."""
        if request.hint is not None:
            return request.hint
        return keyword_hint(aligned[i], example_answers(request.urial), request.hint_words)

    def _prompt(self, side: str, request: SamplingRequest, hint: str | None) -> list[int]:
        if side == "aligned":
            ids = self.aligned.tokenizer.chat_ids(request.query)
            backend = self.aligned
        else:
            text = base_prompt(request.query, request.urial) if hint is None else hinted_prompt(
                request.query, request.urial, hint)
            ids = self.base.tokenizer.encode(text, add_bos=True)
            backend = self.base
        if len(ids) >= backend.context_length:
            raise ContextOverflow(f"the {side} prompt ({len(ids)} tokens) fills the model's context "
                                  f"({backend.context_length}): shorten the query, the hint or the URIAL prompt")
        return ids

    def _draw_each(self, side: str, prompts: list[list[int]], params: DecodingParams, seeds: list[int],
                   cancel: CancelToken) -> Iterator[Sample]:
        """The samples one after another, each on the side's scorer (its prompt prefix stays cached)."""
        from .sampling import generate_with

        backend = self.aligned if side == "aligned" else self.base
        for i, (prompt_ids, seed) in enumerate(zip(prompts, seeds)):
            if cancel.cancelled:
                return
            answer = GrowingAnswer(backend.tokenizer, side != "aligned", prompt_ids)
            if not backend.samples_locally:  # a server samples on its side; its scorers hold only a top-k
                steps = backend.generate(prompt_ids, replace(params, seed=seed))
            else:
                steps = generate_with(self._scorers[side], prompt_ids, replace(params, seed=seed),
                                      backend.context_length, backend.tokenizer.vocab_size)
            try:
                for step in steps:
                    if cancel.cancelled:
                        answer.end("cancelled")
                    if answer.add(step.id):
                        break
            finally:
                steps.close()
            yield _sample(answer, backend, side, i, seed)

    def _draw_batch(self, side: str, prompt_ids: list[int], params: DecodingParams, seeds: list[int],
                    cancel: CancelToken) -> list[Sample]:
        """All samples of one prompt at once, one batched step per token, until every one has ended."""
        backend = self.aligned if side == "aligned" else self.base
        answers = [GrowingAnswer(backend.tokenizer, side != "aligned", prompt_ids) for _ in seeds]
        steps = backend.generate_batch(prompt_ids, params, seeds)
        try:
            for tokens in steps:
                for answer, token in zip(answers, tokens):
                    if cancel.cancelled:
                        answer.end("cancelled")
                    answer.add(token)
                if all(answer.ended for answer in answers):
                    break
        finally:
            steps.close()
        return [_sample(answer, backend, side, i, seed) for i, (answer, seed) in enumerate(zip(answers, seeds))]

    def _hidden_state_vectors(self, texts: dict[str, list[str]]) -> tuple[Vectors | None, str | None]:
        """Each sample embedded by the base model's hidden states, or None and the reason why not."""
        def embed(text: str) -> Sequence[float]:
            ids = self.base.tokenizer.encode(text, add_bos=True)
            return self.base.embed(ids).tolist() if ids else []  # nothing to embed: cosine 0 with anything

        try:
            return {side: [embed(t) for t in ts] for side, ts in texts.items()}, None
        except EmbeddingsUnavailable as err:
            return None, str(err)


def _sample(answer: GrowingAnswer, backend: Backend, side: str, index: int, seed: int) -> Sample:
    """A drawn answer as a Sample; one that is still going ran out of tokens ("length")."""
    answer.end("length")
    text = answer.trimmed(backend.tokenizer.decode(answer.ids))
    return Sample(side, index, seed, text, len(answer.ids), answer.reason or "length")
