"""Build the starter model that ships in the package (charlstm/assets/starter.pt).

    python tools/make_starter.py PATH/TO/tinyshakespeare.txt [--pydocs corpora/pydocs.txt] [--work DIR]

It trains the `medium` preset (2x512 LSTM, embed 128, about 3.5M weights) with batch 32 for a fixed
number of steps on two texts charlstm may redistribute a model of: the Python standard library's
documentation strings (corpora/pydocs.txt, which corpora/make_pydocs.py builds from the Python that
runs it) and Tiny Shakespeare (public domain; download it with `charlstm corpora get
tinyshakespeare`). Neither text is stored in the package, only the model. A fixed step budget (not a
time budget) makes the result the same on any machine, however fast.

The corpus recipe: each text is cut at the line break nearest 90% of its length, and the run reads
four files in this order: the first 90% of each text, then the last 10% of each. charlstm holds out
the last 10% of what it reads, so the validation split is the two texts' own tails, as when either is
trained alone (held out as one contiguous piece, the end of the Shakespeare alone would be judged on
plays whose names and people the model never read). With --with-reference a third text goes between
the two: the Python reference's topics as `help()` shows them (English running prose about the
language, written into the work folder from the `pydoc_data` module of the Python that runs the
script; PSF licence). That recipe was tried and not shipped (bench/RESULTS.md, "The starter model
(#31)"). The best checkpoint is then written as a slim
checkpoint with fp16 weights (no optimizer state, about 7 MB), so it is small enough to ship.
Precision is left to charlstm (bf16 autocast where the CPU has the kernel, fp32 elsewhere);
bench/RESULTS.md names the machine each build ran on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4_000  # batch 32 x 128 characters: ~10 passes over the 1.64M training characters, 16.4M in all
BATCH = 32  # and weight drop 0: at ~10 passes the 2x512 model was better without it on Tiny Shakespeare
OUT = ROOT / "charlstm" / "assets" / "starter.pt"


def python_reference(folder: Path) -> Path:
    """The Python reference's topics, as `help()` shows them (pydoc_data.topics: the language reference's
    sections on statements, operators, types and special methods), in sorted order of their names."""
    from pydoc_data.topics import topics
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pyreference.txt"
    path.write_text("\n\n".join(topics[name].strip() for name in sorted(topics)) + "\n", encoding="utf-8")
    return path


def recipe(texts: list[Path], folder: Path) -> tuple[list[Path], float]:
    """The files the starter reads (each text's first 90%, then each one's last 10%) and the
    validation fraction that holds out exactly the tails."""
    folder.mkdir(parents=True, exist_ok=True)
    heads, tails = [], []
    for i, path in enumerate(texts):
        text = path.read_text(encoding="utf-8")
        text += "" if text.endswith("\n") else "\n"
        cut = text.rfind("\n", 0, int(len(text) * 0.9)) + 1
        heads.append((folder / f"{i + 1}-{path.stem}.txt", text[:cut]))
        tails.append((folder / f"{len(texts) + i + 1}-{path.stem}-held-out.txt", text[cut:]))
    for p, t in heads + tails:
        p.write_text(t, encoding="utf-8")
    total, held = sum(len(t) for _, t in heads + tails), sum(len(t) for _, t in tails)
    return [p for p, _ in heads + tails], (held + 0.5) / total  # the half character: int() rounds down


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shakespeare", type=Path, help="tinyshakespeare.txt (charlstm corpora get tinyshakespeare)")
    ap.add_argument("--pydocs", type=Path, default=ROOT / "corpora" / "pydocs.txt")
    ap.add_argument("--work", type=Path, default=Path("starter-build"), help="where the training run is kept")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads to train with (speed only)")
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps (the shipped starter's: the default)")
    ap.add_argument("--with-reference", action="store_true",
                    help="also train on the Python reference's help() topics (a recipe tried, not shipped)")
    args = ap.parse_args()
    for p in (args.shakespeare, args.pydocs):
        if not p.is_file():
            sys.exit(f"make_starter: {p} not found")
    run = args.work / "starter"
    if not (run / "last.pt").is_file():
        texts = [args.pydocs, *([python_reference(args.work / "sources")] if args.with_reference else []),
                 args.shakespeare]
        files, held = recipe(texts, args.work / "texts")
        cmd = [sys.executable, "-m", "charlstm", "train", *map(str, files), "--val-fraction", f"{held:.9f}",
               "--eval-chars", "0",  # every evaluation scores all the tails, however many texts
               "--preset", "medium", "--batch-size", str(BATCH), "--weight-drop", "0", "--steps", str(args.steps),
               "--threads", str(args.threads), "--seed", "1337", "--name", "starter", "--root", str(args.work),
               "--plain"]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    from charlstm.export import slim
    from charlstm.store import checkpoint, runs
    ck = checkpoint.load(run / "best.pt")
    size = slim.export_pt(ck, args.out, half=True, log=runs.read_metrics(run)[0])
    print(f"wrote {args.out}: {size / 1e6:.2f} MB, step {ck['step']}, best val {ck['best_val_loss']:.4f} nats/char")


if __name__ == "__main__":
    main()
