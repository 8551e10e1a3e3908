"""Build the starter model that ships in the package (charlstm/assets/starter.pt).

    python tools/make_starter.py PATH/TO/tinyshakespeare.txt [--pydocs corpora/pydocs.txt] [--work DIR]

It trains the `small` preset (2x256 LSTM, embed 64, about 0.9M weights) for a fixed number of steps
on two texts charlstm may redistribute a model of: the Python standard library's documentation
strings (corpora/pydocs.txt, which corpora/make_pydocs.py builds from the Python that runs it) and
Tiny Shakespeare (public domain; download it with `charlstm corpora get tinyshakespeare`). Neither
text is stored in the package, only the model. A fixed step budget (not a time budget) makes the
result the same on any machine, however fast. The best checkpoint is then written as a slim
checkpoint with fp16 weights (no optimizer state), so it is small enough to ship.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = 500  # ~2.5 passes over the 1.64M training characters, 4.1M characters in all
OUT = ROOT / "charlstm" / "assets" / "starter.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shakespeare", type=Path, help="tinyshakespeare.txt (charlstm corpora get tinyshakespeare)")
    ap.add_argument("--pydocs", type=Path, default=ROOT / "corpora" / "pydocs.txt")
    ap.add_argument("--work", type=Path, default=Path("starter-build"), help="where the training run is kept")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    for p in (args.shakespeare, args.pydocs):
        if not p.is_file():
            sys.exit(f"make_starter: {p} not found")
    run = args.work / "starter"
    if not (run / "last.pt").is_file():
        cmd = [sys.executable, "-m", "charlstm", "train", str(args.pydocs), str(args.shakespeare), "--preset", "small",
               "--steps", str(STEPS), "--threads", "1", "--seed", "1337", "--name", "starter", "--root",
               str(args.work), "--plain"]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    from charlstm.export import slim
    from charlstm.store import checkpoint, runs
    ck = checkpoint.load(run / "best.pt")
    size = slim.export_pt(ck, args.out, half=True, log=runs.read_metrics(run)[0])
    print(f"wrote {args.out}: {size / 1e6:.2f} MB, step {ck['step']}, best val {ck['best_val_loss']:.4f} nats/char")


if __name__ == "__main__":
    main()
