#!/usr/bin/env bash
# Everything charlstm promises on a CUDA GPU in one run of under 10 minutes, no network:
# 5-minute quality with default options, CUDA-vs-CPU correctness and cross-device resume,
# training throughput against a plain nn.LSTM loop, and sampling speed of each path.
#   bash bench/gpu_check.sh CORPUS [OUT_DIR] [extra gpu_check.py options, e.g. --minutes 5]
# Needs python3 with torch (CUDA), typer, rich and tqdm; runs from the source tree (no install).
set -uo pipefail
corpus=${1:?usage: gpu_check.sh CORPUS [OUT_DIR]}
out=${2:-bench/out}
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$out/gpu_check.log"
python3 bench/gpu_check.py --corpus "$corpus" --out "$out/gpu_check.json" "${@:3}" 2>&1 | tee -a "$out/gpu_check.log"
