#!/usr/bin/env python3
"""A local API Gateway in front of the function: the command behind `make serve`.

Every HTTP request becomes a REST API (v1) or HTTP API (v2) proxy event, goes to the bootstrap under
AWS's Runtime Interface Emulator, and the answer goes back as API Gateway reads it; docs/emulator.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.server
import ipaddress
import json
import os
import re
import secrets
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import unquote

import harness
import proxy_events

MAX_REQUEST_BODY = 10 * 1024 * 1024  # API Gateway's payload limit, REST and HTTP APIs alike
MAX_DRAIN = 64 * 1024 * 1024  # an oversized body up to this is read and dropped, so the client sees the 413
FORMAT_LABELS = {"v1": "API Gateway REST v1 events", "v2": "API Gateway HTTP API v2 events"}
# What API Gateway answers itself when the function fails or its answer is no proxy response.
GATEWAY_ERRORS = {
    "v1": (502, b'{"message": "Internal server error"}'),
    "v2": (500, b'{"message":"Internal Server Error"}'),
}
TOO_LARGE = (413, b'{"message":"Request Too Long"}')
# Lambda's limit for one synchronous invocation's event. An event over it never reaches the
# function (the RIE would cut it short); the caller gets the 413 the function gives a body it
# cannot take, in its error shape.
MAX_EVENT = 6 * 1024 * 1024
MAX_LINE = 4096  # a chunk size line with its extensions, a trailer field
MAX_TRAILER_LINES = 64
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?\r?\n")
# The server frames the answer itself, so the function's own framing headers are dropped.
FRAMING = {"content-length", "transfer-encoding", "connection", "date"}
# Content types an HTTP API passes as text; it base64-encodes every other body.
TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/yaml")


class BadAnswer(Exception):
    """The function failed, or answered with something API Gateway would refuse."""


def event_for(api_format: str, method: str, target: str, headers: list[tuple[str, str]],
              body: bytes, request_id: str) -> dict:
    """The proxy event API Gateway would send for this request."""
    path, _, query = target.partition("?")
    media_type = next((v for n, v in reversed(headers) if n.lower() == "content-type"), "")
    media_type = media_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if api_format == "v1":
        # A new REST API has no binary media types: text as it is, only non-UTF-8 as base64.
        payload = (body if text is None else text) if body else None
        event = proxy_events.rest_v1(payload, method, headers, path=unquote(path), query=query)
    else:
        textual = media_type.startswith("text/") or media_type in TEXT_TYPES or media_type.endswith(("+json", "+xml"))
        payload = (text if textual and text is not None else body) if body else None
        event = proxy_events.http_v2(payload, method, headers, path=path, query=query)
        event["isBase64Encoded"] = isinstance(payload, bytes)
    event["requestContext"]["requestId"] = request_id
    return event


def http_answer(api_format: str, status: int, raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) that API Gateway makes of the RIE's answer; BadAnswer when it
    would answer with its own error instead."""
    if status != 200:  # the RIE's own failures: a crash, an init error
        raise BadAnswer(f"the RIE answered HTTP {status}: {raw[:300]!r}")
    try:
        answer = json.loads(raw)
    except ValueError:  # e.g. "Task timed out after 30.00 seconds"
        raise BadAnswer(f"the answer is not JSON: {raw[:300]!r}") from None
    if not (isinstance(answer, dict) and "statusCode" in answer):
        if isinstance(answer, dict) and "errorType" in answer:  # the RIE gives function errors 200
            raise BadAnswer(f"function error {answer['errorType']}: {answer.get('errorMessage')}")
        if api_format == "v1":
            raise BadAnswer("no statusCode: not a Lambda proxy response")
        return 200, [("Content-Type", "application/json")], raw  # an HTTP API takes bare JSON as a 200
    try:
        headers = [(n, str(v)) for n, v in (answer.get("headers") or {}).items()]
        if api_format == "v1":
            # "If the same key-value pair is specified in both, only the values from
            # multiValueHeaders will appear in the merged list."
            multi = [(n, str(v)) for n, vs in (answer.get("multiValueHeaders") or {}).items() for v in vs]
            headers = multi + [h for h in headers if h not in multi]
        else:
            headers += [("Set-Cookie", cookie) for cookie in answer.get("cookies") or []]
        body = (answer.get("body") or "").encode()
        if answer.get("isBase64Encoded"):
            body = base64.b64decode(body, validate=True)
        status = int(answer["statusCode"])
        if not 100 <= status <= 599:
            raise ValueError(f"statusCode {status} is no HTTP status")
        if any(c in name + value for name, value in headers for c in "\r\n\0"):
            raise ValueError("a line break in a header")  # it would split the answer's header lines
    except (AttributeError, TypeError, ValueError, binascii.Error) as exc:
        raise BadAnswer(f"malformed proxy response: {exc}") from None
    headers = [(n, v) for n, v in headers if n.lower() not in FRAMING]
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, body


def event_too_large(size: int) -> bytes:
    """The function's PayloadTooLarge answer for an event of SIZE bytes."""
    return json.dumps({
        "error": f"the request event is {size} bytes; Lambda accepts at most {MAX_EVENT} bytes",
        "error_type": "PayloadTooLarge", "requestId": str(uuid.uuid4())}).encode()


def log(message: str) -> None:
    print(f"serve_local: {message}", file=sys.stderr, flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    """Every method on every path goes to the function, one invocation at a time (the RIE's)."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # a stalled client connection is dropped after this
    api_format = "v1"
    function: harness.Lambda  # both set on the subclass serve() makes
    log_lock = threading.Lock()

    def do_POST(self) -> None:
        request_id = str(uuid.uuid4()) if self.api_format == "v1" else \
            base64.b64encode(secrets.token_bytes(11), altchars=b"-_").decode()  # like LV7fzho-PHcEJPw=
        try:
            body = self._read_body()
        except ValueError as problem:  # a framing error: what follows on the connection is unreadable
            self.close_connection = True
            self.send_error(400, str(problem))
            return
        if body is None:
            self.close_connection = True
            self._answer(request_id, TOO_LARGE[0], [("Content-Type", "application/json")], TOO_LARGE[1])
            return
        event = event_for(self.api_format, self.command, self.path, list(self.headers.items()), body, request_id)
        payload = json.dumps(event).encode()
        if len(payload) > MAX_EVENT:
            self._answer(request_id, 413, [("Content-Type", "application/json")], event_too_large(len(payload)))
            return
        with self.log_lock:
            log_start = len(self.function.output())
            try:
                status, _, raw = self.function.invoke(payload)
            except (OSError, RuntimeError) as exc:  # the RIE died, or the invocation timed out
                status, raw = 502, f"invoking failed: {exc}".encode()
            sys.stderr.write(self.function.output()[log_start:])  # the function's own log
        try:
            answer = http_answer(self.api_format, status, raw)
        except BadAnswer as problem:
            log(f"{request_id}: {problem}")
            code, document = GATEWAY_ERRORS[self.api_format]
            answer = code, [("Content-Type", "application/json")], document
        self._answer(request_id, *answer)

    def __getattr__(self, name: str):
        # Every method, TRACE and made-up ones included, goes to the function, which answers 405
        # to those it does not take; http.server alone would answer 501 with an HTML page.
        if name.startswith("do_"):
            return self.do_POST
        raise AttributeError(name)

    def _read_body(self) -> bytes | None:
        """The request body, sent with a Content-Length or chunked; None when it is over
        MAX_REQUEST_BODY (read and dropped up to MAX_DRAIN, so that the client reads the 413)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self._length()
        if length < 0:
            raise ValueError("Bad Content-Length")
        if length > MAX_REQUEST_BODY:
            if not self.headers.get("Expect") and length <= MAX_DRAIN:
                while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):
                    length -= len(chunk)
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        """A chunked body (RFC 9112, section 7.1): chunk extensions and trailer fields are dropped."""
        body, total = bytearray(), 0
        while True:
            size = CHUNK_SIZE.fullmatch(self.rfile.readline(MAX_LINE + 1))
            if size is None:
                raise ValueError("Bad chunk size line")
            if (length := int(size.group(1), 16)) == 0:
                break
            total += length
            if total > MAX_DRAIN:
                return None
            chunk = self.rfile.read(length)
            if len(chunk) < length or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise ValueError("Chunk data does not match its size")
            if total <= MAX_REQUEST_BODY:
                body += chunk
        for _ in range(MAX_TRAILER_LINES):
            if self.rfile.readline(MAX_LINE + 1) in (b"\r\n", b"\n", b""):
                return bytes(body) if total <= MAX_REQUEST_BODY else None
        raise ValueError("Too many trailer fields")

    def _length(self) -> int:
        value = self.headers.get("Content-Length") or "0"
        return int(value) if value.isdigit() else -1

    def handle_expect_100(self) -> bool:
        # No "100 Continue" for a body that will be refused: the client gets the 413 instead.
        return self._length() > MAX_REQUEST_BODY or super().handle_expect_100()

    def _answer(self, request_id: str, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers + [("x-amzn-RequestId", request_id)]:
            self.send_header(name, value)
        if self.api_format == "v2":
            self.send_header("Apigw-Requestid", request_id)
        if status not in (204, 304):  # neither has a body, nor a Content-Length (RFC 9110)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def send_header(self, keyword: str, value: str) -> None:
        if keyword != "Server":  # API Gateway sends none
            super().send_header(keyword, value)

    def log_message(self, format: str, *args) -> None:
        log(f"{self.client_address[0]} {format % args}")


def serve(args: argparse.Namespace) -> int:
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin:
        env = harness.function_env(standin.url)
        if args.cors_origins is not None:
            env["CORS_ALLOWED_ORIGINS"] = args.cors_origins
        with harness.Lambda(args.bootstrap, env, timeout=args.timeout) as function:
            handler = type("GatewayHandler", (Handler,), {"api_format": args.format, "function": function})
            server_class = type("Server", (http.server.ThreadingHTTPServer,), {"daemon_threads": True})
            with server_class((args.host, args.port), handler) as server:
                log(f"SageMaker stand-in {standin.url} (pid {standin.pid}); Lambda RIE pid {function.pid} "
                    f"running {function.bootstrap}; CORS_ALLOWED_ORIGINS={args.cors_origins or '(unset)'}")
                print(f"Serving on http://{args.host}:{server.server_address[1]} ({FORMAT_LABELS[args.format]})"
                      " — POST /summarize", file=sys.stderr, flush=True)
                server.serve_forever(poll_interval=0.2)
    return 0


def loopback_host(value: str) -> str:
    """Accept only loopback addresses: the server must never be reachable from elsewhere."""
    if value == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IPv4 loopback address") from None
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(f"{value!r} is not a loopback address")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=3000, help="port; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--host", type=loopback_host, default="127.0.0.1", help="a loopback IPv4 address (default: %(default)s)")
    parser.add_argument("--format", choices=("v1", "v2"), default="v1",
                        help="v1: REST API proxy events; v2: HTTP API payload 2.0 (default: %(default)s)")
    parser.add_argument("--bootstrap", type=Path, default=harness.DEFAULT_BOOTSTRAP, help="default: %(default)s")
    parser.add_argument("--cors-origins", metavar="ORIGINS", default=os.environ.get("CORS_ALLOWED_ORIGINS") or None,
                        help="CORS_ALLOWED_ORIGINS for the function: comma-separated origins, or * "
                             "(default: $CORS_ALLOWED_ORIGINS)")
    parser.add_argument("--timeout", type=int, default=30, help="function timeout, seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    harness.exit_on_termination()
    try:
        return serve(args)
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, OSError) as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
