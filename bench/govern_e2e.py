#!/usr/bin/env python3
"""The governance path's end-to-end CPU cost: one sluice (1 worker, core 1) in front of the
mock (core 0, with the load generator), open loop at a fixed rate (default 20,000 req/s),
the same requests sent with four kinds of key, interleaved round by round:

  off        a static [auth] key: no directory lookup, no limits, no budgets
  limits     a virtual key under a user, team and org, each with RPM and max-concurrency:
             hash + lookup + 4 request buckets + 4 gauges, no prompt estimate
  full       the same path with TPM and a budget at all four levels: the prompt estimate
             (byte rule: the model is not an OpenAI one), 8 rate buckets, 4 gauges,
             4 budget reservations and their settlement, the spend ledger
  full-tiktoken  as `full` on a model the gateway counts with tiktoken (o200k)

CPU per request is the gateway process's utime+stime from /proc over the run divided by
the requests it answered. Prints a markdown table of medians.

    cargo build --release -p sluice-engine -p sluice-loadtest
    python3 bench/govern_e2e.py [--rounds 5] [--seconds 5]
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the side-by-side bench's process helpers)

KEYS = {
    "off": ("sk-bench", "mock-gpt"),
    "limits": ("sk-sluice-bench-limits-000000000001", "mock-gpt"),
    "full": ("sk-sluice-bench-full-00000000000002", "mock-gpt"),
    "full-tiktoken": ("sk-sluice-bench-full-00000000000002", "gpt-4o-mini"),
}

BIG = "rpm = 100000000, tpm = 100000000000, max_concurrency = 100000"
TOML = run.SLUICE_TOML.replace(
    "[[models]]\nname = \"mock-gpt\"\nprovider = \"mock\"\n",
    "[[models]]\nname = \"mock-gpt\"\ndeployments = [{ provider = \"mock\", input_price_per_mtok = 1.0, "
    "output_price_per_mtok = 2.0 }]\n[[models]]\nname = \"gpt-4o-mini\"\nprovider = \"mock\"\n",
) + f"""
[data]
dir = "{{data}}"
[[orgs]]
id = "o-limits"
rpm = 100000000
max_concurrency = 100000
[[teams]]
id = "t-limits"
org = "o-limits"
rpm = 100000000
max_concurrency = 100000
[[users]]
id = "u-limits"
team = "t-limits"
rpm = 100000000
max_concurrency = 100000
[[keys]]
id = "k-limits"
key = "{KEYS['limits'][0]}"
user = "u-limits"
rpm = 100000000
max_concurrency = 100000
[[orgs]]
id = "o-full"
{BIG.replace(', ', chr(10))}
budget = {{ usd = 10000000, period = "monthly" }}
[[teams]]
id = "t-full"
org = "o-full"
{BIG.replace(', ', chr(10))}
budget = {{ usd = 10000000, period = "monthly" }}
[[users]]
id = "u-full"
team = "t-full"
{BIG.replace(', ', chr(10))}
budget = {{ usd = 10000000, period = "monthly" }}
[[keys]]
id = "k-full"
key = "{KEYS['full'][0]}"
user = "u-full"
{BIG.replace(', ', chr(10))}
budget = {{ usd = 10000000, period = "monthly" }}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rate", type=int, default=20000,
                    help="open loop at this rate (0: closed loop, 64 connections). At a fixed "
                         "rate every mode wakes the gateway alike; in a closed loop a slower "
                         "path keeps the core busier and batches more, which hides its cost")
    a = ap.parse_args()
    os.makedirs(run.OUT, exist_ok=True)
    procs = run.Procs()
    data = tempfile.mkdtemp(prefix="sluice-govern-bench-")
    try:
        procs.start([run.LOADTEST, "mock", "--listen", f"127.0.0.1:{run.MOCK_PORT}", "--workers", "1"], 0)
        run.wait_port(run.MOCK_PORT)
        cfg = os.path.join(data, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(TOML.replace("{data}", os.path.join(data, "db")))
        gw = procs.start([run.SLUICE, "serve", "--config", cfg], 1)
        run.wait_port(run.SLUICE_PORT)
        target = f"http://127.0.0.1:{run.SLUICE_PORT}"
        results = {m: [] for m in KEYS}
        # Round -1 warms every path (connections, tokenizer tables) and is discarded.
        for r in range(-1, a.rounds):
            secs = 1 if r < 0 else a.seconds
            # The order rotates every round, so that no mode always follows another.
            modes = list(KEYS.items())
            shift = max(r, 0) % len(modes)
            for mode, (key, model) in modes[shift:] + modes[:shift]:
                pids = run.proc_tree(gw.pid)
                t0 = run.cpu_ticks(pids)
                path = os.path.join(run.OUT, f"govern-{mode}-{r}.json")
                cmd = [run.LOADTEST, "run", "--workers", "1", "--key", key, "--model", model,
                       "--no-progress", "--json", path, "--target", target,
                       "--duration", f"{secs}s", "--warmup", "0s"]
                cmd += ["--rate", str(a.rate)] if a.rate else ["--connections", "64"]
                run.subprocess.run(["taskset", "-c", "0"] + cmd, check=True,
                                   stdout=run.subprocess.DEVNULL, stderr=run.subprocess.DEVNULL)
                t1 = run.cpu_ticks(pids)
                with open(path) as f:
                    rep = run.json.load(f)["targets"][0]
                n = rep["requests"]
                ok = rep["status"]["2xx"]
                hz = os.sysconf("SC_CLK_TCK")
                us = (t1 - t0) / hz * 1e6 / max(n, 1)
                if r >= 0:
                    results[mode].append((n / secs, us, ok, n))
        print("| key | req/s | CPU µs/req | Δ CPU vs off | answered 2xx |")
        print("|---|---|---|---|---|")
        base = statistics.median(x[1] for x in results["off"])
        for mode, xs in results.items():
            rps = statistics.median(x[0] for x in xs)
            cpu = statistics.median(x[1] for x in xs)
            ok = sum(x[2] for x in xs)
            n = sum(x[3] for x in xs)
            print(f"| {mode} | {rps:,.0f} | {cpu:.2f} | {cpu - base:+.2f} | {ok}/{n} |")
        print(f"\nmedians of {a.rounds} rounds of {a.seconds} s, rounds interleaved (order rotated); per-round CPU µs/req:")
        for mode, xs in results.items():
            print(f"- {mode}: " + ", ".join(f"{x[1]:.2f}" for x in xs))
    finally:
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
