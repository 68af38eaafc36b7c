"""A real OpenAI-compatible HTTP server on loopback for tests and benchmarks, with injectable faults.

It serves /v1/chat/completions, /v1/files (upload, content) and /v1/batches (create, retrieve), counts
every request, and answers each chat prompt with "Answer: <the user message>" so tests can check
which prompt an answer belongs to (set `server.answer` to a function of the messages to script answers). A request
with `response_format` is answered by `server.structured_answer` (a function of the messages and the format), or
refused with a 400 when `server.refuse_structured` is set, as servers without structured output do. Faults are queued with `inject` (consumed by the next chat requests)
or bound to prompts containing a marker with `fail_prompts` (every try fails).
"""
import argparse
import email.parser
import email.policy
import hashlib
import itertools
import json
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional

FAULTS = ("429", "500", "hang", "drop", "malformed", "empty", "null", "length", "400", "401", "403", "404")
# the error bodies OpenAI sends for answers no retry can fix
REFUSALS = {
    "400": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model.", "type": "invalid_request_error",
            "param": "max_tokens", "code": "unsupported_parameter"},
    "401": {"message": "Incorrect API key provided: sk-test***. You can find your API key at https://platform.openai.com.",
            "type": "invalid_request_error", "param": None, "code": "invalid_api_key"},
    "403": {"message": "Project does not have access to model", "type": "invalid_request_error", "param": None,
            "code": "model_not_found"},
    "response_format": {"message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with "
                        "this model.", "type": "invalid_request_error", "param": "response_format", "code": None},
    "404": {"message": "The model does not exist or you do not have access to it.", "type": "invalid_request_error",
            "param": None, "code": "model_not_found"},
}


def prompt_id(messages: List[Dict[str, Any]]) -> str:
    """A short id of a prompt, stored in the response's "id" so tests can tell answers apart."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


def user_text(messages: List[Dict[str, Any]]) -> str:
    content = messages[-1]["content"]
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def echo(messages: List[Dict[str, Any]]) -> str:
    """The default answer: the user message, prefixed."""
    return f"Answer: {user_text(messages)}"


def completion(messages: List[Dict[str, Any]], model: str, content: Optional[str] = None, finish_reason: str = "stop"):
    text = user_text(messages)
    content = echo(messages) if content is None else content
    return {
        "id": f"chatcmpl-{prompt_id(messages)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": len(text) // 4 + 1, "completion_tokens": len(content.split()),
                  "total_tokens": len(text) // 4 + 1 + len(content.split())},
    }


class LLMServer:
    """The server's state: counters, the fault queue, uploaded files and batch jobs."""

    def __init__(self, delay: float = 0.0, retry_after: str = "0.01", hang_seconds: float = 2.0):
        self.delay = delay
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.lock = threading.Lock()
        self.counts: Counter = Counter()  # endpoint -> requests
        self.prompts: List[str] = []  # prompt ids of the chat requests that were answered
        self.authorization: set = set()
        self.in_flight = self.max_in_flight = 0
        self.images = 0  # image content parts received
        self.faults: deque = deque()
        self.failing: Dict[str, str] = {}  # marker in the user message -> fault on every try
        self.files: Dict[str, bytes] = {}
        self.batches: Dict[str, Dict[str, Any]] = {}
        self.batch_polls_before_done = 1
        self.answer: Callable[[List[Dict[str, Any]]], str] = echo  # replace to script the answers
        # the answer to a request with response_format: a function of the messages and the format
        self.structured_answer: Callable[[List[Dict[str, Any]], Dict[str, Any]], str] = lambda messages, fmt: '{"entities": []}'
        self.refuse_structured = False  # answer requests with response_format with a 400, as servers without it do
        self.response_formats: List[Any] = []  # the response_format of each chat request (None: none)
        self.keys: Counter = Counter()  # Authorization header -> chat requests, to tell concurrent clients apart
        self.failing_after: Optional[tuple] = None  # (n, fault): every chat request after the first n fails
        self.gate = threading.Event()
        self.gate.set()
        self._ids = itertools.count(1)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def inject(self, *faults: str) -> None:
        """Make the next chat requests fail, one fault each, in order."""
        assert all(f in FAULTS for f in faults), faults
        self.faults.extend(faults)

    def fail_prompts(self, marker: str, fault: str = "500") -> None:
        """Make every request whose user message contains `marker` fail with `fault`."""
        self.failing[marker] = fault

    def fail_after(self, n: int, fault: str) -> None:
        """Make every chat request after the first n fail with `fault` (e.g. a key revoked during a run)."""
        assert fault in FAULTS, fault
        self.failing_after = (n, fault)

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.keys.clear()
            self.prompts.clear()
            self.response_formats.clear()
            self.max_in_flight = 0

    def start(self) -> "LLMServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- endpoint logic, called from the handler threads

    def chat(self, body: Dict[str, Any]):
        with self.lock:
            self.counts["chat"] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = self.faults.popleft() if self.faults else None
            if self.failing_after is not None and self.counts["chat"] > self.failing_after[0]:
                fault = self.failing_after[1]
        self.gate.wait(60)
        try:
            return self._answer(body, fault)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, body: Dict[str, Any], fault: Optional[str]):
        messages = body["messages"]
        response_format = body.get("response_format")
        with self.lock:
            self.response_formats.append(response_format)
        if response_format is not None and self.refuse_structured:
            return 400, {"error": dict(REFUSALS["response_format"])}, {}
        content = messages[-1]["content"]
        if isinstance(content, list):
            with self.lock:
                self.images += sum(part["type"] == "image_url" for part in content)
        text = user_text(messages)
        fault = next((f for marker, f in self.failing.items() if marker in text), fault)
        if self.delay:
            time.sleep(self.delay)
        if fault == "429":
            return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": self.retry_after}
        if fault == "500":
            return 500, {"error": {"message": "server error", "type": "server_error"}}, {}
        if fault in REFUSALS:
            return int(fault), {"error": dict(REFUSALS[fault])}, {}  # a copy: tests edit what they get
        if fault == "hang":
            time.sleep(self.hang_seconds)
            return None, None, {}
        if fault == "drop":
            return None, None, {}
        if fault == "malformed":
            return 200, b'{"id": "chatcmpl-x", "choices": [{"message": {"content": "cut', {}
        if fault in ("empty", "null"):
            response = completion(messages, body["model"], content="")
            if fault == "null":  # what some servers send for a refusal or a reasoning model out of tokens
                response["choices"][0]["message"]["content"] = None
        elif fault == "length":
            response = completion(messages, body["model"], content="Answer: cut off", finish_reason="length")
        elif response_format is not None:
            response = completion(messages, body["model"], content=self.structured_answer(messages, response_format))
        else:
            response = completion(messages, body["model"], content=self.answer(messages))
        with self.lock:
            self.prompts.append(prompt_id(messages))
        return 200, response, {}

    def upload(self, content_type: str, data: bytes):
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + data
        )
        fields = {part.get_param("name", header="content-disposition"): part for part in parsed.iter_parts()}
        file_id = f"file-{next(self._ids)}"
        with self.lock:
            self.counts["files"] += 1
            self.files[file_id] = fields["file"].get_payload(decode=True)
        return 200, {"id": file_id, "object": "file", "bytes": len(self.files[file_id]), "created_at": int(time.time()),
                     "filename": fields["file"].get_filename(), "purpose": fields["purpose"].get_content().strip(),
                     "status": "processed"}, {}

    def create_batch(self, body: Dict[str, Any]):
        outputs, errors = [], []
        for line in self.files[body["input_file_id"]].decode().splitlines():
            request = json.loads(line)
            status, response, _ = self.chat(request["body"])
            record = {"id": f"batch_req_{next(self._ids)}", "custom_id": request["custom_id"]}
            if status == 200:
                outputs.append({**record, "response": {"status_code": 200, "body": response}, "error": None})
            else:
                errors.append({**record, "response": {"status_code": status or 500, "body": response}, "error": None})
        batch_id = f"batch_{next(self._ids)}"
        with self.lock:
            self.counts["batches"] += 1
            output_id = error_id = None
            if outputs:
                output_id = f"file-{next(self._ids)}"
                self.files[output_id] = "".join(json.dumps(o) + "\n" for o in outputs).encode()
            if errors:
                error_id = f"file-{next(self._ids)}"
                self.files[error_id] = "".join(json.dumps(e) + "\n" for e in errors).encode()
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                "status": "in_progress", "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
                "request_counts": {"total": len(outputs) + len(errors), "completed": len(outputs), "failed": len(errors)},
                "_done": (output_id, error_id), "_polls": 0,
            }
        return 200, self._public(self.batches[batch_id]), {}

    def retrieve_batch(self, batch_id: str):
        with self.lock:
            self.counts["batch_retrieve"] += 1
            batch = self.batches[batch_id]
            batch["_polls"] += 1
            if batch["_polls"] > self.batch_polls_before_done:
                batch["status"] = "completed"
                batch["output_file_id"], batch["error_file_id"] = batch["_done"]
        return 200, self._public(batch), {}

    @staticmethod
    def _public(batch: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}


def _handler(server: LLMServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else small writes wait for delayed ACKs (~40 ms a response)

        def log_message(self, *args) -> None:
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: Optional[int], body, headers: Dict[str, str]) -> None:
            if status is None:  # drop the connection without an answer
                self.close_connection = True
                return
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a hang past its timeout)
                self.close_connection = True

        def do_POST(self) -> None:
            server.authorization.add(self.headers.get("Authorization"))
            data = self._body()
            if self.path == "/v1/chat/completions":
                with server.lock:
                    server.keys[self.headers.get("Authorization")] += 1
                self._send(*server.chat(json.loads(data)))
            elif self.path == "/v1/files":
                self._send(*server.upload(self.headers["Content-Type"], data))
            elif self.path == "/v1/batches":
                self._send(*server.create_batch(json.loads(data)))
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}}, {})

        def do_GET(self) -> None:
            server.authorization.add(self.headers.get("Authorization"))
            parts = self.path.strip("/").split("/")
            if parts[:2] == ["v1", "batches"] and len(parts) == 3:
                self._send(*server.retrieve_batch(parts[2]))
            elif parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
                with server.lock:
                    server.counts["file_content"] += 1
                self._send(200, server.files[parts[2]], {})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}}, {})

    return Handler


@contextmanager
def serve(**kwargs) -> Iterator[LLMServer]:
    """Run an LLMServer on a free loopback port for the duration of the block."""
    server = LLMServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    """Serve on loopback until killed, printing the base URL (for benchmarks and manual runs)."""
    parser = argparse.ArgumentParser(description="OpenAI-compatible loopback test server")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each chat answer")
    args = parser.parse_args()
    server = LLMServer(delay=args.delay)
    print(server.base_url, flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
