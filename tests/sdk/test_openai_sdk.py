"""The official OpenAI Python SDK against sluice in demo mode.

Run by scripts/test after the cargo tests, with the venv it creates. The gateway is the
real binary (target/debug/sluice, or $SLUICE_BIN), started on port 0.
"""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))


class Gateway:
    def __init__(self):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.addr = None
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            if '"sluice listening"' in line:
                self.addr = json.loads(line)["addr"]
                break
        if self.addr is None:
            self.proc.kill()
            raise RuntimeError("sluice did not start")
        # Keep draining stderr so the gateway never blocks on a full pipe.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=15)
        if code != 0:
            raise RuntimeError(f"sluice exited with {code} on SIGTERM")


class OpenAISDK(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway()
        cls.client = openai.OpenAI(base_url=f"http://{cls.gw.addr}/v1", api_key="sk-sluice-demo", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def test_chat(self):
        r = self.client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "Say something about gateways."}]
        )
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.model, "demo")
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertGreater(len(r.choices[0].message.content.split()), 10)
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertGreater(r.usage.prompt_tokens, 0)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)

    def test_chat_is_deterministic(self):
        msgs = [{"role": "user", "content": "same question"}]
        a = self.client.chat.completions.create(model="demo", messages=msgs)
        b = self.client.chat.completions.create(model="demo", messages=msgs)
        self.assertEqual(a.choices[0].message.content, b.choices[0].message.content)

    def test_streamed_chat(self):
        stream = self.client.chat.completions.create(
            model="demo",
            messages=[{"role": "user", "content": "Stream please."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, finish, usage, chunks = [], None, None, 0
        for chunk in stream:
            chunks += 1
            self.assertEqual(chunk.object, "chat.completion.chunk")
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
        self.assertGreaterEqual(chunks, 5, "several chunks")
        self.assertGreater(len("".join(pieces).split()), 10)
        self.assertEqual(finish, "stop")
        self.assertIsNotNone(usage, "usage chunk when include_usage is set")
        self.assertEqual(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens)

    def test_legacy_completions_and_embeddings(self):
        c = self.client.completions.create(model="demo", prompt="Once upon a time", max_tokens=5)
        self.assertEqual(c.choices[0].finish_reason, "length")
        self.assertEqual(len(c.choices[0].text.split()), 5)
        e = self.client.embeddings.create(model="demo", input=["alpha", "beta"])
        self.assertEqual(len(e.data), 2)
        self.assertEqual(len(e.data[0].embedding), 256)
        self.assertNotEqual(e.data[0].embedding, e.data[1].embedding)

    def test_models(self):
        ids = [m.id for m in self.client.models.list()]
        self.assertIn("demo", ids)
        self.assertEqual(self.client.models.retrieve("demo").id, "demo")

    def test_bad_key_raises_authentication_error(self):
        bad = openai.OpenAI(base_url=f"http://{self.gw.addr}/v1", api_key="sk-wrong", max_retries=0)
        with self.assertRaises(openai.AuthenticationError) as ctx:
            bad.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
        self.assertEqual(ctx.exception.status_code, 401)
        self.assertEqual(ctx.exception.code, "invalid_api_key")

    def test_unknown_model_raises_not_found(self):
        with self.assertRaises(openai.NotFoundError) as ctx:
            self.client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        self.assertIn("no-such-model", str(ctx.exception))
        self.assertEqual(ctx.exception.code, "model_not_found")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    # A skipped test counts as a failure: nothing here may silently not run.
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
