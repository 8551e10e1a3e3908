#!/usr/bin/env bash
# Issue #43's device check in one call meant to fit in 9 minutes: the 5-minute defaults on CORPUS and on
# its first 150,000 characters side by side with the plain reference on those (gpu_check.py's
# `recipe`), then the defaults' training throughput against a plain nn.LSTM loop (`throughput`).
# Sampling, correctness and gpu_check.sh's separate 5-minute quality run are left out to fit the time.
#   bash bench/gpu_recipe.sh CORPUS [OUT_DIR]        (results in OUT_DIR/gpu_check.json and .log)
#   python bench/gpu_check.py --corpus CORPUS --dry-run-cpu --minutes 0.1   # the plumbing, on a CPU
exec bash "$(dirname "$0")/gpu_check.sh" "${1:?usage: gpu_recipe.sh CORPUS [OUT_DIR]}" "${2:-bench/out}" \
  --recipe --skip quality,sampling,correctness
