#!/usr/bin/env python3
"""A response-cache hit through the gateway, against a proxied request to a zero-latency mock.

One sluice (1 worker, core 1, `[cache]` on with the semantic cache `on`, lexical embedder)
in front of the mock (1 worker, core 0, no latency), the load generator on core 0, the
same ~1 KiB chat body (`unique = false`) in every mode, modes interleaved round by round:

  mock       the mock directly: the floor
  proxied    through sluice with `x-sluice-cache: off`: a plain proxied request
  hit        through sluice, the cache answering (every request after the first is an
             exact hit: no upstream request at all)
  miss-exact     a unique prompt per request (`unique = true`) through a second sluice with
                 the exact cache only: the key, the capture of the answer and its insert
  miss-semantic  the same through the first sluice: also the eligibility check, embedding,
                 the index search and the vector's insert (every prompt shares one context:
                 the index's hardest case, one big context)

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

EXACT_TOML = run.SLUICE_TOML + """
[cache]
enabled = true
memory_mb = 512
"""
TOML = EXACT_TOML + """
[cache.semantic]
mode = "on"
capacity = 1000000
"""
EXACT_PORT, EXACT_ADMIN = run.SLUICE_PORT + 2, run.ADMIN_PORT + 2
EXACT_TOML = EXACT_TOML.replace(f":{run.SLUICE_PORT}\"", f":{EXACT_PORT}\"").replace(
    f":{run.ADMIN_PORT}\"", f":{EXACT_ADMIN}\"")

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
    "mock": ("mock", "false", ""),
    "proxied": ("semantic", "false", 'headers = { "x-sluice-cache" = "off" }'),
    "hit": ("semantic", "false", ""),
    "miss-exact": ("exact", "true", ""),
    "miss-semantic": ("semantic", "true", ""),
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
        gws, urls = {}, {"mock": run.MOCK}
        for name, text, port in [("semantic", TOML, run.SLUICE_PORT), ("exact", EXACT_TOML, EXACT_PORT)]:
            cfg = os.path.join(tmp, f"{name}.toml")
            with open(cfg, "w") as f:
                f.write(text)
            gws[name] = procs.start([run.SLUICE, "serve", "--config", cfg], 1)
            run.wait_port(port)
            urls[name] = f"http://127.0.0.1:{port}"
        results = {m: [] for m in MODES}
        for r in range(-1, a.rounds):
            secs = 1 if r < 0 else a.seconds
            modes = list(MODES.items())
            shift = max(r, 0) % len(modes)
            for mode, (target, unique, headers) in modes[shift:] + modes[:shift]:
                wl = os.path.join(tmp, f"{mode}.toml")
                with open(wl, "w") as f:
                    f.write(WORKLOAD.format(unique=unique, headers=headers))
                gw = gws.get(target)
                pids = run.proc_tree(gw.pid) if gw else []
                t0 = run.cpu_ticks(pids)
                path = os.path.join(run.OUT, f"cache-{mode}-{r}.json")
                cmd = [run.LOADTEST, "run", "--workers", "1", "--key", "sk-bench", "--workload", wl,
                       "--no-progress", "--json", path, "--target", urls[target],
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
                us = (t1 - t0) / hz * 1e6 / max(n, 1) if gw else float("nan")
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
