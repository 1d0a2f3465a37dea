"""A scriptable Lambda Runtime API for the cases the RIE cannot produce: a Runtime API that goes
away, a `/response` answered 413, a trace id on `/next`, a signal while the runtime waits.

It speaks the documented contract (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
`GET /2018-06-01/runtime/invocation/next` answers the next queued event with the
`Lambda-Runtime-*` headers, and holds the request open while the queue is empty (as Lambda does);
`POST .../{id}/response`, `.../{id}/error` and `/runtime/init/error` are recorded and answered 202.
"""

from __future__ import annotations

import http.server
import json
import queue
import subprocess
import threading
import time
import uuid

PREFIX = "/2018-06-01/runtime"


class FakeRuntimeAPI:
    def __init__(self):
        self.events: queue.Queue = queue.Queue()
        self.posts: list[dict] = []
        self.posted = threading.Condition()
        self.response_status = 202
        self.next_calls = 0
        self.stopping = threading.Event()
        handler = self._handler_class()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        """Go away like a dead Runtime API: held `/next` requests are dropped unanswered."""
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def enqueue(self, event, deadline_ms=30_000, trace_id=None) -> str:
        request_id = str(uuid.uuid4())
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:summarizer",
        }
        if trace_id:
            headers["Lambda-Runtime-Trace-Id"] = trace_id
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.events.put((headers, body))
        return request_id

    def wait_for_posts(self, count: int, timeout: float = 15) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.posted:
            while len(self.posts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.posts)} posts after {timeout} s, wanted {count}: {self.posts}")
                self.posted.wait(remaining)
            return list(self.posts)

    def _handler_class(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._answer(404, b'{"errorMessage":"not found"}')
                fake.next_calls += 1
                while True:  # held open until an event is queued or the server stops
                    try:
                        headers, body = fake.events.get(timeout=0.2)
                        break
                    except queue.Empty:
                        if fake.stopping.is_set():
                            self.close_connection = True
                            return
                self._answer(200, body, headers)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                record = {"path": self.path, "headers": dict(self.headers), "body": body}
                status = fake.response_status if self.path.endswith("/response") else 202
                self._answer(status, b'{"status":"OK"}' if status == 202 else b'{"errorMessage":"payload too large"}')
                with fake.posted:
                    fake.posts.append(record)
                    fake.posted.notify_all()

            def _answer(self, status, body, headers=None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def start_bootstrap(bootstrap, runtime: FakeRuntimeAPI, env: dict[str, str]) -> subprocess.Popen:
    """The bootstrap as Lambda starts it, but against the fake Runtime API."""
    full_env = {"PATH": "/usr/bin:/bin", **env, "AWS_LAMBDA_RUNTIME_API": runtime.address}
    return subprocess.Popen(
        [str(bootstrap)], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
