"""`python -m bench` (or `make bench`): every benchmark, one line per figure with ratio and target."""

import argparse
from pathlib import Path

from . import ablation, aggregate, common, compare_overhead, cuda, loading, rescore, samples, scaling, soak, ui

SUITES = {
    "hf": compare_overhead.hf,
    "gguf": compare_overhead.gguf,
    "rescore": rescore.run,
    "scaling": scaling.run,
    "samples": samples.run,
    "ui": ui.run,
    "report": aggregate.run,
    "ablation": ablation.run,
    "load": loading.run,
    "soak": soak.run,  # minutes long: only when named
    "cuda": cuda.run,  # a GPU box only (docs/gpu.md): only when named
}
DEFAULT = [name for name in SUITES if name not in ("soak", "cuda")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("suites", nargs="*", help=f"some of {', '.join(SUITES)} (default: all but soak and cuda)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    print(f"machine: {common.machine()}")
    for name in args.suites or DEFAULT:
        SUITES[name]()
    if args.json:
        common.save(args.json)


main()
