#!/usr/bin/env bash
# Run every speed/memory benchmark back to back, keep the logs in bench/out/, and print one table.
#   bash bench/run_all.sh ../shared/corpora/tinyshakespeare.txt ../shared/bench
# Nothing else should run on the machine meanwhile; the quality benchmark (bench/quality.py) is separate.
set -euo pipefail
corpus=${1:?usage: run_all.sh CORPUS REF_DIR}
ref=${2:?usage: run_all.sh CORPUS REF_DIR}
cd "$(dirname "$0")/.."
mkdir -p bench/out
python bench/startup.py --json bench/out/startup.json | tee bench/out/startup.log
python bench/train_speed.py --corpus "$corpus" --ref-dir "$ref" --configs S,M,L --rounds 2 \
  --json bench/out/train_speed.json | tee bench/out/train_speed.log
python bench/train_speed.py --corpus "$corpus" --ref-dir "$ref" --configs M --rounds 1 --threads 1 \
  | tee bench/out/train_speed_1thread.log
python bench/sample_speed.py --config M --threads 1,2 --ref-dir "$ref" --json bench/out/sample_speed.json \
  | tee bench/out/sample_speed.log
python bench/memory.py --source "$corpus" --size-mb 1000 --json bench/out/memory.json | tee bench/out/memory.log
echo
python bench/summary.py bench/out | tee bench/out/summary.txt
