#!/usr/bin/env bash
# GPU preset sweep: several configurations trained AT THE SAME TIME on one GPU, each through the CLI
# with --time T (schedule, plateau cuts and early stopping at their defaults). Sharing the GPU
# only slows each run down, and the recipe is step-based, so a run's best validation loss here is
# an upper bound on what the same options reach alone on the GPU in the same time.
#   bash bench/gpu_sweep.sh CORPUS OUT_DIR [TIME]
set -uo pipefail
corpus=${1:?usage: gpu_sweep.sh CORPUS OUT_DIR [TIME]}
out=${2:?usage: gpu_sweep.sh CORPUS OUT_DIR [TIME]}
t=${3:-4m}
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
root=$(mktemp -d)
declare -A runs=(
  # the current `large` preset, then weight-drop variants (weight drop won 0.02 nats on the CPU; not yet on a GPU)
  [d_large]="--preset large"
  [w1_large_wd03]="--preset large --weight-drop 0.3"
  [w2_large_d04_wd05]="--preset large --dropout 0.4 --weight-drop 0.5"
  [w3_3x768_d04_wd04]="--preset large --hidden 768 --dropout 0.4 --weight-drop 0.4 --lr 1.5e-3"
  [w4_2x1024_d04_wd04]="--preset large --layers 2 --dropout 0.4 --weight-drop 0.4"
  [w5_medium_wd04_p1]="--preset medium --dropout 0.3 --weight-drop 0.4 --plateau 1"
)
for name in "${!runs[@]}"; do
  # shellcheck disable=SC2086
  python3 -m charlstm train "$corpus" --time "$t" --root "$root" --name "$name" --plain ${runs[$name]} \
    > "$root/$name.log" 2>&1 &
done
wait
python3 - "$root" "$out/sweep.json" <<'PY'
import json, sys
from pathlib import Path
root, rows = Path(sys.argv[1]), []
for d in sorted(p for p in root.iterdir() if p.is_dir()):
    ev = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines() if '"eval"' in l]
    tr = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines() if '"train"' in l]
    best = min(ev, key=lambda e: e["val_loss"])
    rows.append({"run": d.name, "best_val": round(best["val_loss"], 4), "best_step": best["step"],
                 "best_time_s": round(best["time"], 1), "last_step": tr[-1]["step"], "chars_s_last": round(tr[-1]["chars_per_s"]),
                 "curve": [(e["step"], round(e["val_loss"], 4)) for e in ev]})
    print(f"{d.name:<20} best {rows[-1]['best_val']:.4f} at step {best['step']} ({best['time']:.0f}s), "
          f"{tr[-1]['step']} steps, {tr[-1]['chars_per_s']:,.0f} chars/s at the end")
Path(sys.argv[2]).write_text(json.dumps(rows, indent=1))
PY
for f in "$root"/*.log; do echo "=== $f"; head -8 "$f"; tail -4 "$f"; done > "$out/sweep_logs.txt"
