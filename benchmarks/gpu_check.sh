#!/usr/bin/env bash
# The GPU check of issue 29 (benchmarks/gpu_check.py, docs/gpu.md), run with the machine's own python3; its output
# is also logged to $OUT/gpu_check.log when $OUT is set (the device tool's folder of files that come back).
#   bash benchmarks/gpu_check.sh stash                          # a device call per chunk, back to back
#   bash benchmarks/gpu_check.sh run smoke mpnet --gpu-id 0     # then the stages
set -o pipefail
cd "$(dirname "$0")/.."
if [ -n "$OUT" ]; then
    PYTHONUNBUFFERED=1 python3 -m benchmarks.gpu_check "$@" 2>&1 | tee -a "$OUT/gpu_check.log"
else
    PYTHONUNBUFFERED=1 exec python3 -m benchmarks.gpu_check "$@"
fi
