#!/usr/bin/env bash
# Run every speed/memory benchmark back to back, keep the logs in bench/out/, and print one table.
#   bash bench/run_all.sh corpora/tinyshakespeare.txt
# The plain PyTorch reference is the repository's own (bench/reference/). Nothing else should run on
# the machine meanwhile; the quality benchmark (bench/quality.py) is separate.
set -euo pipefail
corpus=${1:?usage: run_all.sh CORPUS}
if [ $# -gt 1 ]; then
  echo "run_all.sh: only CORPUS is taken; the reference is bench/reference/ (no folder argument)" >&2
  exit 2
fi
corpus=$(realpath "$corpus")  # before the cd below
cd "$(dirname "$0")/.."
mkdir -p bench/out
python bench/machine.py | tee bench/out/machine.log
python bench/startup.py --json bench/out/startup.json | tee bench/out/startup.log
python bench/train_speed.py --corpus "$corpus" --configs S,M,L --rounds 2 \
  --json bench/out/train_speed.json | tee bench/out/train_speed.log
python bench/train_speed.py --corpus "$corpus" --configs M --rounds 1 --threads 1 \
  | tee bench/out/train_speed_1thread.log
python bench/sample_speed.py --config M --threads 1,2 --reference --json bench/out/sample_speed.json \
  | tee bench/out/sample_speed.log
python bench/memory.py --source "$corpus" --size-mb 1000 --json bench/out/memory.json | tee bench/out/memory.log
echo
python bench/summary.py bench/out | tee bench/out/summary.txt
