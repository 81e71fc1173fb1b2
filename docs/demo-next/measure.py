"""Every figure of issue #15 part 1 for a candidate pair folder (CAND/base, CAND/aligned).

  /work/main/.venv/bin/python /tmp/demo15/measure.py CAND [--diversity] [--rerun]

TDS figures come from the real tool (`alignterm analyze ... --format jsonl`, bare and URIAL
`default`), cached as CAND/analyze_{none,default}.jsonl. --diversity reproduces the
computation of tests/diversity/test_samples.py (6 samples, 80 tokens, seed 0) on the candidate.
Style tokens: tokens overlapping a style phrase of the SFT set's style vocabulary (greetings,
prefaces, transitions, caveat intros and caveat sentences, closings: SFT_STYLE, BASE_STYLE and
_CAVEATS of the copied builder /tmp/demo15/demo_pkg/corpus.py)."""
import argparse, importlib.util, json, re, subprocess, sys
from pathlib import Path

ALIGNTERM = "/work/main/.venv/bin/alignterm"
QUERIES = "/work/main/src/alignterm/engine/demo/pair/queries.jsonl"
PKG = Path("/tmp/demo15/demo_pkg")


def load_corpus():
    import alignterm.engine  # noqa: F401
    spec = importlib.util.spec_from_file_location("alignterm.engine.demo15", PKG / "__init__.py",
                                                  submodule_search_locations=[str(PKG)])
    mod = importlib.util.module_from_spec(spec); sys.modules["alignterm.engine.demo15"] = mod
    spec.loader.exec_module(mod)
    from alignterm.engine.demo15 import corpus
    return corpus


def style_regexes(corpus):
    phrases = set()
    for st in (corpus.SFT_STYLE, corpus.BASE_STYLE):
        for key in ("greetings", "prefaces", "transitions", "caveat_intros", "closings"):
            phrases.update(t for t, _ in st[key])
    for lst in corpus._CAVEATS.values():
        phrases.update(t for t, _ in lst)
    out = []
    for p in sorted(phrases, key=len, reverse=True):
        head, tail = (f"[{p[0].upper()}{p[0].lower()}]", p[1:]) if p[0].isalpha() else ("", p)
        rx = head + re.escape(tail).replace(re.escape("{name}"), r"[A-Z][a-z]+")
        out.append(re.compile(rx))
    return out


def style_mask(tokens, regexes):
    text = "".join(t["text"] for t in tokens)
    marked = [False] * len(text)
    for rx in regexes:
        for m in rx.finditer(text):
            for i in range(m.start(), m.end()):
                marked[i] = True
    mask, pos = [], 0
    for t in tokens:
        span = range(pos, pos + len(t["text"]))
        mask.append(any(marked[i] and not text[i].isspace() for i in span))
        pos += len(t["text"])
    return mask


def analyze(cand: Path, urial: str, rerun: bool):
    path = cand / f"analyze_{urial}.jsonl"
    if rerun or not path.exists():
        cmd = ["nice", "-n", "19", ALIGNTERM, "analyze", "--base", str(cand / "base"), "--aligned", str(cand / "aligned"),
               "--queries", QUERIES, "--urial", urial, "--format", "jsonl", "-o", str(path)]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return [json.loads(line) for line in open(path)]


def shares(token_lists):
    n = {"unshifted": 0, "marginal": 0, "shifted": 0}
    for toks in token_lists:
        for t in toks:
            if t["shift"] in n:
                n[t["shift"]] += 1
    total = sum(n.values())
    return {k: v / total for k, v in n.items()}, total


def tds(cand: Path, rerun: bool):
    corpus = load_corpus()
    rx = style_regexes(corpus)
    bare, urial = analyze(cand, "none", rerun), analyze(cand, "default", rerun)
    ok = {}
    print(f"\n== TDS, aligned answers scored by base + bare prompt ({len(bare)} queries, greedy, 128 tokens)")
    sh, total = shares(r["aligned"]["tokens"] for r in bare)
    print(f"aligned tokens {total}: unshifted {sh['unshifted']:.1%}  marginal {sh['marginal']:.1%}  shifted {sh['shifted']:.1%}")
    ok["unshifted 75-92%"] = 0.75 <= sh["unshifted"] <= 0.92
    ok["marginal 5-15%"] = 0.05 <= sh["marginal"] <= 0.15
    ok["shifted 3-10%"] = 0.03 <= sh["shifted"] <= 0.10
    n_shift = n_style = 0
    per_answer, by_pos = [], {}
    non_style = []
    for r in bare:
        toks = r["aligned"]["tokens"]
        mask = style_mask(toks, rx)
        cnt = 0
        for i, (t, s) in enumerate(zip(toks, mask)):
            b = by_pos.setdefault(min(i // 8, 15), [0, 0])
            b[1] += 1
            if t["shift"] == "shifted":
                b[0] += 1
                cnt += 1
                n_shift += 1
                n_style += s
                if not s:
                    non_style.append(f"{r['id']}@{i}:{t['text']!r}")
        per_answer.append(cnt)
    style_share = n_style / max(1, n_shift)
    print(f"shifted tokens that are style tokens: {n_style}/{n_shift} = {style_share:.1%}  (non-style: {', '.join(non_style[:15])})")
    mean_pos = sum(per_answer) / len(per_answer)
    print(f"distinct shifted positions per answer: mean {mean_pos:.2f}  {per_answer}")
    rates = [by_pos[k][0] / by_pos[k][1] for k in sorted(by_pos)]
    print("shifted rate by position (buckets of 8): " + "  ".join(
        f"{8 * k}-{8 * k + 7}:{by_pos[k][0]}/{by_pos[k][1]}={by_pos[k][0] / by_pos[k][1]:.0%}" for k in sorted(by_pos)))
    half = len(rates) // 2
    first, early, late = rates[0], sum(rates[:half]) / half, sum(rates[half:]) / (len(rates) - half)
    falls = first == max(rates) and early > late
    print(f"first bucket {first:.1%} (max: {first == max(rates)}); mean rate first half of buckets {early:.1%} vs second half {late:.1%}")
    ok[">=80% of shifted are style tokens"] = style_share >= 0.8
    ok[">=3 shifted positions per answer"] = mean_pos >= 3
    ok["shifted rate highest first, falling off"] = falls
    print("top shifted:", sorted({(t["text"]) for r in bare for t in r["aligned"]["tokens"] if t["shift"] == "shifted"})[:40])

    print("\n== URIAL default")
    shu, _ = shares(r["aligned"]["tokens"] for r in urial)
    closure = 1 - shu["shifted"] / sh["shifted"] if sh["shifted"] else float("nan")
    print(f"aligned under base+URIAL: unshifted {shu['unshifted']:.1%} marginal {shu['marginal']:.1%} shifted {shu['shifted']:.1%}")
    print(f"pooled closure = 1 - {shu['shifted']:.4f}/{sh['shifted']:.4f} = {closure:.3f}")
    ok["closure 0.3-0.8"] = 0.3 <= closure <= 0.8
    differ = sum(r["base"]["text"].strip() != r["aligned"]["text"].strip() for r in urial)
    print(f"base+URIAL answer differs from aligned on {differ}/12 queries")
    ok["base+URIAL differs on >=8/12"] = differ >= 8
    shb, nb = shares(r["base"]["tokens"] for r in bare)
    print(f"reverse shift (base tokens, bare, under aligned): n={nb} unshifted {shb['unshifted']:.1%} marginal {shb['marginal']:.1%} shifted {shb['shifted']:.1%}")
    ok["reverse shifted >=3%"] = shb["shifted"] >= 0.03
    leaked = [(r["id"], r["base"]["text"][:20]) for rs in (bare, urial) for r in rs
              if re.match(r"\s*(Answer|Query|Summary|Instruction|#|```)", r["base"]["text"])]
    print(f"base answers starting with a prompt word: {leaked}")
    ok["no leaked prompt word"] = not leaked
    print("\n== answers")
    for rb, ru in zip(bare, urial):
        print(f"[{rb['id']}] {rb['query']}\n  aligned   : {rb['aligned']['text']}\n  base bare : {rb['base']['text']}\n  base URIAL: {ru['base']['text']}")
    return ok


def diversity(cand: Path):
    from alignterm.engine.backend import DecodingParams, ModelSpec
    from alignterm.engine.compare import Comparator
    from alignterm.engine.prompts import load_urial
    from alignterm.engine.samples import Sampler, SamplingRequest
    import torch
    torch.set_num_threads(1)
    comp = Comparator.load(ModelSpec(str(cand / "base"), device="cpu"), ModelSpec(str(cand / "aligned"), device="cpu"))
    sampler = Sampler(comp.base, comp.aligned)
    queries = [json.loads(l)["query"] for l in open(QUERIES)]
    params = DecodingParams(max_new_tokens=80, temperature=1.0, top_p=0.95, seed=0)
    bare = [sampler.run(SamplingRequest(q, 6, None, params)) for q in queries]
    urial = [sampler.run(SamplingRequest(q, 6, load_urial("default"), params)) for q in queries]
    mean = lambda v: sum(v) / len(v)
    ok = {}
    print("\n== diversity (tests/diversity/test_samples.py, 6 samples, 80 tokens, seed 0)")
    w = {s: mean([r.measures.jaccard.within[s].mean for r in bare]) for s in ("aligned", "base_urial")}
    e = {s: mean([r.measures.embedding.within[s].mean for r in bare]) for s in ("aligned", "base_urial")}
    d2 = {s: mean([r.measures.sides[s].distinct_2 for r in bare]) for s in ("aligned", "base_urial")}
    print(f"bare: jaccard within aligned {w['aligned']:.3f} vs base {w['base_urial']:.3f}; hidden cosine {e['aligned']:.3f} vs {e['base_urial']:.3f}; distinct-2 {d2['aligned']:.3f} vs {d2['base_urial']:.3f}")
    ok["div: aligned more alike (jaccard, cosine, distinct-2)"] = w["aligned"] > w["base_urial"] and e["aligned"] > e["base_urial"] and d2["aligned"] < d2["base_urial"]
    b = mean([r.headline["base_urial~aligned"] for r in bare]); u = mean([r.headline["base_urial~aligned"] for r in urial])
    print(f"base~aligned: bare {b:.3f}, URIAL {u:.3f}")
    ok["div: URIAL brings base closer"] = u > b
    hint = [r.headline["base_hint~aligned"] for r in bare]; plain = [r.headline["base_urial~aligned"] for r in bare]
    wins = sum(h > p for h, p in zip(hint, plain))
    print(f"bare: hint {mean(hint):.3f} vs plain {mean(plain):.3f}, better on {wins}/12")
    ok["div: hint raises similarity (mean, >=8/12)"] = mean(hint) > mean(plain) and wins >= 8
    uh = mean([r.headline["base_hint~aligned"] for r in urial]); aa = mean([r.headline["aligned~aligned"] for r in urial])
    print(f"URIAL: base+hint~aligned {uh:.3f} vs aligned~aligned {aa:.3f} (ratio {uh / aa:.3f}, needs >= 0.95)")
    ok["div: URIAL+hint >= 0.95 aligned~aligned"] = uh >= 0.95 * aa
    return ok


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("cand"); ap.add_argument("--diversity", action="store_true"); ap.add_argument("--rerun", action="store_true")
    ap.add_argument("--no-tds", action="store_true")
    a = ap.parse_args()
    cand = Path(a.cand)
    ok = {} if a.no_tds else tds(cand, a.rerun)
    if a.diversity:
        ok.update(diversity(cand))
    size = sum(f.stat().st_size for d in ("base", "aligned", "gguf") if (cand / d).exists() for f in (cand / d).iterdir()
               if f.suffix in (".safetensors", ".gguf"))
    print(f"\nbundled weights (safetensors + gguf in CAND): {size / 1e6:.1f} MB")
    print("\n== bullets")
    for k, v in ok.items():
        print(f"  [{'x' if v else ' '}] {k}")
