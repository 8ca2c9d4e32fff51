#!/usr/bin/env bash
# First measurement of sluice's added latency and CPU per request (issue 2), with wrk:
# the mock upstream directly vs sluice in front of the same mock, interleaved, same load
# generator, several rounds; prints a markdown table of medians.
#
#   cargo build --release -p sluice-engine -p sluice-loadtest
#   bench/scripts/added-latency.sh [rounds=5] [seconds=10]
#
# Pinning on a 2-core machine: the mock and wrk share core 0, sluice (1 worker) gets
# core 1, so sluice's own CPU is measured alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
SECS=${2:-10}
BIN=target/release
MOCK_PORT=18000; GW_PORT=18080; ADMIN_PORT=19090
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

cat > "$tmp/sluice.toml" <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
admin_listen = "127.0.0.1:$ADMIN_PORT"
workers = 1
[auth]
keys = ["sk-bench"]
[log]
access_log = "off"
[[providers]]
name = "mock"
kind = "openai-compatible"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
[[models]]
name = "bench"
provider = "mock"
TOML

taskset -c 0 $BIN/sluice-loadtest mock --listen 127.0.0.1:$MOCK_PORT --workers 1 --completion-tokens 100 >/dev/null 2>&1 &
taskset -c 1 $BIN/sluice serve --config "$tmp/sluice.toml" 2>"$tmp/gw.log" &
GW_PID=$!
sleep 1

cpu_ticks() { awk '{print $14+$15}' /proc/$GW_PID/stat; }
run() { # target conns -> RESULT line
  taskset -c 0 wrk -t1 -c"$2" -d"${SECS}s" -s bench/scripts/chat.lua "http://127.0.0.1:$1/v1/chat/completions" | grep RESULT
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# Warm up both paths (connections, pools, page cache).
run $MOCK_PORT 1 >/dev/null; run $GW_PORT 1 >/dev/null

for r in $(seq "$ROUNDS"); do
  run $MOCK_PORT 1 > "$tmp/direct1.$r"
  run $GW_PORT 1 > "$tmp/gw1.$r"
  run $MOCK_PORT 64 > "$tmp/direct64.$r"
  t0=$(cpu_ticks); run $GW_PORT 64 > "$tmp/gw64.$r"; t1=$(cpu_ticks)
  n=$(field requests < "$tmp/gw64.$r")
  echo "$(( (t1 - t0) * 10000 * 100 / (n > 0 ? n : 1) ))" > "$tmp/cpu.$r"   # ticks (10 ms) -> µs/100 per request
done

m() { cat "$tmp"/$1.* | field "$2" | median; }
echo
echo "Concurrency 1, non-streaming, ~1 KiB request and response; medians of $ROUNDS interleaved ${SECS}s rounds (µs):"
echo
echo "| path | p50 | p90 | p99 | p99.9 | requests/s |"
echo "|---|---|---|---|---|---|"
for p in direct1 gw1; do
  req=$(m $p requests); dur=$(m $p duration_us)
  echo "| $( [ $p = direct1 ] && echo 'mock direct' || echo 'through sluice' ) | $(m $p p50) | $(m $p p90) | $(m $p p99) | $(m $p p999) | $(( req * 1000000 / dur )) |"
done
echo "| **added by sluice** | $(( $(m gw1 p50) - $(m direct1 p50) )) | $(( $(m gw1 p90) - $(m direct1 p90) )) | $(( $(m gw1 p99) - $(m direct1 p99) )) | $(( $(m gw1 p999) - $(m direct1 p999) )) | |"
echo
echo "Closed loop, 64 keep-alive connections (wrk and mock on core 0, sluice on core 1):"
echo
echo "| path | requests/s | p50 µs | p99 µs | errors |"
echo "|---|---|---|---|---|"
for p in direct64 gw64; do
  req=$(m $p requests); dur=$(m $p duration_us)
  echo "| $( [ $p = direct64 ] && echo 'mock direct' || echo 'through sluice' ) | $(( req * 1000000 / dur )) | $(m $p p50) | $(m $p p99) | $(m $p errors) |"
done
cpu=$(cat "$tmp"/cpu.* | median)
echo
printf 'sluice CPU per request at 64 connections: %d.%02d µs (utime+stime from /proc; median of rounds)\n' $((cpu / 100)) $((cpu % 100))
