"""The official Anthropic Python SDK against sluice's Anthropic Messages ingress
(`/v1/messages`), reaching an Anthropic provider (straight through) and an
OpenAI-compatible one (translated to chat and back), both served by the mock upstream.

Run by scripts/test after the OpenAI SDK tests, with the venv it creates. The gateway and
the mock are the real binaries (see harness.py for where they are found), on port 0.
"""

import unittest

import anthropic

import harness
from harness import CLIENT_KEY, TOOL_CALL_HEADERS, UPSTREAM_MODEL, WEATHER_SCHEMA, model_for

KINDS = ("anthropic", "openai-compatible")

TOOLS = [{"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA}]
SYSTEM = "Be brief."
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


@harness.per_kind(KINDS)
class AnthropicSDK(unittest.TestCase):
    """One gateway with a model per kind in KINDS, both at one mock."""

    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack.start(cls, KINDS)
        # The SDK sends the key as `x-api-key`, and `anthropic-version`.
        cls.client = anthropic.Anthropic(
            base_url=f"http://{cls.stack.addr}", api_key=CLIENT_KEY, max_retries=0, timeout=30
        )

    def create(self, kind, headers, **kw):
        return self.client.messages.create(
            model=model_for(kind), max_tokens=1000, system=SYSTEM, messages=QUESTION, extra_headers=headers, **kw
        )

    def stream(self, kind, headers, **kw):
        return self.client.messages.stream(
            model=model_for(kind), max_tokens=1000, system=SYSTEM, messages=QUESTION, extra_headers=headers, **kw
        )

    def assert_usage(self, usage):
        self.assertGreater(usage.input_tokens, 0)
        self.assertGreater(usage.output_tokens, 0)

    def check_text(self, kind):
        m = self.create(kind, {"x-mock-seed": "7"})
        self.assertEqual(m.type, "message")
        self.assertEqual(m.role, "assistant")
        self.assertTrue(m.id)
        # Both kinds' answers name the model, and the gateway relays the upstream's name.
        self.assertEqual(m.model, UPSTREAM_MODEL)
        self.assertEqual([b.type for b in m.content], ["text"])
        self.assertTrue(m.content[0].text)
        self.assertEqual(m.stop_reason, "end_turn")
        self.assert_usage(m.usage)

    def check_stream(self, kind):
        seed = {"x-mock-seed": "11"}
        whole = text_of(self.create(kind, seed))
        with self.stream(kind, seed) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        self.assertGreater(len(pieces), 1, "several text deltas")
        self.assertEqual("".join(pieces), whole, "the stream reassembles to the non-streamed answer for the same seed")
        self.assertEqual(text_of(final), whole)
        self.assertEqual(final.stop_reason, "end_turn")
        self.assert_usage(final.usage)

    def assert_tool_calls(self, message):
        self.assertEqual(message.stop_reason, "tool_use")
        calls = [b for b in message.content if b.type == "tool_use"]
        self.assertEqual(len(calls), 2, message.content)
        self.assertEqual([c.name for c in calls], ["get_weather", "get_weather"])
        self.assertTrue(all(c.id for c in calls), calls)
        self.assertEqual(len({c.id for c in calls}), 2, "distinct tool_use ids")
        self.assertEqual(calls[0].input, {"location": "Paris"})
        self.assertIsInstance(calls[1].input, dict)
        self.assertNotEqual(calls[0].input, calls[1].input, "parallel calls differ")
        return calls

    def check_tool_use(self, kind):
        calls = self.assert_tool_calls(self.create(kind, TOOL_CALL_HEADERS, tools=TOOLS))

        # Streamed: the SDK joins the input_json_delta fragments and parses them.
        with self.stream(kind, TOOL_CALL_HEADERS, tools=TOOLS) as stream:
            final = stream.get_final_message()
        streamed = self.assert_tool_calls(final)
        self.assertEqual([c.input for c in streamed], [c.input for c in calls])
        self.assert_usage(final.usage)

        # The results go back; the answer is text.
        messages = QUESTION + [
            {"role": "assistant", "content": [c.model_dump(include={"type", "id", "name", "input"}) for c in calls]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c.id, "content": f"sunny in {c.input['location']}"}
                    for c in calls
                ],
            },
        ]
        m = self.client.messages.create(
            model=model_for(kind),
            max_tokens=1000,
            system=SYSTEM,
            messages=messages,
            tools=TOOLS,
            extra_headers=TOOL_CALL_HEADERS,
        )
        self.assertEqual(m.stop_reason, "end_turn")
        self.assertTrue(text_of(m))
        self.assertFalse([b for b in m.content if b.type == "tool_use"])

    def check_count_tokens(self, kind):
        short = self.client.messages.count_tokens(model=model_for(kind), system=SYSTEM, messages=QUESTION)
        self.assertGreater(short.input_tokens, 0)
        longer = QUESTION[0]["content"] + " And in London, Tokyo, Lima, Cairo, Oslo and Delhi, please, day by day."
        long = self.client.messages.count_tokens(
            model=model_for(kind), system=SYSTEM, messages=[{"role": "user", "content": longer}]
        )
        self.assertGreater(long.input_tokens, short.input_tokens, "a longer prompt counts more tokens")

    def test_unknown_model_raises_not_found(self):
        with self.assertRaises(anthropic.NotFoundError) as ctx:
            self.client.messages.create(model="no-such-model", max_tokens=10, messages=QUESTION)
        self.assertEqual(ctx.exception.status_code, 404)
        self.assertIn("no-such-model", str(ctx.exception))

    def test_bad_key_raises_authentication_error(self):
        bad = anthropic.Anthropic(base_url=f"http://{self.stack.addr}", api_key="sk-wrong", max_retries=0, timeout=30)
        with self.assertRaises(anthropic.AuthenticationError) as ctx:
            bad.messages.create(model=model_for("anthropic"), max_tokens=10, messages=QUESTION)
        self.assertEqual(ctx.exception.status_code, 401)


if __name__ == "__main__":
    harness.main()
