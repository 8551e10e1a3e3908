"""Build the starter model that ships in the package (charlstm/assets/starter.pt).

    python tools/make_starter.py PATH/austen.txt PATH/tinyshakespeare.txt [--pydocs corpora/pydocs.txt]
        [--work DIR] [--compare NOVEL.txt ...]

It trains the `medium` preset (2x512 LSTM, embed 128, about 3.5M weights) with batch 32 for a fixed
number of steps on texts charlstm may redistribute a model of: the Python standard library's
documentation strings (corpora/pydocs.txt, which corpora/make_pydocs.py builds from the Python that
runs it), Jane Austen's five novels (`charlstm corpora get austen`) and Tiny Shakespeare (`charlstm
corpora get tinyshakespeare`). No other books: the texts it is judged on must stay ones it never
read. None of the texts is stored in the package, only the model, which records each text's name,
size, licence and how much of it was held out (`charlstm info starter` shows them; TEXTS below says
what each is). A fixed step budget (not a time budget) makes the result the same on any machine,
however fast.

The corpus recipe: each work is cut at the line break nearest 90% of its length, and the run reads
the first 90% of every work, then the last 10% of every work. A text is one work, except a
collection (charlstm.data.corpora.COLLECTIONS: austen.txt), which is cut into its books at their
title lines, so the end of every novel is held out, not the last novel. charlstm holds out the last
10% of what it reads, so the validation split is exactly the works' own tails. Every evaluation
scores all of them.

The best checkpoint is then written as a slim checkpoint with fp16 weights (no optimizer state,
about 7 MB), small enough to ship. With --compare, each text named and each group of tails is
scored by `charlstm eval` with the new starter and with the one it replaces (--against), side by
side. Precision is left to charlstm (bf16 autocast where the CPU has the kernel, fp32 elsewhere);
bench/RESULTS.md names the machine each build ran on.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from charlstm.data.corpora import COLLECTIONS

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4_000  # batch 32 x 128 characters: 16.4M characters, ~3.4 passes over the 4.84M trained on
EVAL_EVERY = 250  # a scoring of all ~0.54M held-out characters costs about 1/3 of 250 steps' time
BATCH = 32  # and weight drop 0: at ~10 passes the 2x512 model was better without it on Tiny Shakespeare
OUT = ROOT / "charlstm" / "assets" / "starter.pt"


# What each text is and under what licence, by file stem: recorded in the starter, `charlstm info starter` shows it.
TEXTS = {
    "pydocs": ("the Python standard library's documentation strings (corpora/pydocs.txt, corpora/make_pydocs.py)",
               "PSF License Agreement"),
    "austen": ("Jane Austen's five novels: Sense and Sensibility, Pride and Prejudice, Mansfield Park, Emma, "
               "Northanger Abbey (charlstm corpora get austen)", "public domain"),
    "tinyshakespeare": ("Tiny Shakespeare, 40,000 lines of the plays (charlstm corpora get tinyshakespeare)",
                        "public domain"),
}


def sources(texts: list[Path]) -> list[dict]:
    """The record of what the starter read: each text's name, what it is, its licence, its size and how
    much of it was held out (as `recipe` cuts it)."""
    out = []
    for path in texts:
        text = path.read_text(encoding="utf-8")
        text += "" if text.endswith("\n") else "\n"
        held = sum(len(w) - w.rfind("\n", 0, int(len(w) * 0.9)) - 1 for w in works(text, titles(path)))
        what, licence = TEXTS[path.stem]
        out.append({"name": path.name, "what": what, "licence": licence, "chars": len(text), "held_out": held})
    return out


def titles(path: Path) -> tuple[str, ...]:
    """The book titles of a collection (charlstm.data.corpora.COLLECTIONS), by file stem; () for one work."""
    coll = COLLECTIONS.get(path.stem)
    return tuple(book.title for book in coll.books) if coll else ()


def works(text: str, titles: tuple[str, ...] = ()) -> list[str]:
    """`text` cut into its works: before the first line that reads each of `titles` (a collection's
    book titles, in order; see charlstm.data.corpora.COLLECTIONS). With no titles it is one work.
    Joined again, the works are the text."""
    starts, at = [0], 0
    for title in titles:
        m = re.compile(rf"^{re.escape(title)}[ \t]*$", re.MULTILINE).search(text, at)
        if m is None:
            sys.exit(f"make_starter: the title {title!r} is not on a line of its own (after the one before)")
        at = m.end()
        starts += [m.start()] if m.start() > 0 else []
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def recipe(texts: list[Path], folder: Path) -> tuple[list[Path], float]:
    """The files the starter reads (each work's first 90%, then each one's last 10%) and the
    validation fraction that holds out exactly the tails."""
    folder.mkdir(parents=True, exist_ok=True)
    heads, tails = [], []
    for path in texts:
        text = path.read_text(encoding="utf-8")
        text += "" if text.endswith("\n") else "\n"
        parts = works(text, titles(path))
        for k, work in enumerate(parts):
            name = path.stem if len(parts) == 1 else f"{path.stem}-{k + 1}"
            cut = work.rfind("\n", 0, int(len(work) * 0.9)) + 1
            heads.append((name, work[:cut]))
            tails.append((f"{name}-held-out", work[cut:]))
    files = []
    for i, (name, t) in enumerate(heads + tails):
        files.append(folder / f"{i + 1:02d}-{name}.txt")
        files[-1].write_text(t, encoding="utf-8", newline="\n")
    total, held = sum(len(t) for _, t in heads + tails), sum(len(t) for _, t in tails)
    return files, (held + 0.5) / total  # the half character: int() rounds down


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("texts", type=Path, nargs="+",
                    help="the texts to read besides the docstrings (the shipped starter's: austen.txt "
                         "tinyshakespeare.txt)")
    ap.add_argument("--pydocs", type=Path, default=ROOT / "corpora" / "pydocs.txt")
    ap.add_argument("--work", type=Path, default=Path("starter-build"), help="where the training run is kept")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads to train with (speed only)")
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps (the shipped starter's: the default)")
    ap.add_argument("--compare", type=Path, nargs="*", default=[],
                    help="texts it never read, scored by `charlstm eval` with this build and with --against")
    ap.add_argument("--against", type=Path, default=OUT, help="the starter to compare with (default: the packaged one)")
    ap.add_argument("--eval-every", type=int, default=EVAL_EVERY, help="steps between scorings of all the tails")
    args = ap.parse_args()
    texts = [args.pydocs, *args.texts]
    for p in texts:
        if not p.is_file():
            sys.exit(f"make_starter: {p} not found")
        if p.stem not in TEXTS:
            sys.exit(f"make_starter: say what {p.name} is and under what licence (TEXTS in {Path(__file__).name})")
    run = args.work / "starter"
    if not (run / "last.pt").is_file():
        files, held = recipe(texts, args.work / "texts")
        cmd = [sys.executable, "-m", "charlstm", "train", *map(str, files), "--val-fraction", f"{held:.9f}",
               "--eval-chars", "0",  # every evaluation scores all the tails, however many texts
               "--eval-every", str(args.eval_every),
               "--preset", "medium", "--batch-size", str(BATCH), "--weight-drop", "0", "--steps", str(args.steps),
               "--threads", str(args.threads), "--seed", "1337", "--name", "starter", "--root", str(args.work),
               "--plain"]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    from charlstm.export import slim
    from charlstm.store import checkpoint, runs
    before = None
    if args.compare and args.against.is_file():  # copied first: --out may be the file it replaces
        before = args.work / "replaced-starter.pt"
        before.write_bytes(args.against.read_bytes())
    ck = {**checkpoint.load(run / "best.pt"), "sources": sources(texts)}
    size = slim.export_pt(ck, args.out, half=True, log=runs.read_metrics(run)[0])
    print(f"wrote {args.out}: {size / 1e6:.2f} MB, step {ck['step']}, best val {ck['best_val_loss']:.4f} nats/char")
    tails = sorted((args.work / "texts").glob("*-held-out.txt"))
    groups = {p.name: [p] for p in [*args.compare, *tails]}
    groups |= {f"the tails of {p.stem}": [t for t in tails if t.stem.split("-", 1)[1].startswith(p.stem)]
               for p in texts}
    groups["all the tails"] = tails
    for name, files in groups.items():
        row = [eval_nats(m, files) for m in (args.out, before) if m is not None]
        diff = "" if len(row) == 1 else (f", {args.against.name} {row[1]:.4f}: this build is "
                                         f"{abs(row[1] - row[0]):.4f} {'lower' if row[0] <= row[1] else 'higher'}")
        print(f"{name}: this build {row[0]:.4f} nats/char{diff}", flush=True)


def eval_nats(model: Path, texts: list[Path]) -> float:
    """`charlstm eval MODEL TEXT...`: nats per character over the texts together."""
    import json
    out = subprocess.run([sys.executable, "-m", "charlstm", "eval", str(model), *map(str, texts), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["nats_per_char"]


if __name__ == "__main__":
    main()
