"""A local OpenAI-compatible chat-completions server for tests and benchmarks (127.0.0.1 only).

    with OpenAIStub(delay=0.2) as stub:             # answers every signature with valid JSON
        lm = build_lm("openai/stub", api_base=stub.base_url, structured_output="json_schema")
        ...
    stub.requests                                   # what arrived: bodies and headers, in order

The reply is pluggable, for fault injection: `OpenAIStub(reply=fn)` where `fn(request)` returns
a `StubResponse` (any status, body, headers and delay), a completion dict, or a string (the
assistant's content). `valid_reply` is the default; wrap it to fail some calls:

    def flaky(request):
        if request.index % 3 == 0:
            return error(503, "overloaded", retry_after=0)
        return valid_reply(request)

`valid_reply` reads the request the way the pipeline's prompts are written (DSPy's JSONAdapter):
the signature from the schema in `response_format`, from the output field named in the user
message ("Respond with a JSON object in the following order of fields: `qa_pairs` ...") or first
in the system message's outline ("Reply with one JSON object with these fields:\nqa_pairs (..."), the
segment IDs from `Segment N ...:` lines, the pairs to judge from `pair_index: N` lines. Its pairs
copy segment text into the answers, so they pass the pipeline's validation.

Standard library only (http.server + ThreadingHTTPServer, HTTP/1.1 keep-alive).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_OUTPUT_FIELD = re.compile(r"order of fields: `(\w+)`")
_CHAT_OUTPUT_FIELD = re.compile(r"\[\[ ## (\w+) ## \]\]")
_SEGMENT = re.compile(r"(?m)^Segment (\d+)(?: \[Doc: [^\]\n]*\])?: (.*)$")
_PAIR_INDEX = re.compile(r"(?m)^pair_index: (\d+)")
_OUTLINE_OUTPUT_FIELD = re.compile(r"Reply with one JSON object with these fields:\n(\w+) \(")
_SIGNATURES = {"artifacts": "extract", "qa_pairs": "generate", "evaluations": "judge"}


@dataclass
class StubRequest:
    """One request as the stub received it."""

    index: int
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received: float = field(default_factory=time.perf_counter)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format")

    def text(self, role: str | None = None) -> str:
        """The text of the messages (of one role), joined."""
        parts = []
        for message in self.messages:
            if role is not None and message.get("role") != role:
                continue
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
            parts.append(content or "")
        return "\n".join(parts)

    @property
    def input_text(self) -> str:
        """The last user message: where DSPy puts this call's inputs."""
        users = [m for m in self.messages if m.get("role") == "user"]
        if not users:
            return ""
        content = users[-1].get("content")
        if isinstance(content, list):
            content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        return content or ""

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema of response_format, in any of the OpenAI-compatible spellings."""
        format_ = self.response_format or {}
        if isinstance(format_.get("json_schema"), dict):
            return format_["json_schema"].get("schema")
        return format_.get("schema")

    def asks_for(self, name: str) -> bool:
        """Whether ``name`` is one of the output fields the request asks for (schema, else the prompt's output section)."""
        schema = self.schema
        if schema and isinstance(schema.get("properties"), dict):
            return name in schema["properties"]
        system = self.text("system")
        if re.search(rf"(?m)^{re.escape(name)} \(", system):  # sdg-program's compact outline: outputs at column 0
            return True
        outputs = system.split("Your output fields are:", 1)[1].split("All interactions", 1)[0] if "Your output fields are:" in system else ""
        return f"`{name}`" in outputs  # DSPy's own adapters list the output fields in their own section

    @property
    def output_field(self) -> str | None:
        if self.asks_for("qa_pairs"):  # a generate call, also when it writes the artifacts first (inline extraction)
            return "qa_pairs"
        schema = self.schema
        if schema and isinstance(schema.get("properties"), dict):
            for name in schema["properties"]:
                if name in _SIGNATURES:
                    return name
        text = self.input_text
        match = _OUTPUT_FIELD.search(text)
        if match:
            return match.group(1)
        # sdg-program's compact prompt names the output fields in the system message, one per line.
        match = _OUTLINE_OUTPUT_FIELD.search(self.text("system"))
        if match:
            return match.group(1)
        names = [name for name in _CHAT_OUTPUT_FIELD.findall(text) if name in _SIGNATURES]
        return names[-1] if names else None

    @property
    def signature(self) -> str | None:
        """"extract", "generate", "judge", or None for anything else."""
        return _SIGNATURES.get(self.output_field or "")

    @property
    def segments(self) -> dict[int, str]:
        return {int(number): text for number, text in _SEGMENT.findall(self.input_text)}

    @property
    def pair_indexes(self) -> list[int]:
        return [int(number) for number in _PAIR_INDEX.findall(self.input_text)]

    def field_value(self, name: str) -> str | None:
        """The text of one input field (`[[ ## name ## ]]` block) of the user message."""
        match = re.search(rf"\[\[ ## {re.escape(name)} ## \]\]\n(.*?)(?=\n\n\[\[ ## |\n\nRespond with|\Z)", self.input_text, re.S)
        return match.group(1).strip() if match else None


@dataclass
class StubResponse:
    """What the stub sends back; `delay` overrides the server's delay for this reply."""

    status: int = 200
    body: dict[str, Any] | str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = None


Reply = Callable[[StubRequest], "StubResponse | dict[str, Any] | str"]


def completion(content: str, *, request: StubRequest | None = None, model: str = "stub", finish_reason: str = "stop") -> dict[str, Any]:
    """A chat.completion body whose message is `content`, with rough usage (4 characters per token)."""
    prompt_tokens = max(1, len(request.text()) // 4) if request is not None else 1
    completion_tokens = max(1, len(content) // 4)
    return {
        "id": f"chatcmpl-stub-{request.index if request else 0}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": (request.body.get("model") if request else None) or model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }


def error(status: int, message: str, *, retry_after: float | None = None, kind: str = "server_error") -> StubResponse:
    """An OpenAI-style error reply (e.g. 429, 500, 503), optionally with Retry-After."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return StubResponse(status=status, body={"error": {"message": message, "type": kind, "code": status}}, headers=headers)


def _words(text: str, count: int) -> str:
    return " ".join(text.split()[:count])


def _artifacts(segments: dict[int, str]) -> dict[str, Any]:
    items = [
        {"text": _words(text, 3) or f"segment {number}", "description": _words(text, 12), "importance": "central to the segment"}
        for number, text in list(segments.items())[:2]
    ]
    return {"key_concepts": items, "relationships": [], "themes": [], "entities": [], "processes": [],
            "insights": [], "technical_terms": [], "contextual_factors": []}


def valid_output(request: StubRequest) -> dict[str, Any]:
    """A valid output object for the signature the request asks for (empty dict if unknown)."""
    signature = request.signature
    segments = request.segments or {1: "stub segment"}
    if signature == "extract":
        return {"artifacts": _artifacts(segments)}
    if signature == "generate":
        try:
            wanted = int(request.field_value("num_pairs") or 1)
        except ValueError:
            wanted = 1
        try:
            complexity = max(3, int(request.field_value("min_complexity") or 3))
        except ValueError:
            complexity = 3
        numbers = list(segments)
        pairs = []
        for position in range(max(1, wanted)):
            number = numbers[position % len(numbers)]
            text = segments[number]
            pairs.append({
                "query_type": "contextual",
                "reasoning_type": "factual",
                "hop_contexts": [{"hop_number": 1, "segment_ids": [number], "summary": _words(text, 12)}],
                "hop_count": 1,
                "segment_ids": [number],
                "question": f"what is stated about {_words(text, 6)} (variant {position + 1})",
                "answer": _words(text, 20),
                "question_complexity": min(5, complexity),
            })
        if request.asks_for("artifacts"):  # inline extraction: the generate call writes the artifacts first
            return {"artifacts": _artifacts(segments), "qa_pairs": {"pairs": pairs}}
        return {"qa_pairs": {"pairs": pairs}}
    if signature == "judge":
        score = {"justification": "Supported by the cited segment.", "score": 8}
        indexes = request.pair_indexes or [0]
        return {"evaluations": {"evaluations": [
            {"pair_index": index, "relevance": score, "accuracy": score, "context_support": score, "clarity": score,
             "overall": {"assessment": "Useful for training.", "score": 8.0}, "improvements": "none"}
            for index in indexes
        ]}}
    return {}


def valid_reply(request: StubRequest) -> dict[str, Any]:
    """The default reply: a completion whose content is `valid_output(request)` as JSON."""
    return completion(json.dumps(valid_output(request)), request=request)


class TokenCounter:
    """Prompt tokens per signature as a provider would bill them: messages plus the response_format schema.

    tiktoken's cl100k_base (an OpenAI tokenizer; its file ships inside litellm's wheel, so nothing is
    downloaded). Also estimates what a provider's prefix cache could serve: for each request, the
    tokens of the longest common prefix of its messages with the previous request of the same
    signature, the way vLLM, NIM and OpenAI reuse a shared prompt start.
    """

    def __init__(self) -> None:
        import importlib.util
        import os

        if "TIKTOKEN_CACHE_DIR" not in os.environ:
            spec = importlib.util.find_spec("litellm")
            if spec is not None and spec.submodule_search_locations:
                os.environ["TIKTOKEN_CACHE_DIR"] = os.path.join(list(spec.submodule_search_locations)[0], "litellm_core_utils", "tokenizers")
        import tiktoken

        self._encoding = tiktoken.get_encoding("cl100k_base")
        self._lock = threading.Lock()
        self._previous: dict[str, str] = {}
        self.by_signature: dict[str, dict[str, int]] = {}

    def clear(self) -> None:
        with self._lock:
            self._previous.clear()
            self.by_signature.clear()

    def _tokens(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=())) if text else 0

    def count(self, request: StubRequest) -> None:
        signature = request.signature or "other"
        schema = json.dumps(request.response_format, separators=(",", ":")) if request.response_format else ""
        messages = "".join(f"<|{m.get('role')}|>{m.get('content') if isinstance(m.get('content'), str) else json.dumps(m.get('content'))}" for m in request.messages)
        prompt = messages  # what vLLM and NIM prefix-cache (OpenAI caches the schema too, but it varies per window)
        with self._lock:
            previous = self._previous.get(signature, "")
            self._previous[signature] = prompt
        common = 0
        for common, (a, b) in enumerate(zip(prompt, previous)):
            if a != b:
                break
        else:
            common = min(len(prompt), len(previous))
        counts = {"calls": 1, "message_tokens": self._tokens(messages), "schema_tokens": self._tokens(schema),
                  "cacheable_prefix_tokens": self._tokens(prompt[:common]), "schema_chars": len(schema)}
        with self._lock:
            totals = self.by_signature.setdefault(signature, dict.fromkeys(counts, 0))
            for name, value in counts.items():
                totals[name] += value

    def summary(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(values) for name, values in self.by_signature.items()}


class _Server(ThreadingHTTPServer):
    # Enough for 64+ concurrent clients: the socketserver default backlog (5) drops SYNs beyond
    # it, and a dropped SYN is retried only after a second, which would show up as fake latency.
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Stay quiet when a client vanishes mid-request (a run killed with SIGKILL): that is the test, not a stub error."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class OpenAIStub:
    """An OpenAI-compatible server on 127.0.0.1 that answers after `delay` seconds with `reply(request)`."""

    def __init__(self, reply: Reply = valid_reply, *, delay: float = 0.0, host: str = "127.0.0.1", port: int = 0, keep_requests: bool = True,
                 count_tokens: bool = False):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the stub only listens on the loopback interface")
        self.reply = reply
        self.delay = delay
        self.keep_requests = keep_requests
        self.requests: list[StubRequest] = []
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.first_request_at: float | None = None  # wall-clock time (time.time()) of the first chat call
        # Server-side token counts per signature (TokenCounter), for cost benchmarks; off by default.
        self.token_counter = TokenCounter() if count_tokens else None
        self._lock = threading.Lock()
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIStub:
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.calls = 0
            self.max_in_flight = 0
            self.first_request_at = None
            if self.token_counter is not None:
                self.token_counter.clear()

    # ----------------------------------------------------------------- serving

    def stats(self) -> dict[str, int]:
        with self._lock:
            stats = {"calls": self.calls, "in_flight": self.in_flight, "max_in_flight": self.max_in_flight, "first_request_at": self.first_request_at}
        if self.token_counter is not None:
            stats["tokens"] = self.token_counter.summary()
        return stats

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> StubResponse:
        if path == "/stub/stats":
            return StubResponse(body=self.stats(), delay=0.0)
        if path == "/stub/reset":
            self.reset()
            return StubResponse(body={"reset": True}, delay=0.0)
        if path.rstrip("/").endswith("/models"):
            return StubResponse(body={"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "stub"}]}, delay=0.0)
        if not path.rstrip("/").endswith("/chat/completions"):
            return error(404, f"no route {path}", kind="not_found")
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return error(400, "body is not JSON", kind="invalid_request_error")
        with self._lock:
            request = StubRequest(index=self.calls, path=path, headers=headers, body=body)
            self.calls += 1
            if self.first_request_at is None:
                self.first_request_at = time.time()
            if self.keep_requests:
                self.requests.append(request)
        if self.token_counter is not None:
            self.token_counter.count(request)
        result = self.reply(request)
        if isinstance(result, StubResponse):
            return result
        if isinstance(result, str):
            return StubResponse(body=completion(result, request=request))
        return StubResponse(body=result)

    def _handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are separate writes: with Nagle on, the body waits for the client's
            # delayed ACK of the headers (~40 ms per call on Linux), which would be measured as latency.
            disable_nagle_algorithm = True

            def _serve(self, raw: bytes) -> None:
                with stub._lock:
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    response = stub._answer(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                    delay = stub.delay if response.delay is None else response.delay
                    if delay > 0:
                        time.sleep(delay)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                body = response.body
                data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (its timeout): nothing to answer

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(length) if length else b"")

            def do_GET(self) -> None:  # noqa: N802
                self._serve(b"")

            def log_message(self, *args) -> None:
                pass

        Handler.__name__ = "OpenAIStubHandler"
        return Handler



class StubProcess:
    """`OpenAIStub` with the default reply in its own process, so a benchmark's client has the GIL to itself.

        with StubProcess(delay=0.2) as stub:
            ... stub.base_url ...; stub.stats()["calls"]; stub.reset()
    """

    def __init__(self, *, delay: float = 0.0, count_tokens: bool = False):
        self.delay = delay
        self.count_tokens = count_tokens
        self._process = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> StubProcess:
        import subprocess
        import sys

        self._process = subprocess.Popen(
            [sys.executable, __file__, "--delay", str(self.delay), *(["--count-tokens"] if self.count_tokens else [])], stdout=subprocess.PIPE, text=True,
        )
        line = self._process.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the stub process did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def _get(self, path: str) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, int]:
        return self._get("/stub/stats")

    def reset(self) -> None:
        self._get("/stub/reset")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except Exception:
                self._process.kill()
                self._process.wait(timeout=10)

    def __enter__(self) -> StubProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    """Serve the default stub until killed; prints `READY <port>` once listening."""
    import argparse

    parser = argparse.ArgumentParser(description="OpenAI-compatible stub on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--count-tokens", action="store_true", help="count prompt tokens per signature with tiktoken (GET /stub/stats)")
    args = parser.parse_args()
    stub = OpenAIStub(delay=args.delay, port=args.port, keep_requests=False, count_tokens=args.count_tokens)
    print(f"READY {stub.port}", flush=True)
    try:
        stub._server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
