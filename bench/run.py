#!/usr/bin/env python3
"""The whole BENCHMARKS.md gateway table in one run: the mock directly, nginx (a plain
keep-alive reverse proxy, bench/nginx/nginx.conf.template) and sluice, side by side.

    cargo build --release -p sluice-engine -p sluice-loadtest
    apt-get install -y nginx            # Debian's package
    bench/run.sh [--rounds 3] [--seconds 5] [--quick]

Pinning (2 cores): the mock and the load generator share core 0; the proxy under test
(1 worker) has core 1 to itself, so its CPU per request is its own. Every comparison is
`sluice-loadtest run` in compare mode: requests alternate between the mock directly (A)
and the proxy in front of the same mock (B), and B - A at each percentile is the added
latency. Medians over rounds. Prints markdown to stdout; raw JSON reports go to
bench/out/.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
LOADTEST = os.path.join(REL, "sluice-loadtest")
SLUICE = os.path.join(REL, "sluice")
OUT = os.path.join(ROOT, "bench", "out")
MOCK_PORT, NGINX_PORT, SLUICE_PORT, ADMIN_PORT = 18000, 18081, 18080, 19090
MOCK = f"http://127.0.0.1:{MOCK_PORT}"
PROXIES = {"nginx": f"http://127.0.0.1:{NGINX_PORT}", "sluice": f"http://127.0.0.1:{SLUICE_PORT}"}

SLUICE_TOML = f"""
[server]
listen = "127.0.0.1:{SLUICE_PORT}"
admin_listen = "127.0.0.1:{ADMIN_PORT}"
workers = 1
[auth]
keys = ["sk-bench"]
[log]
access_log = "off"
[[providers]]
name = "mock"
kind = "openai-compatible"
base_url = "http://127.0.0.1:{MOCK_PORT}/v1"
timeouts = {{ pool_max_idle = 20000 }}
[[models]]
name = "mock/*"
provider = "mock"
[[models]]
name = "mock-gpt"
provider = "mock"
"""

STREAM_WORKLOAD = """
[[request]]
name = "stream"
endpoint = "chat"
model = "mock-gpt"
prompt_tokens = 200
max_tokens = 64
stream = 1.0
headers = {{ "x-mock-ttft-ms" = "{ttft}", "x-mock-chunk-interval-ms" = "{interval}", "x-mock-chunks" = "{chunks}" }}
"""


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, args, core, **kw):
        p = subprocess.Popen(["taskset", "-c", str(core)] + args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def wait_port(port, timeout=10.0):
    import socket
    until = time.time() + timeout
    while time.time() < until:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def port_free(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return False
    except OSError:
        return True


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def loadtest(targets, args, tag, workload=None):
    path = os.path.join(OUT, f"{tag}.json")
    cmd = [LOADTEST, "run", "--workers", "1", "--key", "sk-bench", "--model", "mock-gpt",
           "--no-progress", "--json", path]
    for t in targets:
        cmd += ["--target", t]
    if workload:
        cmd += ["--workload", workload]
    cmd += args
    subprocess.run(["taskset", "-c", "0"] + cmd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with open(path) as f:
        return json.load(f)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit=""):
    if x is None:
        return "—"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.1f}{unit}"
    return f"{int(x)}{unit}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer rates, smaller stream counts")
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--big-streams", type=int, default=10000)
    ap.add_argument("--baseline", metavar="SLUICE_BIN",
                    help="an A/B run: this sluice binary (say, a build of the previous commit) "
                         "takes nginx's place, under the name `baseline`")
    ap.add_argument("--until", type=int, default=5, metavar="N",
                    help="stop after section N (1 c=1, 2 closed loop, 3 open loop, 4 streams, 5 memory)")
    a = ap.parse_args()
    global PROXIES
    if a.baseline:
        PROXIES = {"baseline": f"http://127.0.0.1:{NGINX_PORT}", "sluice": f"http://127.0.0.1:{SLUICE_PORT}"}
    if a.quick:
        a.rounds, a.seconds, a.big_streams = 1, 3, 2000
    os.makedirs(OUT, exist_ok=True)
    secs = f"{a.seconds}s"
    busy = [p for p in (MOCK_PORT, NGINX_PORT, SLUICE_PORT, ADMIN_PORT) if not port_free(p)]
    if busy:
        sys.exit(f"ports {busy} are in use: another benchmark or gateway is running")
    tmp = tempfile.mkdtemp(prefix="sluice-bench-")
    procs = Procs()
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass
    try:
        procs.start([LOADTEST, "mock", "--listen", f"127.0.0.1:{MOCK_PORT}", "--workers", "1",
                     "--completion-tokens", "100"], core=0)
        with open(os.path.join(tmp, "sluice.toml"), "w") as f:
            f.write(SLUICE_TOML)
        gw = procs.start([SLUICE, "serve", "--config", os.path.join(tmp, "sluice.toml")], core=1)
        if a.baseline:
            with open(os.path.join(tmp, "baseline.toml"), "w") as f:
                f.write(SLUICE_TOML.replace(f":{SLUICE_PORT}\"", f":{NGINX_PORT}\"")
                        .replace(f":{ADMIN_PORT}\"", f":{ADMIN_PORT + 1}\""))
            base = procs.start([a.baseline, "serve", "--config", os.path.join(tmp, "baseline.toml")], core=1)
        else:
            conf = open(os.path.join(ROOT, "bench", "nginx", "nginx.conf.template")).read()
            for k, v in {"@WORKERS@": "1", "@PREFIX@": tmp, "@MOCK_PORT@": str(MOCK_PORT),
                         "@PORT@": str(NGINX_PORT)}.items():
                conf = conf.replace(k, v)
            with open(os.path.join(tmp, "nginx.conf"), "w") as f:
                f.write(conf)
            ng = procs.start(["nginx", "-c", os.path.join(tmp, "nginx.conf"), "-p", tmp,
                              "-e", os.path.join(tmp, "error.log")], core=1)
        for port in (MOCK_PORT, SLUICE_PORT, NGINX_PORT):
            wait_port(port)
        time.sleep(0.5)
        if a.baseline:
            pids = {"sluice": [gw.pid], "baseline": [base.pid]}
        else:
            pids = {"sluice": [gw.pid], "nginx": proc_tree(ng.pid)}
        idle_rss = {k: rss_kib(v) for k, v in pids.items()}
        stream_wl = os.path.join(tmp, "stream.toml")

        print(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {a.rounds} rounds of {secs}, "
              f"load average {os.getloadavg()[0]:.2f}. Medians over rounds; µs.\n")

        # 1. Concurrency 1.
        rows = {k: {"p50": [], "p99": [], "p999": [], "abs": []} for k in PROXIES}
        direct = []
        for r in range(a.rounds):
            for name, url in PROXIES.items():
                rep = loadtest([MOCK, url], ["--connections", "1", "--duration", secs], f"c1-{name}-{r}")
                d = rep["difference"]["latency_us"]
                rows[name]["p50"].append(d["p50"])
                rows[name]["p99"].append(d["p99"])
                rows[name]["p999"].append(d["p99_9"])
                rows[name]["abs"].append(rep["targets"][1]["latency_us"]["p50"])
                direct.append(rep["targets"][0]["latency_us"]["p50"])
        print("### Added latency, concurrency 1, non-streaming, ~1 KiB request and response\n")
        print(f"Mock direct p50: {fmt(med(direct))} µs.\n")
        print("| proxy | p50 through | added p50 | added p99 | added p99.9 |")
        print("|---|---|---|---|---|")
        for name in PROXIES:
            x = rows[name]
            print(f"| {name} | {fmt(med(x['abs']))} | {fmt(med(x['p50']))} | {fmt(med(x['p99']))} | {fmt(med(x['p999']))} |")
        print()

        if a.until < 2:
            return
        # 2. Closed loop, 64 connections: throughput and CPU per request.
        res = {k: {"rps": [], "cpu": [], "p99": []} for k in ["mock"] + list(PROXIES)}
        for r in range(a.rounds):
            for name, url in [("mock", MOCK)] + list(PROXIES.items()):
                t0 = cpu_ticks(pids.get(name, []))
                rep = loadtest([url], ["--connections", "64", "--duration", secs], f"c64-{name}-{r}")
                t1 = cpu_ticks(pids.get(name, []))
                t = rep["targets"][0]
                res[name]["rps"].append(t["achieved_rate"])
                res[name]["p99"].append(t["latency_us"]["p99"])
                if name in pids:
                    # Ticks cover warm-up too: divide by all requests sent in the run.
                    total = t["achieved_rate"] * (rep["elapsed_s"] + rep["warmup_s"])
                    res[name]["cpu"].append((t1 - t0) * 10000 / max(total, 1))
        print("### Closed loop, 64 keep-alive connections\n")
        print("| path | requests/s | p99 | CPU µs per request |")
        print("|---|---|---|---|")
        for name in ["mock"] + list(PROXIES):
            x = res[name]
            print(f"| {name} | {fmt(med(x['rps']))} | {fmt(med(x['p99']))} | {fmt(med(x['cpu']))} |")
        print("\nCPU per request: utime+stime from /proc of the proxy's processes over the run "
              "(warm-up included) divided by the requests sent in it.\n")

        if a.until < 3:
            return
        # 3. Open loop at increasing rates.
        rates = [1000, 5000, 10000, 15000, 20000, 25000, 30000, 40000]
        if a.quick:
            rates = [1000, 10000, 20000]
        print("### Open loop (constant arrivals, latency from the intended send time)\n")
        print("| rate/s | proxy | achieved | added p50 | added p99 |")
        print("|---|---|---|---|---|")
        saturated = set()
        for rate in rates:
            for name, url in PROXIES.items():
                if name in saturated:
                    continue
                p50s, p99s, ach = [], [], []
                for r in range(a.rounds):
                    rep = loadtest([MOCK, url], ["--rate", str(rate), "--duration", secs,
                                                 "--max-connections", "256"], f"open-{rate}-{name}-{r}")
                    d = (rep["difference"] or {}).get("latency_us") or {}
                    p50s.append(d.get("p50"))
                    p99s.append(d.get("p99"))
                    ach.append(rep["targets"][1]["achieved_rate"])
                print(f"| {rate} | {name} | {fmt(med(ach))} | {fmt(med(p50s))} | {fmt(med(p99s))} |")
                if med(ach) < 0.95 * rate:
                    saturated.add(name)
            if len(saturated) == len(PROXIES):
                break
        print("\nA proxy's row stops after the first rate it could not sustain (achieved < 95%); "
              "in compare mode the mock serves both paths, so it sees twice the rate.\n")

        if a.until < 4:
            return
        # 4. Streaming at N concurrent streams, and memory.
        with open(stream_wl, "w") as f:
            f.write(STREAM_WORKLOAD.format(ttft=20, interval=20, chunks=25))
        s = {k: {"ttft50": [], "ttft99": [], "itl50": [], "itl99": [], "rss": []} for k in PROXIES}
        for r in range(a.rounds):
            for name, url in PROXIES.items():
                out = {}
                def sample(pids=pids[name]):
                    time.sleep(a.seconds / 2 + 2)
                    out["rss"] = rss_kib(pids)
                import threading
                th = threading.Thread(target=sample)
                th.start()
                rep = loadtest([MOCK, url], ["--connections", str(a.streams), "--duration", secs],
                               f"stream-{name}-{r}", workload=stream_wl)
                th.join()
                d = rep["difference"]
                s[name]["ttft50"].append(d["ttft_us"]["p50"])
                s[name]["ttft99"].append(d["ttft_us"]["p99"])
                s[name]["itl50"].append(d["itl_us"]["p50"])
                s[name]["itl99"].append(d["itl_us"]["p99"])
                s[name]["rss"].append(out["rss"])
        print(f"### Streaming, {a.streams} concurrent streams per path (25 frames, 20 ms apart)\n")
        print("| proxy | added TTFT p50 | added TTFT p99 | added between frames p50 | p99 |")
        print("|---|---|---|---|---|")
        for name in PROXIES:
            x = s[name]
            print(f"| {name} | {fmt(med(x['ttft50']))} | {fmt(med(x['ttft99']))} | {fmt(med(x['itl50']))} | {fmt(med(x['itl99']))} |")
        print()

        # 5. Memory: idle, at N streams (sampled above), at the big count.
        with open(stream_wl, "w") as f:
            f.write(STREAM_WORKLOAD.format(ttft=0, interval=200, chunks=100))
        big = {}
        for name, url in PROXIES.items():
            out = {}
            def sample(pids=pids[name]):
                time.sleep(8)
                out["rss"] = rss_kib(pids)
            import threading
            th = threading.Thread(target=sample)
            th.start()
            loadtest([url], ["--connections", str(a.big_streams), "--duration", "8s", "--warmup", "4s"],
                     f"big-{name}", workload=stream_wl)
            th.join()
            big[name] = out["rss"]
        print("### Memory (RSS, all of the proxy's processes)\n")
        print(f"| proxy | idle | {a.streams} streams | {a.big_streams} streams | per stream at {a.big_streams} |")
        print("|---|---|---|---|---|")
        for name in PROXIES:
            per = (big[name] - idle_rss[name]) / a.big_streams
            print(f"| {name} | {idle_rss[name] / 1024:.1f} MiB | {med(s[name]['rss']) / 1024:.1f} MiB | "
                  f"{big[name] / 1024:.1f} MiB | {per:.1f} KiB |")
        print()
    finally:
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
