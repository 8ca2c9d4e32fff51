#!/usr/bin/env bash
# Reproduces BENCHMARKS.md's gateway table: mock direct vs nginx vs sluice, one run.
#   cargo build --release -p sluice-engine -p sluice-loadtest && bench/run.sh [--rounds N] [--seconds S] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || { echo "needs nginx (apt-get install -y nginx)" >&2; exit 1; }
[ -x target/release/sluice ] && [ -x target/release/sluice-loadtest ] || {
  echo "build first: cargo build --release -p sluice-engine -p sluice-loadtest" >&2; exit 1; }
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 bench/run.py "$@"
