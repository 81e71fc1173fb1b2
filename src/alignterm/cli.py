"""The `alignterm` command: parse arguments, then open the app, analyze, or rebuild the demo pair."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .analyze import FORMATS
from .engine.devices import DEVICE_HELP, check_device_form
from .engine.errors import AlignTermError, BadInput, is_out_of_memory
from .engine.nudge import DEFAULT_GAMMA, check_gamma
from .engine.values import BACKENDS, DTYPES, QUANTIZE, CancelToken, DecodingParams, ModelSpec


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2 (architecture §3)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"alignterm: error: {message} (see {self.prog} --help)\n")


def _device(text: str) -> str:
    try:
        return check_device_form(text)
    except BadInput as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models (default: the bundled demo pair)")
    g.add_argument("--base", metavar="PATH|ID|URL", help="base model: HF folder, hub id, .gguf file or http URL")
    g.add_argument("--aligned", metavar="PATH|ID|URL", help="aligned (chat-tuned) sibling of the base model")
    g.add_argument("--backend", choices=BACKENDS, default="auto")
    g.add_argument("--device", type=_device, default="auto", metavar="DEVICE", help=f"where both models run: {DEVICE_HELP}")
    g.add_argument("--base-device", type=_device, metavar="DEVICE", help="the base model's device (overrides --device)")
    g.add_argument("--aligned-device", type=_device, metavar="DEVICE", help="the aligned model's device (overrides --device)")
    g.add_argument("--dtype", choices=DTYPES, default="auto")
    g.add_argument("--quantize", choices=QUANTIZE, default=None,
                   help="HF models on CUDA: linear layers in 8 or 4 bits (bitsandbytes: pip install 'alignterm[quant]')")
    g.add_argument("--n-gpu-layers", type=int, default=None, metavar="N",
                   help="GGUF: layers to offload to the GPU (default: all, when llama.cpp has GPU support)")
    g.add_argument("--n-ctx", type=int, default=None, metavar="N", help="GGUF: context size (default: the model's, <= 4096)")
    g.add_argument("--trust-remote-code", action="store_true", help="allow model folders to run their own code")
    g.add_argument("--chat-template", metavar="FILE", help="Jinja chat template for the aligned model")
    r = p.add_argument_group("models on a server (--base/--aligned http://HOST:PORT/v1)")
    r.add_argument("--base-model", metavar="NAME", help="the base model's name on its server (default: the one it serves)")
    r.add_argument("--aligned-model", metavar="NAME", help="the aligned model's name on its server")
    r.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the servers' API key (never stored)")
    r.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds to wait for each server answer")
    d = p.add_argument_group("prompt and decoding")
    d.add_argument("--urial", default="default", metavar="NAME|PATH|none",
                   help="URIAL prompt for the base model: a bundled name, a file, or none (bare prompt)")
    d.add_argument("--max-new-tokens", type=int, default=128, metavar="N")
    d.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the paper's setting)")
    d.add_argument("--top-p", type=float, default=1.0)
    d.add_argument("--repetition-penalty", type=float, default=1.0)
    d.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alignterm", description="Compare a base model with its aligned sibling, token by token.")
    _model_flags(parser)
    parser.add_argument("--session", metavar="FILE",
                        help="open a saved session (replayed without a model; re-running uses its recorded models)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    an = sub.add_parser("analyze", help="compare on queries without the app; write JSONL, CSV, HTML, pretty text "
                                        "or an LLM Comparator file")
    q = an.add_mutually_exclusive_group(required=True)
    q.add_argument("--query", metavar="TEXT")
    q.add_argument("--queries", metavar="FILE.jsonl", help='JSON Lines, one {"query": ...} object per line')
    an.add_argument("--format", choices=FORMATS, default=None,
                    help="output format (default: pretty on a terminal, else jsonl; or from -o's suffix)")
    an.add_argument("-o", "--output", metavar="OUT", help="write here (atomically) instead of stdout")
    an.add_argument("--top-k", type=int, default=5, metavar="K", help="top-k of both models per token (0: none)")
    an.add_argument("--summary", metavar="FILE.json",
                    help="also write the query-set report (shares, curves, rank histogram, top tokens per lens) as JSON")
    an.add_argument("--urial-ablation", action="store_true",
                    help="also score the aligned answer under parts of the URIAL prompt (each example removed, "
                         "the preamble alone, each example alone): closure and recovered tokens per part")
    nu = an.add_argument_group("nudged decoding (Fei et al. 2024): the base answers, the aligned model "
                                "writes the words where the base is unsure")
    nu.add_argument("--nudge", action="store_true", help="also write each query's nudged answer and its summary")
    nu.add_argument("--gamma", type=float, default=None, metavar="G",
                    help=f"nudge where the base model's top-1 probability is below G, in [0, 1] (default {DEFAULT_GAMMA:g})")
    an.add_argument("--show-prompts", action="store_true",
                    help="--format pretty: also print each prompt the models saw (text with special tokens, ids)")
    sm = an.add_argument_group("diversity (Lake et al. 2024): sampled answers instead of one comparison")
    sm.add_argument("--samples", type=int, default=None, metavar="N",
                    help="draw N samples per side (aligned, base + URIAL, base + URIAL + hint) and measure "
                         "their similarity; temperature 0 becomes 1.0 with top-p 0.95")
    sm.add_argument("--hint", metavar="TEXT", help="the hint for every base + hint sample "
                    "(default: each aligned sample's most salient words)")
    sm.add_argument("--embedder", metavar="PATH", help="also compare with a sentence-transformers model "
                    "(pip install 'alignterm[embed]')")
    _model_flags(an)

    dm = sub.add_parser("demo-models", help="rebuild the bundled demo model pair (a few minutes on a CPU)")
    dm.add_argument("--out", metavar="DIR", help="where to write it (default: the bundled pair's folder)")
    dm.add_argument("--seed", type=int, default=0)
    return parser


def model_specs(args: argparse.Namespace) -> tuple[ModelSpec, ModelSpec]:
    """The two ModelSpecs from the flags; the bundled demo pair when neither model is given."""
    if (args.base is None) != (args.aligned is None):
        raise BadInput("give both --base and --aligned, or neither for the bundled demo pair")
    if args.base is None:
        from .engine.demo import ALIGNED_DIR, BASE_DIR

        base, aligned = str(BASE_DIR), str(ALIGNED_DIR)
    else:
        base, aligned = args.base, args.aligned
    if args.timeout <= 0:
        raise BadInput(f"--timeout must be > 0 (got {args.timeout})")
    if args.api_key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.api_key_env):
        # not echoed: what was typed may be the key itself, and the spec is written into session files
        raise BadInput("--api-key-env takes the NAME of an environment variable holding the key "
                       "(e.g. OPENAI_API_KEY), never the key itself")
    common = dict(backend=args.backend, dtype=args.dtype, quantize=args.quantize,
                  trust_remote_code=args.trust_remote_code, n_gpu_layers=args.n_gpu_layers, n_ctx=args.n_ctx,
                  api_key_env=args.api_key_env, timeout=args.timeout)
    return (ModelSpec(base, device=args.base_device or args.device, served_name=args.base_model, **common),
            ModelSpec(aligned, device=args.aligned_device or args.device, chat_template=args.chat_template,
                      served_name=args.aligned_model, **common))


def decoding(args: argparse.Namespace) -> DecodingParams:
    if args.max_new_tokens < 1:
        raise BadInput(f"--max-new-tokens must be at least 1 (got {args.max_new_tokens})")
    if args.temperature < 0 or not 0 < args.top_p <= 1 or args.repetition_penalty <= 0:
        raise BadInput("--temperature must be >= 0, --top-p in (0, 1] and --repetition-penalty > 0")
    return DecodingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                          repetition_penalty=args.repetition_penalty, seed=args.seed)


def _analyze(args: argparse.Namespace, ctrl_c: CancelToken) -> int:
    from .analyze import AnalyzeJob, check_ablation_flags, check_show_prompts, check_turns_flags, pick_format, read_queries, run_analyze
    from .analyze_samples import check_samples_flags

    queries = read_queries(args.queries) if args.queries else [{"query": args.query}]
    if args.top_k < 0:
        raise BadInput(f"--top-k must be >= 0 (got {args.top_k})")
    out = Path(args.output) if args.output else None
    summary = Path(args.summary) if args.summary else None
    for path in (out, summary):
        if path is not None and not path.parent.is_dir():
            raise BadInput(f"cannot write {path}: folder {path.parent} does not exist")
    base, aligned = model_specs(args)
    fmt = pick_format(args.format, out)
    samples = check_samples_flags(args.samples, args.hint, args.embedder, fmt)
    if samples is not None and summary is not None:
        raise BadInput("--summary reports a comparison run; --samples records hold their own measures")
    if args.urial_ablation:
        check_ablation_flags(args.urial, fmt, samples is not None)
    if args.show_prompts:
        check_show_prompts(fmt, samples is not None)
    check_turns_flags(queries, args.nudge, samples is not None)
    job = AnalyzeJob(base, aligned, args.urial, decoding(args), queries, fmt, out,
                     args.top_k, samples, summary, ablation=args.urial_ablation, show_prompts=args.show_prompts,
                     nudge=_gamma(args, samples is not None), cancel=ctrl_c)
    return run_analyze(job)


def _gamma(args: argparse.Namespace, sampling: bool) -> float | None:
    """`--nudge`'s threshold γ (None: no nudged answers), checked before any model loads."""
    if not args.nudge:
        if args.gamma is not None:
            raise BadInput("--gamma is the nudging threshold: give it with --nudge")
        return None
    if sampling:
        raise BadInput("--nudge adds to a comparison run; --samples records hold their own measures")
    return check_gamma(DEFAULT_GAMMA if args.gamma is None else args.gamma)


def _demo_models(args: argparse.Namespace) -> int:
    from .engine.demo import PAIR_DIR
    from .engine.demo.build import build_demo_pair

    build_demo_pair(Path(args.out) if args.out else PAIR_DIR, seed=args.seed,
                    log=lambda line: print(line, file=sys.stderr))
    return 0


def _app(args: argparse.Namespace) -> int:
    """The Textual app (models load in the background while the first frame paints)."""
    from .engine.prompts import load_urial
    from .tui.app import run_app

    base, aligned = model_specs(args)
    load_urial(args.urial)  # a bad --urial is a usage error before the screen opens
    return run_app(base=base, aligned=aligned, urial=args.urial, params=decoding(args), session=args.session)


@contextmanager
def _ctrl_c_noted() -> Iterator[CancelToken]:
    """Ctrl-C raises KeyboardInterrupt as usual, and also cancels the token it yields, which
    `analyze` runs check between tokens. An import it interrupts (numpy, transformers' lazy
    modules) can leave a half-made module behind that fails later as an ImportError or a
    "missing module", and a library may swallow the exception: either way it must still
    read as an interrupt, not a broken model, and stop the run."""
    pressed = CancelToken()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield pressed
        return

    def note(signum, frame):
        pressed.cancel()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(args: argparse.Namespace, ctrl_c: CancelToken) -> int:
    if args.command == "analyze":
        return _analyze(args, ctrl_c)
    if args.command == "demo-models":
        return _demo_models(args)
    return _app(args)


def _failure(err: Exception) -> int:
    """The one line and exit code of a failure (ALIGNTERM_DEBUG=1 re-raises it with its traceback)."""
    if isinstance(err, AlignTermError):
        print(f"alignterm: error: {err}", file=sys.stderr)
        return err.exit_code
    if os.environ.get("ALIGNTERM_DEBUG"):
        raise err
    if is_out_of_memory(err):
        print("alignterm: error: out of memory while running the models (try a smaller --max-new-tokens, "
              "a shorter URIAL prompt or query, or a smaller --dtype)", file=sys.stderr)
    else:
        detail = (str(err).strip().splitlines() or [""])[0]
        print(f"alignterm: error: {type(err).__name__}: {detail} (ALIGNTERM_DEBUG=1 shows where)", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 1 runtime failure, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    with _ctrl_c_noted() as ctrl_c:
        try:
            return _run(args, ctrl_c)
        except BrokenPipeError:
            return 0
        except (KeyboardInterrupt, Exception) as err:
            if isinstance(err, KeyboardInterrupt) or ctrl_c.cancelled:
                print("alignterm: interrupted", file=sys.stderr)
                return 130
            return _failure(err)


if __name__ == "__main__":
    sys.exit(main())
