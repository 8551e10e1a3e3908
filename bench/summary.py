"""One table from the JSON files that bench/run_all.sh leaves in bench/out/ (missing ones are skipped)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import machine


def load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out")
    rows: list[tuple[str, str, str]] = []
    speed = load(out / "train_speed.json")
    for r in (speed or {}).get("rows", []):
        rows.append((f"train {r['config']} round {r['round']} (chars/s)",
                     f"{r['charlstm']['chars_per_s']:,.0f} vs reference {r['reference']['chars_per_s']:,.0f}",
                     f"{r['ratio']:.2f}x, {r['gflops']:.0f} GFLOP/s"))
    samp = load(out / "sample_speed.json")
    for r in (samp or {}).get("results", []):
        if "batch" in r:
            rows.append((f"sample {r['impl']} batch {r['batch']}, {r['threads']} thread(s) (chars/s)",
                         f"{r['median']:,.0f}", f"min {r['min']:,.0f}, max {r['max']:,.0f}"))
    mem = load(out / "memory.json")
    if mem:
        rows.append(("encode 1 GB corpus", f"{mem['encode_mb_per_s']:.0f} MB/s",
                     f"peak RSS {mem['encode_peak_rss_mb']:,.0f} MB"))
        rows.append(("train M on it, peak RSS", f"{mem['train_big_peak_rss_mb']:,.0f} MB",
                     f"small corpus: {mem['train_source_peak_rss_mb']:,.0f} MB"))
    start = load(out / "startup.json")
    for name, r in (start or {}).items():
        rows.append((f"start-up: {name}", f"{r['median']:.3f} s", f"min {r['min']:.3f}, max {r['max']:.3f}"))
    if not rows:
        sys.exit(f"no results in {out}: run bench/run_all.sh first")
    host = (speed or {}).get("machine") or (samp or {}).get("machine")
    if host:
        print(machine.line(host))
    w = max(len(a) for a, _, _ in rows)
    v = max(len(b) for _, b, _ in rows)
    print(f"{'measure':<{w}}  {'value':<{v}}  detail")
    for a, b, c in rows:
        print(f"{a:<{w}}  {b:<{v}}  {c}")


if __name__ == "__main__":
    main()
