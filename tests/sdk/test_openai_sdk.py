"""The official OpenAI Python SDK against sluice: in demo mode, and through the gateway
to every provider kind it translates to (the mock upstream speaking each one's native
format).

Run by scripts/test after the cargo tests, with the venv it creates. The gateway and the
mock are the real binaries (see harness.py for where they are found), on port 0.
"""

import json
import unittest

import openai

import harness
from harness import CLIENT_KEY, KINDS, TOOL_CALL_HEADERS, UPSTREAM_MODEL, WEATHER_SCHEMA, model_for


def streamed_text(test, stream):
    """The text, finish reason, usage and chunk count of a chat stream, as a client reads it."""
    pieces, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        test.assertEqual(chunk.object, "chat.completion.chunk")
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    return "".join(pieces), finish, usage, chunks


class OpenAISDK(unittest.TestCase):
    """Demo mode: no config, the built-in mock provider."""

    @classmethod
    def setUpClass(cls):
        cls.gw = harness.Gateway()
        cls.addClassCleanup(cls.gw.stop)
        cls.client = openai.OpenAI(base_url=f"http://{cls.gw.addr}/v1", api_key="sk-sluice-demo", max_retries=0)

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
        text, finish, usage, chunks = streamed_text(self, stream)
        self.assertGreaterEqual(chunks, 5, "several chunks")
        self.assertGreater(len(text.split()), 10)
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


TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_SCHEMA},
    }
]
QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]


def answered_model(kind):
    """The `model` a response names: OpenAI-shaped providers' responses are relayed as
    they are (the upstream's name; engine ProviderKind::openai_shaped), translated ones
    are written by the gateway with the client's name."""
    return UPSTREAM_MODEL if kind in ("openai-compatible", "azure-openai") else model_for(kind)


@harness.per_kind(KINDS)
class OpenAISDKProviders(unittest.TestCase):
    """One gateway, one model per provider kind, all at one mock."""

    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack.start(cls)
        cls.client = openai.OpenAI(
            base_url=f"http://{cls.stack.addr}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30
        )

    def chat(self, kind, headers, **kw):
        return self.client.chat.completions.create(
            model=model_for(kind), messages=QUESTION, max_tokens=1000, extra_headers=headers, **kw
        )

    def check_chat(self, kind):
        r = self.chat(kind, {"x-mock-seed": "7"})
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.model, answered_model(kind))
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertTrue(r.choices[0].message.content)
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertGreater(r.usage.prompt_tokens, 0)
        self.assertGreater(r.usage.completion_tokens, 0)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)

    def check_streamed_chat(self, kind):
        seed = {"x-mock-seed": "11"}
        whole = self.chat(kind, seed).choices[0].message.content
        stream = self.chat(kind, seed, stream=True, stream_options={"include_usage": True})
        text, finish, usage, chunks = streamed_text(self, stream)
        self.assertGreaterEqual(chunks, 3, "several chunks")
        self.assertEqual(text, whole, "the stream reassembles to the non-streamed answer for the same seed")
        self.assertEqual(finish, "stop")
        self.assertIsNotNone(usage, "usage chunk when include_usage is set")
        self.assertGreater(usage.completion_tokens, 0)
        self.assertEqual(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens)

    def check_streamed_tool_calls(self, kind):
        # The SDK's own stream helper accumulates the tool_calls deltas (moved out of
        # `beta` in openai 1.x's later releases).
        stream_helper = (
            getattr(self.client.chat.completions, "stream", None) or self.client.beta.chat.completions.stream
        )
        with stream_helper(
            model=model_for(kind), messages=QUESTION, max_tokens=1000, tools=TOOLS, extra_headers=TOOL_CALL_HEADERS
        ) as stream:
            final = stream.get_final_completion()
        choice = final.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        calls = choice.message.tool_calls
        self.assertEqual(len(calls), 2, calls)
        self.assertEqual([c.function.name for c in calls], ["get_weather", "get_weather"])
        self.assertTrue(all(c.id for c in calls), calls)
        self.assertEqual(len({c.id for c in calls}), 2, "distinct call ids")
        args = [json.loads(c.function.arguments) for c in calls]
        self.assertEqual(args[0], {"location": "Paris"})
        self.assertNotEqual(args[0], args[1], "parallel calls differ")

        # The same calls without streaming.
        plain = self.chat(kind, TOOL_CALL_HEADERS, tools=TOOLS).choices[0]
        self.assertEqual(plain.finish_reason, "tool_calls")
        self.assertEqual([json.loads(c.function.arguments) for c in plain.message.tool_calls], args)

        # The results go back; the answer is text.
        messages = QUESTION + [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.function.name, "arguments": c.function.arguments},
                    }
                    for c in calls
                ],
            }
        ]
        messages += [
            {
                "role": "tool",
                "tool_call_id": c.id,
                "content": f"sunny in {json.loads(c.function.arguments)['location']}",
            }
            for c in calls
        ]
        r = self.client.chat.completions.create(
            model=model_for(kind), messages=messages, max_tokens=1000, tools=TOOLS, extra_headers=TOOL_CALL_HEADERS
        )
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertTrue(r.choices[0].message.content)
        self.assertFalse(r.choices[0].message.tool_calls)


if __name__ == "__main__":
    harness.main()
