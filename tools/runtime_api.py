#!/usr/bin/env python3
"""A Lambda Runtime API that serves many invocations at once, as Lambda Managed Instances do
(the RIE serves one at a time).  Standard library only; binds loopback only; every wait is bounded.
What it answers, and the command line: docs/emulator.md.

    python3 tools/runtime_api.py --bootstrap .build/release/bootstrap --max-concurrency 8
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

PREFIX = "/2018-06-01/runtime"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
STATS_PATH = "/_stand-in/stats"
NEXT_FAULTS_PATH = "/_stand-in/next-faults"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:012345678912:function:test_function"
# interop.MaxPayloadSize in AWS's emulator: 6 MiB plus 100 bytes of slack, and the figure Lambda
# quotes in its 413.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
MAX_EVENT_BYTES = 6 * 1024 * 1024  # synchronous Invoke's request limit
POLL_S = 0.1  # how often held requests look at the stop flag

TOO_LARGE = {"errorMessage": f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
             "errorType": "RequestEntityTooLarge"}
INVALID_ID = {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
INVOKE_TIMEOUT = {"errorMessage": "Invoke timeout", "errorType": "InvokeTimeout"}
INTERNAL_ERROR = {"errorMessage": "Internal Server Error", "errorType": "InternalServerError"}
SCRIPTED_ERRORS = {400: INVALID_ID, 410: INVOKE_TIMEOUT, 413: TOO_LARGE, 500: INTERNAL_ERROR}
NOT_FOUND = {"errorMessage": "Not Found", "errorType": "NotFound"}
INIT_REFUSED = {"errorMessage": "State transition is not allowed", "errorType": "InvalidStateTransition"}
TOO_MANY_REQUESTS = {"errorMessage": "Too Many Requests", "errorType": "TooManyRequestsException"}
# Faults for the next /next requests (not Lambda's; see add_next_faults): the first kind answers
# a /next without an invocation, the second delivers the next invocation with a broken header.
POLL_FAULTS = {"500", "429", "reset", "close"}
HEADER_FAULTS = ("deadline:", "no-request-id")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a held /next never blocks shutdown
    # listen()'s backlog, fixed when the socket is bound: a burst of callers plus every worker's
    # /next can connect at once, and the default of 5 drops or resets connections past that.
    request_queue_size = 512


@dataclass
class Invocation:
    body: bytes
    trace_id: str | None = None
    timeout_s: float = 30  # the function timeout this invocation runs under
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    queued_at: float = field(default_factory=time.monotonic)
    delivered_at: float | None = None
    # (front-door status, body) once answered; None while open.
    answer: tuple[int, bytes] | None = None
    kind: str | None = None  # response, error, timeout, exit, init_error
    header_fault: str | None = None  # the /next fault it was delivered with (add_next_faults)
    # Signalled when answered; shares the Runtime API's lock (set by enqueue).
    done: threading.Condition | None = None


class RuntimeAPI:
    """The Runtime API and the front door on one loopback port, in this process.

    ``enqueue(event)`` queues an event and returns its Invocation, ``wait(invocation)`` its answer
    (both safe from many threads).  ``posts`` records every runtime POST (path,
    headers, body, status answered); ``wait_for_posts(n)`` waits for the n-th.
    ``response_status``, when set, is what every /response gets instead of the normal outcome,
    with Lambda's document for that status (a scripted Runtime API, for tests of the runtime).
    """

    def __init__(self, *, timeout_s: float = 30, log: Callable[[str], None] | None = None):
        self.timeout_s = timeout_s
        self.log = log or (lambda line: None)
        # One lock, several conditions, so that a change wakes only who waits for it: with one
        # condition for everything, 64 held /next requests and 64 callers all woke on every event
        # and every answer, and the stand-in's own scheduling cost as much as the function.
        self._mutex = threading.Lock()
        self.lock = threading.Condition(self._mutex)  # posts and other state
        self.queued = threading.Condition(self._mutex)  # an event for a held /next
        self.queue: deque[Invocation] = deque()
        self.invocations: dict[str, Invocation] = {}
        self.posts: list[dict] = []
        self.response_status: int | None = None
        self.init_error: bytes | None = None
        self.bootstrap_exit: int | None = None
        self.stats = {"next_calls": 0, "next_waiting": 0, "peak_next_waiting": 0, "in_flight": 0,
                      "peak_in_flight": 0, "answered": 0, "timed_out": 0, "next_faults": 0}
        self.poll_faults: deque[str] = deque()
        self.header_faults: deque[str] = deque()
        # (queued, answered) monotonic times of the latest answered invocations: how long a burst
        # took inside the Runtime API, without the callers' own HTTP round trips.
        self.spans: deque = deque(maxlen=4096)
        self.stopping = threading.Event()
        self.server = _Server(("127.0.0.1", 0), self._handler_class())
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": POLL_S},
                                        daemon=True)

    def start(self) -> "RuntimeAPI":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go away like a dead Runtime API: held requests are dropped unanswered."""
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()
            self.queued.notify_all()
            for invocation in self.invocations.values():
                invocation.done.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def enqueue(self, event: bytes | object, trace_id: str | None = None, timeout_s: float | None = None) -> Invocation:
        """Queue EVENT (bytes as they are, else JSON); TIMEOUT_S overrides the function timeout
        for this one invocation."""
        if not isinstance(event, bytes):
            event = json.dumps(event).encode()
        invocation = Invocation(event, trace_id, self.timeout_s if timeout_s is None else timeout_s,
                                done=threading.Condition(self._mutex))
        with self.lock:
            if self.init_error is not None:
                self._finish(invocation, "init_error", 502, self.init_error)
            else:
                self.invocations[invocation.request_id] = invocation
                self.queue.append(invocation)
                self.queued.notify()
        return invocation

    def wait(self, invocation: Invocation) -> tuple[int, bytes]:
        """Block until INVOCATION is answered or its time is up (the function timeout, counted
        from delivery, or from queueing while nobody picked it up)."""
        while True:
            with self.lock:
                if invocation.answer is not None:
                    return invocation.answer
                start = invocation.delivered_at or invocation.queued_at
                remaining = start + invocation.timeout_s - time.monotonic()
                if remaining <= 0:
                    if invocation.delivered_at is None:
                        self.queue.remove(invocation)
                    # The RIE's words for a timeout, as plain text with status 200.
                    self._finish(invocation, "timeout", 200,
                                 f"Task timed out after {invocation.timeout_s:.2f} seconds".encode())
                    self.stats["timed_out"] += 1
                    return invocation.answer
                if self.stopping.is_set():
                    raise RuntimeError("the Runtime API stopped")
                invocation.done.wait(min(remaining, POLL_S * 5))

    def add_next_faults(self, faults: list[str]) -> None:
        """Queue FAULTS for the coming /next requests, in order: "500" and "429" answer a /next
        with that status, "reset" resets its connection (RST), "close" closes it unanswered (each
        takes one /next and delivers nothing); "deadline:VALUE" delivers the next invocation with
        Lambda-Runtime-Deadline-Ms VALUE, "no-request-id" without its request id."""
        for fault in faults:
            if fault not in POLL_FAULTS and not fault.startswith(HEADER_FAULTS):
                raise ValueError(f"unknown /next fault {fault!r}")
        with self.lock:
            for fault in faults:
                (self.poll_faults if fault in POLL_FAULTS else self.header_faults).append(fault)

    def _poll_fault(self) -> str | None:
        with self.lock:
            if not self.poll_faults:
                return None
            self.stats["next_faults"] += 1
            return self.poll_faults.popleft()

    def bootstrap_exited(self, status: int) -> None:
        """The bootstrap is gone: every invocation it held fails as the RIE words it."""
        self.log(f"BOOTSTRAP EXITED status={status}")
        with self.lock:
            self.bootstrap_exit = status
            for invocation in self.invocations.values():
                if invocation.answer is None and invocation.delivered_at is not None:
                    text = {"errorType": "Runtime.ExitError", "errorMessage":
                            f"RequestId: {invocation.request_id} Error: Runtime exited with error: exit status {status}"}
                    self._finish(invocation, "exit", 502, json.dumps(text).encode())

    def wait_for_posts(self, count: int, timeout: float = 15) -> list[dict]:
        """The runtime's POSTs once there are COUNT of them (TimeoutError after TIMEOUT)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.posts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.posts)} posts after {timeout} s, wanted {count}: {self.posts}")
                self.lock.wait(remaining)
            return list(self.posts)

    def snapshot(self) -> dict:
        with self.lock:
            return {**self.stats, "queued": len(self.queue), "bootstrap_exit": self.bootstrap_exit,
                    "init_error": self.init_error is not None, "spans": list(self.spans)}

    def _finish(self, invocation: Invocation, kind: str, status: int, body: bytes) -> None:
        """Answer INVOCATION (lock held)."""
        invocation.answer, invocation.kind = (status, body), kind
        if invocation.delivered_at is not None:
            self.stats["in_flight"] -= 1
            self.spans.append((invocation.queued_at, time.monotonic()))
            elapsed = (time.monotonic() - invocation.delivered_at) * 1000
            self.log(f"END RequestId: {invocation.request_id}\t{kind}\tDuration: {elapsed:.2f} ms")
        invocation.body = b""  # delivered or never will be: no need to keep it
        invocation.done.notify_all()

    def _next(self) -> tuple[Invocation, str | None] | None:
        """The next invocation (waiting for one) and the header fault to deliver it with."""
        with self.lock:
            self.stats["next_calls"] += 1
            self.stats["next_waiting"] += 1
            self.stats["peak_next_waiting"] = max(self.stats["peak_next_waiting"], self.stats["next_waiting"])
            try:
                while not self.queue:
                    if self.stopping.is_set():
                        return None
                    self.queued.wait(POLL_S)
                invocation = self.queue.popleft()
            finally:
                self.stats["next_waiting"] -= 1
            invocation.delivered_at = time.monotonic()
            self.stats["in_flight"] += 1
            self.stats["peak_in_flight"] = max(self.stats["peak_in_flight"], self.stats["in_flight"])
            fault = self.header_faults.popleft() if self.header_faults else None
            if fault:
                self.stats["next_faults"] += 1
                invocation.header_fault = fault
        self.log(f"START RequestId: {invocation.request_id}")
        return invocation, fault

    def _answer(self, request_id: str, kind: str, body: bytes, too_large: bool) -> tuple[int, dict]:
        """What the runtime's /response or /error gets: (status, document)."""
        with self.lock:
            invocation = self.invocations.get(request_id)
            if invocation is None or invocation.delivered_at is None:
                return 400, INVALID_ID
            if invocation.kind == "timeout":
                return 410, INVOKE_TIMEOUT
            if invocation.answer is not None:
                return 400, INVALID_ID
            if too_large:
                return 413, TOO_LARGE
            self._finish(invocation, kind, 200, body)
            self.stats["answered"] += 1
            return 202, {"status": "OK"}

    def _init_error(self, body: bytes) -> tuple[int, dict]:
        with self.lock:
            if self.init_error is not None or any(i.delivered_at for i in self.invocations.values()):
                return 403, INIT_REFUSED
            self.init_error = body
            for invocation in list(self.queue):
                self._finish(invocation, "init_error", 502, body)
            self.queue.clear()
            return 202, {"status": "OK"}

    def _handler_class(self):
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None,
                      content_type: str | None = "application/json") -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if content_type and body:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send_json(self, status: int, document: dict) -> None:
                self._send(status, json.dumps(document, separators=(",", ":")).encode())

            def _read_body(self, limit: int) -> tuple[bytes, bool]:
                """The body (Content-Length or chunked), or (b"", True) when it is over LIMIT: then
                read to the end and dropped, so the connection stays usable and memory small."""
                chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
                pieces, size = [], 0

                def take(count: int) -> bool:
                    nonlocal size
                    while count > 0:
                        piece = self.rfile.read(min(count, 1 << 20))
                        if not piece:
                            return False  # the client went away mid-body
                        count -= len(piece)
                        size += len(piece)
                        if size <= limit:
                            pieces.append(piece)
                    return True

                if chunked:
                    while (line := self.rfile.readline(1024)) and (count := int(line.split(b";")[0] or b"0", 16)):
                        if not take(count):
                            break
                        self.rfile.readline(1024)  # the CRLF after each chunk
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                else:
                    take(int(self.headers.get("Content-Length") or 0))
                return (b"", True) if size > limit else (b"".join(pieces), False)

            def do_GET(self):
                path = urlsplit(self.path).path
                if path == f"{PREFIX}/invocation/next":
                    fault = api._poll_fault()
                    if fault in ("500", "429"):
                        return self._send_json(int(fault), INTERNAL_ERROR if fault == "500" else TOO_MANY_REQUESTS)
                    if fault in ("reset", "close"):
                        if fault == "reset":  # SO_LINGER 0: close() sends RST
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.close_connection = True
                        return
                    delivered = api._next()
                    if delivered is None:  # stopping: drop the held request unanswered
                        self.close_connection = True
                        return
                    invocation, fault = delivered
                    headers = {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(int((time.time() + invocation.timeout_s) * 1000)),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    }
                    if fault == "no-request-id":
                        del headers["Lambda-Runtime-Aws-Request-Id"]
                    elif fault:
                        headers["Lambda-Runtime-Deadline-Ms"] = fault.split(":", 1)[1]
                    if invocation.trace_id:
                        headers["Lambda-Runtime-Trace-Id"] = invocation.trace_id
                    self._send(200, invocation.body, headers)
                elif path == STATS_PATH:
                    self._send_json(200, api.snapshot())
                else:
                    self._send_json(404, NOT_FOUND)

            def do_POST(self):
                path = urlsplit(self.path).path
                if path == INVOKE_PATH:
                    body, too_large = self._read_body(MAX_EVENT_BYTES)
                    if too_large:
                        return self._send_json(413, {"Type": "User", "message":
                                               f"Request must be smaller than {MAX_EVENT_BYTES} bytes for the InvokeFunction operation"})
                    invocation = api.enqueue(body, self.headers.get("X-Amzn-Trace-Id"))
                    status, answer = api.wait(invocation)
                    # Lambda's Invoke names the invocation in X-Amzn-RequestId (the RIE does not):
                    # how a concurrent caller finds its invocation's log line.
                    return self._send(status, answer, {"X-Amzn-RequestId": invocation.request_id},
                                      content_type="text/plain; charset=utf-8")
                if path == NEXT_FAULTS_PATH:
                    body, _ = self._read_body(1 << 20)
                    try:
                        api.add_next_faults(json.loads(body)["faults"])
                    except (ValueError, KeyError, TypeError) as exc:
                        return self._send_json(400, {"errorMessage": str(exc), "errorType": "InvalidRequest"})
                    return self._send_json(202, {"status": "OK"})
                parts = path[len(PREFIX):].strip("/").split("/") if path.startswith(PREFIX + "/") else []
                body, too_large = self._read_body(MAX_RESPONSE_BYTES)
                if parts == ["init", "error"]:
                    status, document = api._init_error(body)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    forced = api.response_status if parts[2] == "response" else None
                    if forced is not None and forced != 202:
                        status, document = forced, SCRIPTED_ERRORS.get(forced, INTERNAL_ERROR)
                    else:
                        status, document = api._answer(parts[1], parts[2], body, too_large)
                else:
                    return self._send_json(404, NOT_FOUND)
                self._send_json(status, document)
                with api.lock:
                    api.posts.append({"path": self.path, "headers": dict(self.headers), "body": body, "status": status})
                    api.lock.notify_all()

        return Handler


def open_file_limit(soft: int, hard: int) -> Callable[[], None]:
    """A preexec_fn that sets the child's RLIMIT_NOFILE, as a platform with that limit would."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def running_bootstrap(bootstrap, env: dict[str, str], *, nofile: tuple[int, int] | None = None,
                      timeout_s: float = 30, stdout=subprocess.PIPE):
    """(api, process): a RuntimeAPI and BOOTSTRAP started against it, as Lambda starts it, with ENV
    over a bare PATH; its output in process.stdout, killed at the end if it still runs.  NOFILE:
    its open-file limit (soft, hard); TIMEOUT_S: the function timeout."""
    with RuntimeAPI(timeout_s=timeout_s) as api:
        env = {"PATH": "/usr/bin:/bin", **env, "AWS_LAMBDA_RUNTIME_API": api.address}
        process = subprocess.Popen([str(bootstrap)], env=env, stdout=stdout,
                                   stderr=subprocess.STDOUT, text=True,
                                   preexec_fn=open_file_limit(*nofile) if nofile else None)
        try:
            yield api, process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="the runtime to start")
    parser.add_argument("--timeout", type=float, default=30, help="function timeout in seconds")
    parser.add_argument("--max-concurrency", type=int,
                        help="sets AWS_LAMBDA_MAX_CONCURRENCY for the bootstrap (unset when omitted)")
    parser.add_argument("--shutdown-grace-ms", type=int, default=2000,
                        help="after SIGTERM, how long the bootstrap may take before SIGKILL")
    args = parser.parse_args(argv)
    if args.max_concurrency is not None and args.max_concurrency < 1:
        parser.error("--max-concurrency must be at least 1")
    print_lock = threading.Lock()

    def log(line: str) -> None:
        with print_lock:
            print(line, flush=True)

    api = RuntimeAPI(timeout_s=args.timeout, log=log).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address,
               AWS_LAMBDA_FUNCTION_TIMEOUT=str(int(args.timeout)))
    if args.max_concurrency is not None:
        env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(args.max_concurrency)
    sys.stdout.flush()
    # Same stdout and stderr as ours: the function's log interleaves with START/END, as in Lambda.
    bootstrap = subprocess.Popen([os.path.abspath(args.bootstrap)], env=env, stdin=subprocess.DEVNULL,
                                 cwd=os.path.dirname(os.path.abspath(args.bootstrap)))
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    log(f"LISTENING {api.address}")
    while bootstrap.poll() is None and not stop_requested.wait(POLL_S):
        pass
    if bootstrap.returncode is not None:
        api.bootstrap_exited(bootstrap.returncode)
        # Keep answering (502s, stats) until told to stop, like a dead environment would.
        stop_requested.wait()
    else:
        # How Managed Instances end an environment: SIGTERM, a grace period, then SIGKILL.
        bootstrap.send_signal(signal.SIGTERM)
        try:
            api.bootstrap_exited(bootstrap.wait(args.shutdown_grace_ms / 1000))
        except subprocess.TimeoutExpired:
            bootstrap.kill()
            api.bootstrap_exited(bootstrap.wait())
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
