"""Kill a training run with SIGKILL at random moments, resume it each time, until it finishes.

Each round starts `charlstm train` (first) or `charlstm resume` in a subprocess, waits a random
time after the first progress line (and, until the run has one, its first checkpoint: a kill before
that has nothing to resume from and would measure nothing), and kills it with SIGKILL. The next
round must resume from a checkpoint no further back than one save interval before the last step
the killed process reported. After --kills kills the run is let finish; then every checkpoint must
load and the run must have reached its step budget.

    python bench/soak.py --kills 12 --corpus corpora/pydocs.txt
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP = re.compile(r"^step\s+([\d,]+)", re.M)
RESUMED = re.compile(r"resuming \S+ from step ([\d,]+)")


def last_step(log: str) -> int:
    found = STEP.findall(log)
    return int(found[-1].replace(",", "")) if found else -1


def soak(corpus: str, kills: int, steps: int, save_every: int, seed: int, workdir: Path) -> dict:
    rng = random.Random(seed)
    root, name = workdir / "ck", "soak"
    run = root / name
    common = ["--plain", "--log-every", "1", "--root", str(root)]
    train = [sys.executable, "-m", "charlstm", "train", corpus, "--name", name, "--steps", str(steps),
             "--save-every", str(save_every), "--hidden", "64", "--embed", "16", "-b", "16", "--seq-len", "32",
             "--eval-every", "25", "--sample-every", "0", *common]
    resume = [sys.executable, "-m", "charlstm", "resume", str(run), *common]
    lost, done_kills, resumes, finished = [], 0, 0, False
    reported = None
    while not finished:
        cmd = train if not (run / "last.pt").exists() and not (run / "best.pt").exists() else resume
        if cmd is resume:
            resumes += 1
        log_path = workdir / f"round{done_kills + resumes}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
            if done_kills < kills:
                while (last_step(log_path.read_text()) < 0 or not any(run.glob("*.pt"))) and proc.poll() is None:
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.05, 2.5))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    done_kills += 1
            rc = proc.wait()
        text = log_path.read_text()
        m = RESUMED.search(text)
        if m and reported is not None:
            start = int(m.group(1).replace(",", ""))
            lost.append(reported - start)
            if reported - start > save_every:
                raise SystemExit(f"resumed at {start} but {reported} was reported: lost more than one interval")
        reported = max(last_step(text), reported or 0)
        if rc == 0:
            finished = True
        elif rc != -signal.SIGKILL:
            raise SystemExit(f"round ended with exit code {rc}:\n{text[-2000:]}")
    from charlstm.store import checkpoint
    loaded = {p.name: checkpoint.load(p)["step"] for p in sorted(run.glob("*.pt"))}
    if loaded.get("last.pt") != steps:
        raise SystemExit(f"run did not reach {steps} steps: {loaded}")
    leftovers = [p.name for p in run.iterdir() if checkpoint.TMP_MARK in p.name]
    return {"kills": done_kills, "resumes": resumes, "steps": steps, "save_every": save_every,
            "max_steps_lost": max(lost) if lost else 0, "steps_lost": lost, "checkpoints": loaded,
            "temp_files_left": leftovers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="corpora/pydocs.txt")
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--save-every", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        result = soak(args.corpus, args.kills, args.steps, args.save_every, args.seed, Path(d))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
