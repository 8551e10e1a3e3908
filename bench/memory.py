"""Peak memory and corpus-encoding speed on a large generated corpus.

Builds a corpus of --size-mb megabytes by repeating --source, then in separate processes (each
measured with os.wait4, so the numbers are that process's own peak RSS):
  1. encodes it (scan + encode into the token file) and reports MB/s;
  2. trains config M on it for --steps steps (evaluation included) and reports peak RSS;
  3. trains config M on --source alone, the same way, as the baseline.

    python bench/memory.py --source corpora/pydocs.txt --size-mb 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine


def run(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stderr) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="corpora/pydocs.txt")
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workdir", default=None, help="where the big corpus is written (default: a temp folder)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(machine.line(), flush=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        big = Path(d) / "big.txt"
        data = Path(args.source).read_bytes()
        with open(big, "wb") as f:
            for _ in range(args.size_mb * 10**6 // len(data) + 1):
                f.write(data)
        size = big.stat().st_size
        encode = [sys.executable, "-c", "import sys; from pathlib import Path; from charlstm.data.corpus import "
                  "prepare_corpus; prepare_corpus([sys.argv[1]], Path(sys.argv[2]))", str(big), str(Path(d) / "enc")]
        wall, rss_enc, _ = run(encode)
        train = [sys.executable, "-m", "charlstm", "train", "--steps", str(args.steps), "--eval-every",
                 str(max(1, args.steps // 2)), "--plain", "--root", str(Path(d) / "ck")]
        t_big, rss_big, _ = run(train + [str(big), "--name", "big"])
        t_small, rss_small, _ = run(train + [args.source, "--name", "small"])
    result = {"corpus_bytes": size, "encode_seconds": wall, "encode_mb_per_s": size / 1e6 / wall,
              "encode_peak_rss_mb": rss_enc, "train_big_peak_rss_mb": rss_big, "train_big_seconds": t_big,
              "train_source_peak_rss_mb": rss_small, "steps": args.steps}
    print(f"corpus {size / 1e6:,.0f} MB: encoded in {wall:.1f}s ({result['encode_mb_per_s']:.0f} MB/s, both passes, "
          f"process start included), peak RSS {rss_enc:,.0f} MB")
    print(f"train M {args.steps} steps on it: peak RSS {rss_big:,.0f} MB; on {args.source} alone: {rss_small:,.0f} MB")
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
