"""The three vendor wire formats, as the fake servers speak them, and helpers shared by the LLM tests.

Each `Vendor` knows the path its official client posts to, how to wrap a verdict in a
reply body the way that vendor documents it, and where in a recorded request body the
prompt text and the schema sit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liberation_guardian.config import LoadedConfig, load_text
from liberation_guardian.events import Frequency, Severity
from liberation_guardian.triage.base import Case
from tests.fixtures.recorder import RecordedRequest

GOOD = {
    "action": "auto_acknowledge",
    "severity": "low",
    "category": "application",
    "confidence": 0.82,
    "rationale": "A handled client disconnect; nothing for a person to do.",
}
# Tells the OpenAI and Anthropic clients to retry at once instead of backing off for half a second.
FAST_RETRY = {"retry-after-ms": "20"}


def anthropic_reply(answer: Any, input_tokens: int = 120, output_tokens: int = 40) -> dict[str, Any]:
    """A Messages API response whose only content block is the forced tool call."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "record_verdict", "input": answer}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def openai_reply(answer: Any, input_tokens: int = 120, output_tokens: int = 40) -> dict[str, Any]:
    """A Chat Completions response carrying the answer as the message content."""
    content = answer if isinstance(answer, str) else json.dumps(answer)
    return {
        "id": "chatcmpl-01",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


def gemini_reply(answer: Any, input_tokens: int = 120, output_tokens: int = 40) -> dict[str, Any]:
    """A generateContent response with the answer as the first candidate's text."""
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": input_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": input_tokens + output_tokens,
        },
        "modelVersion": "gemini-test",
    }


@dataclass(frozen=True)
class Vendor:
    """One provider as a fake server sees it."""

    provider: str
    model: str
    path: str
    reply: Callable[..., dict[str, Any]]
    # The malformed answer the vendor's format can carry (anthropic's tool input must be an object).
    malformed: Any
    needs_key: bool = True
    base_suffix: str = ""

    def base_url(self, server_url: str) -> str:
        """The `base_url` to configure for a fake server at `server_url`."""
        return server_url + self.base_suffix

    def prompt_text(self, request: RecordedRequest) -> str:
        """Every prompt text of the request (system and messages), joined."""
        body = request.json
        if self.provider == "anthropic":
            return body["system"] + "\n" + "\n".join(m["content"] for m in body["messages"])
        if self.provider == "google":
            parts = [p["text"] for p in body["systemInstruction"]["parts"]]
            parts += [p["text"] for c in body["contents"] for p in c["parts"]]
            return "\n".join(parts)
        return "\n".join(m["content"] for m in body["messages"])

    def last_user_text(self, request: RecordedRequest) -> str:
        """The text of the request's last user message."""
        body = request.json
        if self.provider == "google":
            return str(body["contents"][-1]["parts"][0]["text"])
        return str(body["messages"][-1]["content"])

    def schema(self, request: RecordedRequest) -> Any:
        """The structured-output schema the request carries."""
        body = request.json
        if self.provider == "anthropic":
            return body["tools"][0]["input_schema"]
        if self.provider == "google":
            return body["generationConfig"]["responseJsonSchema"]
        return body["response_format"]["json_schema"]["schema"]


VENDORS = {
    "anthropic": Vendor("anthropic", "claude-test", "/v1/messages", anthropic_reply, {"action": "reboot"}),
    "openai": Vendor("openai", "gpt-test", "/v1/chat/completions", openai_reply, "not json", base_suffix="/v1"),
    "google": Vendor(
        "google", "gemini-test", "/v1beta/models/gemini-test:generateContent", gemini_reply, '{"action": 1}'
    ),
    "local": Vendor(
        "local", "llama3.1", "/v1/chat/completions", openai_reply, "```json\n{}\n```", False, base_suffix="/v1"
    ),
}


def agent_yaml(name: str, vendor: Vendor, server_url: str, **extra: Any) -> str:
    """One `ai_providers` entry pointing `vendor` at a fake server."""
    values: dict[str, Any] = {
        "provider": vendor.provider,
        "model": vendor.model,
        "base_url": vendor.base_url(server_url),
        "timeout_seconds": 5,
        "max_retries": 2,
        **extra,
    }
    if vendor.needs_key:
        values.setdefault("api_key_env", f"{name.upper()}_KEY")
    lines = [f"  {name}:"] + [f"    {key}: {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines)


def load_agents(*entries: str, env: dict[str, str] | None = None) -> LoadedConfig:
    """A loaded config whose `ai_providers` are the given entries; every `*_KEY` variable set unless `env` is given."""
    text = "ai_providers:\n" + "\n".join(entries) + "\n"
    if env is None:
        env = {f"{line.split(':')[0].strip().upper()}_KEY": "sk-test-key" for line in entries}
    return load_text(text, env, base_dir=Path("."))


def case(title: str = "ConnectionResetError: peer closed the connection", **fields: Any) -> Case:
    """A high-severity application case; fields override."""
    values: dict[str, Any] = {
        "source": "sentry",
        "kind": "error",
        "title": title,
        "message": "",
        "severity": Severity.high,
        "category": "application",
        "transition": "opened",
        "frequency": Frequency.first_time,
        "user_impact": None,
        "occurrences": 1,
        "fix_attempts": 0,
    }
    values.update(fields)
    return Case(**values)
