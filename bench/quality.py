"""Text quality at equal training time: charlstm with default settings next to the reference.

Trains, one after the other, (1) charlstm with every option at its default except the time budget
(the same code path as `charlstm train CORPUS --time X`: sized from the corpus, budget and device),
and (2) with --reference, the plain PyTorch reference
(`bench/reference/train.py --config M --dropout 0.2 --lr 2e-3`), each for --budget-min minutes of
training time (evaluation pauses the clock), and prints, in one go: the machine (CPU name and its
vector units), what charlstm chose there (size and precision, with its reasons), and both
validation curves side by side with charlstm's lead: mean cross-entropy in nats/char over the
whole validation split (last 10%), state carried.

    python bench/quality.py --corpus corpora/tinyshakespeare.txt --reference --budget-min 10 --marks 1,2.5,5,7.5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import machine

REFERENCE = Path(__file__).resolve().parent / "reference" / "train.py"

CHARLSTM = """
import json, sys
from charlstm.config import TrainConfig
from charlstm.events import Eval, Started
from charlstm.training.start import train
budget, marks, overrides = float(sys.argv[2]), [float(m) for m in sys.argv[3].split(",") if m], json.loads(sys.argv[5])
model = overrides.pop("model", {})
preset = overrides.pop("preset", "auto")
cfg = TrainConfig(time=budget, eval_at=tuple(marks), eval_chars=None, **overrides)
curve, info = [], {}
for ev in train([sys.argv[1]], model, cfg, run_dir=sys.argv[4], preset=preset, keep=set(overrides)):
    if isinstance(ev, Started):
        info = {"params": ev.params, "model": ev.model_config, "train": ev.train_config, "notes": list(ev.notes)}
    if isinstance(ev, Eval):
        curve.append({"step": ev.step, "val_loss": ev.val_loss, "time": ev.elapsed})
print(json.dumps({"curve": curve, **info}))
"""


def at_marks(curve: list[dict], marks: list[float]) -> list[float | None]:
    """The evaluation made when training time first passed each mark."""
    out = []
    for m in marks:
        hits = [c["val_loss"] for c in curve if c["time"] is not None and c["time"] >= m - 1e-6]
        out.append(hits[0] if hits else None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--reference", nargs="?", const=str(REFERENCE), default=None, metavar="SCRIPT",
                    help="also train the plain reference (bench/reference/train.py, or the training script "
                         "given); without it only charlstm runs")
    ap.add_argument("--budget-min", type=float, default=10.0)
    ap.add_argument("--marks", default="1,2.5,5,7.5", help="minutes at which to evaluate, besides the end")
    ap.add_argument("--overrides", default="{}", help='JSON of TrainConfig fields (and "model", "preset") to change')
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", default=None, help="keep charlstm's run folder here (default: a temporary one)")
    args = ap.parse_args()
    marks = sorted({float(m) for m in args.marks.split(",") if m and float(m) < args.budget_min} | {args.budget_min})
    secs = [m * 60 for m in marks]
    results = {}
    host = machine.describe()
    print(machine.line(host), flush=True)
    with tempfile.TemporaryDirectory() as d:
        run_dir = args.keep or str(Path(d) / "run")
        out = subprocess.run([sys.executable, "-c", CHARLSTM, args.corpus, str(args.budget_min * 60),
                              ",".join(str(s) for s in secs), run_dir, args.overrides],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results["charlstm"] = {"marks": at_marks(r["curve"], secs), **r}
        for note in r["notes"]:
            if note.startswith(("size:", "precision:")):
                print(f"charlstm chose {note}", flush=True)
        if args.reference:
            js = Path(d) / "ref.json"
            subprocess.run([sys.executable, args.reference, "--config", "M",
                            "--corpus", args.corpus, "--dropout", "0.2", "--lr", "2e-3", "--budget-min",
                            str(args.budget_min), "--eval-at", ",".join(str(m) for m in marks[:-1]),
                            "--json", str(js)], capture_output=True, text=True, check=True)
            ref = json.load(open(js))
            curve = [{"time": c["train_min"] * 60, "val_loss": c["val_loss"]} for c in ref["curve"]]
            results["reference"] = {"marks": at_marks(curve, secs), "curve": curve}
    print(table(marks, results))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": host, "marks_min": marks, **results}, indent=1))


def table(marks: list[float], results: dict) -> str:
    """Validation loss at each mark for each contender, and charlstm's lead (reference minus charlstm)."""
    rows = {name: r["marks"] for name, r in results.items()}
    if len(rows) == 2:
        rows["lead"] = [b - a if a is not None and b is not None else None
                        for a, b in zip(rows["charlstm"], rows["reference"])]
    lines = ["minutes      " + "".join(f"{m:>8g}" for m in marks)]
    for name, vals in rows.items():
        lines.append(f"{name:<13}" + "".join(f"{v:8.4f}" if v is not None else "       -" for v in vals))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
