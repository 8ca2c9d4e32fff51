#!/usr/bin/env python3
"""A response-cache hit through the gateway, against a proxied request to a zero-latency mock.

One sluice (1 worker, core 1, `[cache]` on with the semantic cache `on`, lexical embedder)
in front of the mock (1 worker, core 0, no latency), the load generator on core 0, the
same ~1 KiB chat body (`unique = false`) in every mode, modes interleaved round by round:

  mock       the mock directly: the floor
  proxied    through sluice with `x-sluice-cache: off`: a plain proxied request
  hit        through sluice, the cache answering (every request after the first is an
             exact hit: no upstream request at all)
  miss       through sluice with a unique prompt per request (`unique = true`): the exact
             key, the semantic eligibility check, embedding, index search, the capture of
             the answer and both inserts, on every request

Latency is the closed loop's (one connection, one request at a time) percentiles; CPU per
request is sluice's utime+stime from /proc divided by the requests it answered.

    cargo build --release -p sluice-engine -p sluice-loadtest
    python3 bench/cache_e2e.py [--rounds 5] [--seconds 5]
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the side-by-side bench's process helpers)

TOML = run.SLUICE_TOML + """
[cache]
enabled = true
memory_mb = 512
[cache.semantic]
mode = "on"
capacity = 1000000
"""

WORKLOAD = """
[[request]]
name = "chat 1 KiB"
endpoint = "chat"
model = "mock-gpt"
prompt_tokens = 240
max_tokens = 128
stream = 0.0
unique = {unique}
{headers}
"""

MODES = {
    "mock": (run.MOCK, "false", ""),
    "proxied": (None, "false", 'headers = { "x-sluice-cache" = "off" }'),
    "hit": (None, "false", ""),
    "miss": (None, "true", ""),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(run.OUT, exist_ok=True)
    procs = run.Procs()
    tmp = tempfile.mkdtemp(prefix="sluice-cache-bench-")
    try:
        procs.start([run.LOADTEST, "mock", "--listen", f"127.0.0.1:{run.MOCK_PORT}", "--workers", "1"], 0)
        run.wait_port(run.MOCK_PORT)
        cfg = os.path.join(tmp, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(TOML)
        gw = procs.start([run.SLUICE, "serve", "--config", cfg], 1)
        run.wait_port(run.SLUICE_PORT)
        gateway = f"http://127.0.0.1:{run.SLUICE_PORT}"
        results = {m: [] for m in MODES}
        for r in range(-1, a.rounds):
            secs = 1 if r < 0 else a.seconds
            modes = list(MODES.items())
            shift = max(r, 0) % len(modes)
            for mode, (target, unique, headers) in modes[shift:] + modes[:shift]:
                wl = os.path.join(tmp, f"{mode}.toml")
                with open(wl, "w") as f:
                    f.write(WORKLOAD.format(unique=unique, headers=headers))
                pids = run.proc_tree(gw.pid)
                t0 = run.cpu_ticks(pids)
                path = os.path.join(run.OUT, f"cache-{mode}-{r}.json")
                cmd = [run.LOADTEST, "run", "--workers", "1", "--key", "sk-bench", "--workload", wl,
                       "--no-progress", "--json", path, "--target", target or gateway,
                       "--connections", "1", "--duration", f"{secs}s", "--warmup", "0s",
                       "--seed", str(1000 + r)]
                run.subprocess.run(["taskset", "-c", "0"] + cmd, check=True,
                                   stdout=run.subprocess.DEVNULL, stderr=run.subprocess.DEVNULL)
                t1 = run.cpu_ticks(pids)
                with open(path) as f:
                    rep = run.json.load(f)["targets"][0]
                n = rep["requests"]
                ok = rep["status"]["2xx"]
                lat = rep["latency_us"]
                hz = os.sysconf("SC_CLK_TCK")
                us = (t1 - t0) / hz * 1e6 / max(n, 1) if target is None else float("nan")
                if r >= 0:
                    results[mode].append((lat["p50"], lat["p99"], us, n / secs, ok, n))
        print("| mode | p50 µs | p99 µs | req/s (1 connection) | sluice CPU µs/req | answered 2xx |")
        print("|---|---|---|---|---|---|")
        for mode, xs in results.items():
            p50 = statistics.median(x[0] for x in xs)
            p99 = statistics.median(x[1] for x in xs)
            cpu = statistics.median(x[2] for x in xs)
            rps = statistics.median(x[3] for x in xs)
            ok = sum(x[4] for x in xs)
            n = sum(x[5] for x in xs)
            cpu_s = "-" if cpu != cpu else f"{cpu:.1f}"
            print(f"| {mode} | {p50:.0f} | {p99:.0f} | {rps:,.0f} | {cpu_s} | {ok}/{n} |")
        print(f"\nmedians of {a.rounds} rounds of {a.seconds} s, rounds interleaved (order rotated)")
    finally:
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
