#!/usr/bin/env bash
# Issue #43's device check in one call of under 9 minutes: the 5-minute defaults on CORPUS and on its
# first 150,000 characters side by side with the plain reference on those (gpu_check.py's `recipe`),
# then the defaults' training throughput against a plain nn.LSTM loop (`throughput`). Sampling,
# correctness and the separate 5-minute quality run of gpu_check.sh are left out to fit the time.
#   bash bench/gpu_recipe.sh CORPUS [OUT_DIR]
#   python bench/gpu_check.py --corpus CORPUS --dry-run-cpu --minutes 0.1   # the plumbing, on a CPU
set -uo pipefail
corpus=${1:?usage: gpu_recipe.sh CORPUS [OUT_DIR]}
out=${2:-bench/out}
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu_recipe.log"
python3 bench/gpu_check.py --corpus "$corpus" --out "$out/gpu_recipe.json" --recipe \
  --skip quality,sampling,correctness 2>&1 | tee -a "$out/gpu_recipe.log"
