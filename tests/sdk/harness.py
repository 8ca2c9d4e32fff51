"""What the SDK tests share: the real binaries as subprocesses, the gateway config, the
runner's exit policy.

`Mock` is `sluice-loadtest mock` ($SLUICE_LOADTEST_BIN), `Gateway` is `sluice serve`
($SLUICE_BIN), both under <target>/debug by default, where <target> is
$CARGO_TARGET_DIR or the repository's `target/`. Both listen on 127.0.0.1 port 0 and
report the address the kernel picked, so runs never collide on a port. Every wait is
bounded, and `Stack.start` registers the processes for cleanup so that they are killed
even when a later step of the class setup fails.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
SLUICE_BIN = os.environ.get("SLUICE_BIN", os.path.join(TARGET, "debug", "sluice"))
MOCK_BIN = os.environ.get("SLUICE_LOADTEST_BIN", os.path.join(TARGET, "debug", "sluice-loadtest"))

START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 15

# The key clients present to the gateway, and the one the gateway presents to the mock.
CLIENT_KEY = "sk-sluice-sdk-test"
PROVIDER_KEY = "sk-provider-sdk-test"

# Provider kinds the gateway is tested against, and the model that reaches each.
KINDS = ("openai-compatible", "azure-openai", "anthropic", "gemini")
UPSTREAM_MODEL = "upstream-model-1"


def model_for(kind):
    return f"m-{kind}"


def _scrubbed_env():
    """The environment without provider keys, so no test can reach a real provider."""
    return {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies, so a test run that
    is itself killed (scripts/test's timeout) leaves no gateway or mock behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_for_port(addr, timeout_s=START_TIMEOUT_S):
    """Return once `addr` ("host:port") accepts a TCP connection; raise after `timeout_s`."""
    host, port = addr.rsplit(":", 1)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing accepts connections on {addr} after {timeout_s}s") from e
            time.sleep(0.05)


class Process:
    """A child that announces its address on one of its output lines.

    `parse(line)` returns the address or None. The output is read on a thread, so a
    child that never writes the line cannot hang the test past `START_TIMEOUT_S`; the
    thread keeps draining afterwards so the child never blocks on a full pipe.
    """

    def __init__(self, name, argv, parse, stream):
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
            env=_scrubbed_env(),
            text=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        pipe = self.proc.stdout if stream == "stdout" else self.proc.stderr
        found = threading.Event()
        self.addr = None
        self.tail = []

        def read():
            for line in pipe:
                if self.addr is None:
                    self.tail = (self.tail + [line])[-20:]
                    addr = parse(line)
                    if addr is not None:
                        self.addr = addr
                        found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        found.wait(START_TIMEOUT_S)
        if self.addr is None:
            self.kill()
            raise RuntimeError(f"{name} did not start ({argv}); its output:\n{''.join(self.tail)}")
        try:
            wait_for_port(self.addr)
        except Exception:
            self.kill()
            raise

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self):
        """SIGTERM and wait; a child that does not exit in time is killed. Raises when
        the exit was not clean, so a crash on shutdown fails the run."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} had already exited with {self.proc.returncode}")
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.kill()
            raise RuntimeError(f"{self.name} did not exit within {STOP_TIMEOUT_S}s of SIGTERM") from e
        if code != 0:
            raise RuntimeError(f"{self.name} exited with {code} on SIGTERM")


class Mock(Process):
    """`sluice-loadtest mock` on one worker; it prints `mock listening on ADDR`."""

    def __init__(self):
        prefix = "mock listening on "
        super().__init__(
            "sluice-loadtest mock",
            [MOCK_BIN, "mock", "--listen", "127.0.0.1:0", "--workers", "1"],
            lambda line: line.strip()[len(prefix) :] if line.startswith(prefix) else None,
            "stdout",
        )


def _gateway_addr(line):
    if '"sluice listening"' not in line:
        return None
    return json.loads(line)["addr"]


class Gateway(Process):
    """`sluice serve` with `config` (a TOML path), or in demo mode without one."""

    def __init__(self, config=None):
        argv = [SLUICE_BIN, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--workers", "2"]
        if config is not None:
            argv += ["--config", config]
        super().__init__("sluice", argv, _gateway_addr, "stderr")


def provider_config(kind, mock_addr):
    """One provider of `kind` at the mock and its model `model_for(kind)`.

    OpenAI-compatible providers are addressed with the `/v1` prefix, the others at the
    host root, as each provider's own base URL is written.
    """
    base = f"http://{mock_addr}/v1" if kind == "openai-compatible" else f"http://{mock_addr}"
    extra = 'api_version = "2024-10-21"\n' if kind == "azure-openai" else ""
    return f"""
[[providers]]
name = "p-{kind}"
kind = "{kind}"
base_url = "{base}"
api_key = "{PROVIDER_KEY}"
timeouts = {{ connect_timeout_ms = 2000, first_byte_timeout_ms = 10000, total_timeout_ms = 30000 }}
{extra}
[[models]]
name = "{model_for(kind)}"
provider = "p-{kind}"
model = "{UPSTREAM_MODEL}"
"""


def write_config(mock_addr, kinds=KINDS):
    """A gateway config with one model per provider kind, all at the mock; returns its path."""
    text = f"""
[log]
access_log = "off"

[auth]
keys = ["{CLIENT_KEY}"]
""" + "".join(provider_config(k, mock_addr) for k in kinds)
    fd, path = tempfile.mkstemp(prefix="sluice-sdk-", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class Stack:
    """A mock and a gateway in front of it, serving one model per kind."""

    @classmethod
    def start(cls, test_class, kinds=KINDS):
        """Start both for `test_class` (call from setUpClass); they are stopped, or killed
        if need be, when the class is done, whatever happened in between."""
        stack = cls()
        stack.mock = Mock()
        test_class.addClassCleanup(stack.mock.stop)
        stack.config = write_config(stack.mock.addr, kinds)
        test_class.addClassCleanup(os.unlink, stack.config)
        stack.gateway = Gateway(stack.config)
        test_class.addClassCleanup(stack.gateway.stop)
        return stack

    @property
    def addr(self):
        return self.gateway.addr


def per_kind(kinds, known_bugs=None):
    """Class decorator: every method `check_NAME(self, kind)` becomes one test
    `test_NAME__KIND` per kind. `known_bugs` maps `(NAME, KIND)` to the reason that
    test is skipped (a gateway bug, written down where it is reported)."""
    known_bugs = dict(known_bugs or {})

    def decorate(cls):
        for attr in list(vars(cls)):
            if not attr.startswith("check_"):
                continue
            name = attr[len("check_") :]
            for kind in kinds:

                def test(self, _attr=attr, _kind=kind):
                    getattr(self, _attr)(_kind)

                reason = known_bugs.pop((name, kind), None)
                if reason is not None:
                    test = unittest.skip(reason)(test)
                test.__name__ = f"test_{name}__{kind.replace('-', '_')}"
                setattr(cls, test.__name__, test)
        assert not known_bugs, f"known bugs name no test: {sorted(known_bugs)}"
        return cls

    return decorate


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}

# The mock answers with tool calls when a request carries these (see loadtest/src/mock/tools.rs):
# two calls to the first declared tool, the first with {"location": "Paris"}.
TOOL_CALL_HEADERS = {"x-mock-tool-call": "auto", "x-mock-parallel-tool-calls": "2"}


def main():
    """Run the calling module's tests. A skipped test counts as a failure: nothing here
    may silently not run, and a known-bug skip keeps the suite red until it is fixed."""
    result = unittest.main(module="__main__", exit=False, verbosity=2).result
    for test, reason in result.skipped:
        print(f"SKIPPED (counts as a failure): {test.id()}: {reason}", file=sys.stderr)
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
