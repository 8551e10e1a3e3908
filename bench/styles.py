"""Style-conditioned generation, measured: can a character-trigram classifier tell the styles apart in
what a styled model writes, and does the labelling cost validation loss?

    python bench/styles.py ../shared/corpora/tinyshakespeare.txt corpora/pydocs.txt --work /tmp/stybench
    python bench/styles.py ... --work /tmp/stybench16 --train "--batch-size 16"

Two sources (verse and Python docs): from each, the first --chars characters are the training text,
the next --held characters are scored by both models (never trained on), and the --clf characters
after those train the classifier (never seen by any model). Then, one after the other and alone on the
machine:

1. `charlstm train WORK/styled --styles folder --time T` (one sub-folder per source: each style's
   own last 10% is validation);
2. `charlstm train WORK/plain/mixed.txt --time T`, the same text unlabelled, laid out so its
   contiguous validation split is the same two tails (both heads, then both tails, --val-fraction 0.1);
3. `charlstm eval` of each held-out text with each model (the styled one with --style);
4. 10 samples of 200 characters per style (`sample --style S --num-samples 10 --temp 0.8 --seed 1`),
   a blend, and 10 from the unlabelled model, each labelled by a naive-Bayes character-trigram
   classifier (add-one smoothing) built from the classifier texts.

Prints a JSON line per step and the markdown tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import machine

SEP = "\n~~~~~~~~\n"  # between samples (`sample --separator`): a text no sample holds, unlike a blank line


def cli(*args) -> str:
    out = subprocess.run([sys.executable, "-m", "charlstm", *map(str, args)], capture_output=True, text=True,
                         encoding="utf-8", check=True)
    return out.stdout


class Trigrams:
    """A naive-Bayes classifier over character trigrams, add-one smoothed."""

    def __init__(self, texts: dict[str, str]):
        self.counts = {k: Counter(t[i:i + 3] for i in range(len(t) - 2)) for k, t in texts.items()}
        self.totals = {k: sum(c.values()) for k, c in self.counts.items()}
        self.vocab = len(set().union(*self.counts.values()))

    def scores(self, text: str) -> dict[str, float]:
        grams = [text[i:i + 3] for i in range(len(text) - 2)]
        return {k: sum(math.log((c[g] + 1) / (self.totals[k] + self.vocab)) for g in grams)
                for k, c in self.counts.items()}

    def label(self, text: str) -> str:
        s = self.scores(text)
        return max(s, key=s.get)


def layout(sources: dict[str, str], work: Path, chars: int, held: int, clf: int) -> dict[str, dict[str, str]]:
    """Write the styled folder, the unlabelled file and the held-out texts; return the pieces."""
    pieces = {}
    for name, path in sources.items():
        text = Path(path).read_text(encoding="utf-8")
        need = chars + held + clf
        if len(text) < need:
            raise SystemExit(f"{path} has {len(text):,} characters; {need:,} needed")
        pieces[name] = {"train": text[:chars], "held": text[chars:chars + held], "clf": text[chars + held:need]}
        (work / "styled" / name).mkdir(parents=True, exist_ok=True)
        (work / "styled" / name / f"{name}.txt").write_text(pieces[name]["train"], encoding="utf-8")
        (work / "held").mkdir(exist_ok=True)
        (work / "held" / f"{name}.txt").write_text(pieces[name]["held"], encoding="utf-8")
    cut = {n: len(p["train"]) - len(p["train"]) // 10 for n, p in pieces.items()}  # each style's own 10% tail
    order = sorted(pieces)  # the styled run lays styles out in this order
    mixed = "".join(pieces[n]["train"][:cut[n]] for n in order) + "".join(pieces[n]["train"][cut[n]:] for n in order)
    (work / "plain").mkdir(exist_ok=True)
    (work / "plain" / "mixed.txt").write_text(mixed, encoding="utf-8")
    return pieces


def run(args: argparse.Namespace) -> None:
    work = args.work
    sources = {"verse": args.verse, "code": args.code}
    pieces = layout(sources, work, args.chars, args.held, args.clf)
    runs = work / "runs"
    common = ["--time", args.time, "--root", runs, "--sample-every", 0, "--json", "--seed", 1337, *args.train.split()]
    if not args.keep_runs:
        cli("train", work / "styled", "--styles", "folder", "--name", "styled", *common)
        cli("train", work / "plain" / "mixed.txt", "--name", "plain", "--val-fraction", "0.1", *common)
    info = {n: json.loads(cli("info", runs / n, "--json")) for n in ("styled", "plain")}
    for n, i in info.items():
        print(json.dumps({"run": n, "model": i["model_config"], "best_val_loss": i["best_val_loss"],
                          "step": i["step"], "styles": i.get("styles")}), flush=True)
    held = {}
    for name in sources:
        f = work / "held" / f"{name}.txt"
        held[name] = {"styled": json.loads(cli("eval", runs / "styled", f, "--style", name, "--json"))["nats_per_char"],
                      "plain": json.loads(cli("eval", runs / "plain", f, "--json"))["nats_per_char"]}
    print(json.dumps({"held_out": held}), flush=True)
    clf = Trigrams({n: p["clf"] for n, p in pieces.items()})
    asked = [*sources, "verse:0.5,code:0.5", None]
    rows = []
    for style in asked:
        target = ["--style", style] if style else []
        run_name = "styled" if style else "plain"
        text = cli("sample", runs / run_name, *target, "-n", 200, "--num-samples", 10, "--temp", 0.8, "--seed", 1,
                   "--separator", SEP.replace("\n", "\\n"))
        samples = text.rstrip("\n").split(SEP)
        assert len(samples) == 10 and all(len(s) == 200 for s in samples), [len(s) for s in samples]
        labels = Counter(clf.label(s) for s in samples)
        rows.append({"model": run_name, "style": style, "labels": dict(labels), "first": samples[0][:200]})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{machine.line()}")
    print("| run | best val (nats/char) | held-out verse | held-out code | steps |")
    print("|---|---|---|---|---|")
    for n in ("styled", "plain"):
        print(f"| {n} | {info[n]['best_val_loss']:.4f} | {held['verse'][n]:.4f} | {held['code'][n]:.4f} | "
              f"{info[n]['step']:,} |")
    print("\n| samples from | classifier says verse | classifier says code |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['model']} {r['style'] or '(no style)'} | {r['labels'].get('verse', 0)} | "
              f"{r['labels'].get('code', 0)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("verse", type=Path)
    ap.add_argument("code", type=Path)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--time", default="3m")
    ap.add_argument("--chars", type=int, default=300_000)
    ap.add_argument("--held", type=int, default=30_000)
    ap.add_argument("--clf", type=int, default=100_000)
    ap.add_argument("--keep-runs", action="store_true", help="score and sample the runs already in WORK/runs")
    ap.add_argument("--train", default="", help="more `charlstm train` options for both runs, e.g. '--batch-size 16' "
                    "(the same batch for both: the batch rule's choice is timed, and can differ between them)")
    args = ap.parse_args()
    print(machine.line(), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    run(args)


if __name__ == "__main__":
    sys.exit(main())
