"""Write the samples on the README's first screen from the commands a newcomer runs.

    python tools/readme_samples.py            # the starter's sample and a fresh 2-minute main job's
    python tools/readme_samples.py --check    # exit 1 if the README's starter sample is not what it prints now
    python tools/readme_samples.py --starter-only   # a new starter: its sample only, the main job's kept

It runs `charlstm sample starter` (STARTER_ARGS) and the README's main job (`charlstm train
corpora/pydocs.txt --time 2m`, then `charlstm sample` with SAMPLE_ARGS, in a temporary folder), and
puts both texts, with the commands and the machine, between the README's `<!-- samples -->` and
`<!-- /samples -->` lines. The starter's text depends only on the packaged model and the seed (the
same on every machine up to float rounding); the main job's depends on how far 2 minutes of training
get on the machine that ran it, which the block names.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STARTER_ARGS = ["sample", "starter", "-n", "300", "--temp", "0.8", "--seed", "1"]
SAMPLE_ARGS = ["-n", "300", "--temp", "0.8", "--seed", "1"]
BLOCK = re.compile(r"(<!-- samples -->\n)(.*?)(<!-- /samples -->)", re.S)
STARTER_TEXT = re.compile(r"<!-- starter -->\n```text\n(.*?)```\n", re.S)


def charlstm(*args: str, cwd: Path = ROOT) -> str:
    out = subprocess.run([sys.executable, "-m", "charlstm", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"charlstm {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def cpu_name() -> str:
    """The CPU's name and kind (its widest vector unit: a loss in 2 minutes depends on it)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import machine
    name, flags = machine.cpu_flags()
    return f"{name}, {machine.kind(flags)}" if flags else name


def main_job(tmp: Path) -> tuple[str, str]:
    """(the sample, what the run reached) of the README's main job run in `tmp`."""
    corpus = ROOT / "corpora" / "pydocs.txt"
    charlstm("train", str(corpus), "--time", "2m", "--plain", "--root", str(tmp / "checkpoints"), cwd=tmp)
    text = charlstm("sample", *SAMPLE_ARGS, cwd=tmp)
    info = charlstm("runs", "--json", cwd=tmp).splitlines()[0]
    import json
    run = json.loads(info)
    reached = (f"{run['cell']} {run['layers']}x{run['hidden']}, {run['steps']:,} steps, best validation "
               f"{run['best_val_loss']:.4f} nats/char")
    return text, reached


def block(starter: str, job: str, reached: str) -> str:
    fence = "```"
    return (f"What you will see. The starter model that comes with charlstm (`charlstm {' '.join(STARTER_ARGS)}`):\n\n"
            f"<!-- starter -->\n{fence}text\n{starter}{fence}\n\n"
            f"And the main job (the first command under Set up: 2 minutes of training on Python's docstrings), "
            f"then `charlstm sample {' '.join(SAMPLE_ARGS)}` ({reached}; {cpu_name()}, {os.cpu_count()} "
            f"cores):\n\n"
            f"{fence}text\n{job}{fence}\n\n"
            f"Both were written by `python tools/readme_samples.py`.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare the README's starter sample with a new one")
    ap.add_argument("--starter-only", action="store_true", help="write the starter's sample only (after a new starter)")
    args = ap.parse_args()
    readme = README.read_text(encoding="utf-8")
    starter = charlstm(*STARTER_ARGS)
    if args.check:
        shown = STARTER_TEXT.search(readme)
        if not shown or shown.group(1) != starter:
            sys.exit("README.md's starter sample differs from what `charlstm "
                     f"{' '.join(STARTER_ARGS)}` prints now: run python tools/readme_samples.py")
        print("README.md's starter sample is current")
        return
    if args.starter_only:
        if not STARTER_TEXT.search(readme):
            sys.exit("README.md has no <!-- starter --> sample block")
        fence = "```"
        README.write_text(STARTER_TEXT.sub(lambda m: f"<!-- starter -->\n{fence}text\n{starter}{fence}\n", readme,
                                           count=1), encoding="utf-8")
        print(f"wrote the starter's sample into {README}")
        return
    if not BLOCK.search(readme):
        sys.exit("README.md has no <!-- samples --> ... <!-- /samples --> block")
    with tempfile.TemporaryDirectory() as tmp:
        job, reached = main_job(Path(tmp))
    README.write_text(BLOCK.sub(lambda m: m.group(1) + block(starter, job, reached) + m.group(3), readme, count=1),
                      encoding="utf-8")
    print(f"wrote the samples into {README}")


if __name__ == "__main__":
    main()
