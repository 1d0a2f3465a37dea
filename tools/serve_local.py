#!/usr/bin/env python3
"""Serve the function over HTTP on loopback, the way API Gateway would: the
command behind `make serve`, a stand-in for `sam local start-api` without Docker.

    python3 tools/serve_local.py [--port 3000] [--host 127.0.0.1] [--format v1|v2]
        [--bootstrap .build/release/bootstrap] [--cors-origins ORIGINS] [--stage prod]

Starts the SageMaker stand-in and AWS's Runtime Interface Emulator with the
bootstrap (tools/harness.py), then turns every HTTP request -- any method, any
path -- into an API Gateway proxy event, invokes the function with it, and turns
the function's answer back into HTTP as API Gateway does.  Stops everything on
Ctrl-C or SIGTERM.

What is modelled (AWS's API Gateway developer guide: "Lambda proxy integrations"
for REST APIs, "payload format version" for HTTP APIs; the samples in
Tests/LambdaEventsTests/Fixtures):

* ``--format v1``: a REST API with a Lambda proxy integration on ``/summarize``
  and ``/{proxy+}`` (``/`` for the root).  ``headers`` keeps the last value of a
  repeated header, ``multiValueHeaders`` all of them; query strings likewise;
  ``queryStringParameters``, ``multiValueQueryStringParameters``,
  ``pathParameters`` and ``stageVariables`` are null when empty; ``body`` is null
  without a body.  A fresh REST API has no binary media types, so bodies go as
  text; a body that is not UTF-8 (which API Gateway would mangle) or whose
  Content-Type matches ``--binary-media-types`` goes base64-encoded with
  ``isBase64Encoded: true``.
* ``--format v2``: an HTTP API ``$default`` route, payload format 2.0: header
  names lower-cased, repeated headers and query parameters comma-joined, Cookie
  headers moved to ``cookies``; ``body`` and ``queryStringParameters`` absent
  when empty; the body base64-encoded unless its Content-Type is textual
  (text/*, JSON, XML, JavaScript, YAML) and it is UTF-8.  So `curl -d` (form
  encoded) arrives base64-encoded, as on AWS.
* Answers: v1 needs a proxy response (statusCode, headers, multiValueHeaders,
  body, isBase64Encoded and nothing else; multiValueHeaders and headers are
  merged); anything else, and any function error, is 502
  ``{"message": "Internal server error"}``.  v2 takes statusCode, headers,
  cookies (one Set-Cookie each), body, isBase64Encoded; JSON without statusCode
  is a 200 application/json answer of that JSON; a function error or an answer
  that is not JSON is 500 ``{"message":"Internal Server Error"}``.  Without a
  Content-Type in the answer, it is application/json.  Why an answer was refused
  is logged to stderr.
* Limits: a body over 10 MB is 413 ``{"message":"Request Too Long"}`` without
  invoking; an event or an answer over Lambda's 6 MB limit is 500 (event) or
  502/500 (answer); no answer within the integration timeout (29 s for REST,
  30 s for HTTP APIs) is 504 ``{"message": "Endpoint request timed out"}`` (v1)
  or 503 ``{"message":"Service Unavailable"}`` (v2).
* Every answer carries ``x-amzn-RequestId`` (plus ``x-amz-apigw-id`` and
  ``X-Amzn-Trace-Id`` for v1, ``Apigw-Requestid`` for v2).

Not modelled: authorizers, API keys, throttling, stage variables, custom
domains, parallel invocations (the RIE runs one at a time, so requests queue).

Logs go to stderr: the startup line, one access-log line per request, and the
function's own log (RIE + bootstrap) unless ``--no-function-logs``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import http.server
import ipaddress
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import harness

API_ID = "local00001"  # ten lower-case letters and digits, like a real API id
ACCOUNT_ID = "123456789012"
RESOURCE_ID = "summ01"
SUMMARIZE_PATH = "/summarize"

MAX_REQUEST_BODY = 10 * 1024 * 1024  # API Gateway's payload limit (REST and HTTP APIs)
# Lambda's synchronous invocation limits: 6 MB for the event; the answer limit
# is quoted in Lambda's own error message as 6291556 bytes.
MAX_EVENT_BYTES = 6 * 1024 * 1024
MAX_ANSWER_BYTES = 6_291_556
INTEGRATION_TIMEOUT_S = {"v1": 29.0, "v2": 30.0}
READ_TIMEOUT_S = 60  # an idle or stalled client connection is dropped after this
MAX_DRAIN = 64 * 1024 * 1024  # how much of an oversized body is read (and dropped) before the 413

FORMAT_LABELS = {"v1": "API Gateway REST v1 events", "v2": "API Gateway HTTP API v2 events"}
# Request headers a proxy does not pass on (hop-by-hop, or about the transfer).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect"}
# Answer headers the gateway sets itself.
GATEWAY_OWNED = HOP_BY_HOP | {"content-length", "date"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


# --------------------------------------------------------------------------
# Requests -> events


@dataclass
class Request:
    """An HTTP request as the gateway received it."""

    method: str
    target: str  # the request-target: path and query string, as sent
    headers: list[tuple[str, str]]  # in order, names as sent
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    port: int = 3000
    protocol: str = "HTTP/1.1"
    time_epoch_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def split_target(self) -> tuple[str, str]:
        """(raw path, raw query string) of the request-target."""
        target = self.target
        if not target.startswith("/"):  # absolute-form: http://host/path?query
            parts = urlsplit(target)
            return parts.path or "/", parts.query
        path, _, query = target.partition("?")
        return path or "/", query

    def header(self, name: str) -> str | None:
        """The last value of header NAME (case-insensitive)."""
        found = None
        for key, value in self.headers:
            if key.lower() == name.lower():
                found = value
        return found

    def media_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()


def request_time(epoch_ms: int) -> str:
    """API Gateway's requestTime, e.g. 25/Nov/2026:09:12:03 +0000 (not locale-dependent)."""
    t = time.gmtime(epoch_ms / 1000)
    return f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def trace_id(epoch_ms: int) -> str:
    return f"Root=1-{epoch_ms // 1000:08x}-{secrets.token_hex(12)}"


def short_id() -> str:
    """An id in the style of HTTP API request ids and REST extended ids: 'LV7fzho-PHcEJPw='."""
    return base64.b64encode(secrets.token_bytes(11), altchars=b"-_").decode()


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def media_type_matches(media_type: str, patterns: list[str]) -> bool:
    """Whether MEDIA_TYPE matches one of the binary-media-type PATTERNS (type/sub, type/*, */*)."""
    kind = media_type.split("/", 1)[0]
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern in ("*/*", media_type) or (pattern.endswith("/*") and pattern[:-2] == kind):
            return True
    return False


def is_textual(media_type: str) -> bool:
    """The content types an HTTP API passes as text (everything else is base64-encoded)."""
    if media_type.startswith("text/"):
        return True
    return media_type in (
        "application/json", "application/javascript", "application/ecmascript",
        "application/xml", "application/yaml", "application/x-yaml",
    ) or (media_type.startswith("application/") and media_type.endswith(("+json", "+xml")))


def grouped_headers(request: Request) -> list[tuple[str, list[str]]]:
    """Headers grouped case-insensitively (first spelling wins), in order,
    without hop-by-hop ones, plus the X-Forwarded-* headers API Gateway adds."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for name, value in request.headers:
        if name.lower() in HOP_BY_HOP:
            continue
        groups.setdefault(name.lower(), (name, []))[1].append(value)

    def put(name: str, value: str) -> None:
        groups[name.lower()] = (groups.get(name.lower(), (name, []))[0], [value])

    forwarded = groups.get("x-forwarded-for")
    put("X-Forwarded-For", ", ".join([*(forwarded[1] if forwarded else []), request.source_ip]))
    put("X-Forwarded-Port", str(request.port))
    put("X-Forwarded-Proto", "http")
    return list(groups.values())


def query_parameters(query: str) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        groups.setdefault(name, []).append(value)
    return list(groups.items())


def v1_event(request: Request, *, stage: str, request_id: str, binary_media_types: list[str]) -> dict[str, Any]:
    """A REST API (payload format 1.0) Lambda proxy event."""
    raw_path, query = request.split_target()
    path = unquote(raw_path)
    if path == SUMMARIZE_PATH:
        resource, path_parameters = SUMMARIZE_PATH, None
    elif path == "/":
        resource, path_parameters = "/", None
    else:
        resource, path_parameters = "/{proxy+}", {"proxy": path[1:]}
    headers = grouped_headers(request)
    parameters = query_parameters(query)
    body: str | None = None
    encoded = False
    if request.body:
        if media_type_matches(request.media_type(), binary_media_types) or not is_utf8(request.body):
            body, encoded = base64.b64encode(request.body).decode("ascii"), True
        else:
            body = request.body.decode("utf-8")
    host = request.header("host") or f"127.0.0.1:{request.port}"
    user_agent = request.header("user-agent")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in headers} or None,
        "multiValueHeaders": {name: values for name, values in headers} or None,
        "queryStringParameters": {name: values[-1] for name, values in parameters} or None,
        "multiValueQueryStringParameters": {name: values for name, values in parameters} or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
            "extendedRequestId": short_id(),
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "apiKey": None,
                "apiKeyId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": request.protocol,
            "requestId": request_id,
            "requestTime": request_time(request.time_epoch_ms),
            "requestTimeEpoch": request.time_epoch_ms,
            "resourceId": RESOURCE_ID,
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def v2_event(request: Request, *, request_id: str) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event for the $default route."""
    raw_path, query = request.split_target()
    cookies: list[str] = []
    headers: dict[str, str] = {}
    for name, values in grouped_headers(request):
        if name.lower() == "cookie":
            cookies += [c.strip() for value in values for c in value.split(";") if c.strip()]
        else:
            headers[name.lower()] = ",".join(values)
    host = request.header("host") or f"127.0.0.1:{request.port}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    parameters = query_parameters(query)
    if parameters:
        event["queryStringParameters"] = {name: ",".join(values) for name, values in parameters}
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": request_time(request.time_epoch_ms),
        "timeEpoch": request.time_epoch_ms,
    }
    encoded = False
    if request.body:
        if is_textual(request.media_type()) and is_utf8(request.body):
            event["body"] = request.body.decode("utf-8")
        else:
            event["body"], encoded = base64.b64encode(request.body).decode("ascii"), True
    event["isBase64Encoded"] = encoded
    return event


# --------------------------------------------------------------------------
# Function answers -> HTTP responses


class BadAnswer(Exception):
    """The function failed or its answer is not a valid proxy response."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_document(answer: Any) -> bool:
    """A Lambda function error (the RIE answers those with HTTP 200, so only the
    body tells: {"errorType": ..., "errorMessage": ...})."""
    return isinstance(answer, dict) and "statusCode" not in answer and ("errorType" in answer or "errorMessage" in answer)


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadAnswer(f"statusCode must be an integer, got {value!r}")
    try:
        status = int(value)
    except ValueError:
        raise BadAnswer(f"statusCode must be an integer, got {value!r}") from None
    if not 100 <= status <= 599:
        raise BadAnswer(f"statusCode {status} is not an HTTP status")
    return status


def _header_value(name: str, value: Any) -> str:
    if not HEADER_NAME.match(name):
        raise BadAnswer(f"{name!r} is not a valid header name")
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (int, float)):
        value = str(value)
    elif not isinstance(value, str):
        raise BadAnswer(f"header {name!r} has a value that is not a string: {value!r}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise BadAnswer(f"header {name!r} has a line break in its value")
    return value


def _body(answer: dict[str, Any], flag_name: str = "isBase64Encoded") -> bytes:
    body = answer.get("body")
    flag = answer.get(flag_name)
    if flag is None:
        flag = False
    if not isinstance(flag, bool):
        raise BadAnswer(f"{flag_name} must be true or false, got {flag!r}")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadAnswer(f"body must be a string, got {type(body).__name__}")
    if not flag:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadAnswer("body is marked isBase64Encoded but is not valid base64") from None


def _with_content_type(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = [(n, v) for n, v in headers if n.lower() not in GATEWAY_OWNED]
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return headers


def v1_response(raw: bytes) -> Response:
    """A REST API's reading of a Lambda proxy answer; BadAnswer if it would be 502."""
    try:
        answer = json.loads(raw)
    except ValueError:
        raise BadAnswer(f"the answer is not JSON: {raw[:200]!r}") from None
    if error_document(answer):
        raise BadAnswer(f"function error {answer.get('errorType')}: {answer.get('errorMessage')}")
    if not isinstance(answer, dict):
        raise BadAnswer(f"the answer is a JSON {type(answer).__name__}, not an object")
    unknown = set(answer) - {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
    if unknown:
        raise BadAnswer(f"malformed Lambda proxy response: unknown keys {sorted(unknown)}")
    if "statusCode" not in answer:
        raise BadAnswer("malformed Lambda proxy response: no statusCode")
    status = _status(answer["statusCode"])
    single = answer.get("headers") or {}
    multi = answer.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise BadAnswer("headers and multiValueHeaders must be objects")
    headers: list[tuple[str, str]] = []
    for name, values in multi.items():
        if not isinstance(values, list):
            raise BadAnswer(f"multiValueHeaders[{name!r}] must be a list")
        headers += [(name, _header_value(name, value)) for value in values]
    for name, value in single.items():
        value = _header_value(name, value)
        # "If the same key-value pair is specified in both, only the values
        # from multiValueHeaders will appear in the merged list."
        if (name.lower(), value) not in {(n.lower(), v) for n, v in headers}:
            headers.append((name, value))
    return Response(status, _with_content_type(headers), _body(answer))


def v2_response(raw: bytes) -> Response:
    """An HTTP API's reading of a payload-format-2.0 answer; BadAnswer if it would be 500."""
    try:
        answer = json.loads(raw)
    except ValueError:
        raise BadAnswer(f"the answer is not JSON: {raw[:200]!r}") from None
    if error_document(answer):
        raise BadAnswer(f"function error {answer.get('errorType')}: {answer.get('errorMessage')}")
    if not (isinstance(answer, dict) and "statusCode" in answer):
        # "If your Lambda function returns valid JSON and doesn't return a
        # statusCode, API Gateway assumes" 200, application/json, body = answer.
        return Response(200, [("Content-Type", "application/json")], raw)
    status = _status(answer["statusCode"])
    single = answer.get("headers") or {}
    if not isinstance(single, dict):
        raise BadAnswer("headers must be an object")
    headers = [(name, _header_value(name, value)) for name, value in single.items()]
    cookies = answer.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise BadAnswer("cookies must be a list of strings")
    headers += [("Set-Cookie", cookie) for cookie in cookies]
    return Response(status, _with_content_type(headers), _body(answer))


def gateway_error(api_format: str, kind: str) -> Response:
    """API Gateway's own error answers (its 'gateway responses')."""
    documents = {
        ("v1", "bad-answer"): (502, {"message": "Internal server error"}),
        ("v1", "invoke-failed"): (500, {"message": "Internal server error"}),
        ("v1", "timeout"): (504, {"message": "Endpoint request timed out"}),
        ("v2", "bad-answer"): (500, {"message": "Internal Server Error"}),
        ("v2", "invoke-failed"): (500, {"message": "Internal Server Error"}),
        ("v2", "timeout"): (503, {"message": "Service Unavailable"}),
        ("v1", "too-large"): (413, {"message": "Request Too Long"}),
        ("v2", "too-large"): (413, {"message": "Request Too Long"}),
    }
    status, document = documents[(api_format, kind)]
    # Compact, as API Gateway's default templates render {"message":$context.error.messageString}.
    return Response(status, [("Content-Type", "application/json")], json.dumps(document, separators=(",", ":")).encode())


# --------------------------------------------------------------------------
# The gateway


class IntegrationTimeout(Exception):
    pass


class Gateway:
    """Events in, the function's answers out, one invocation at a time."""

    def __init__(self, function: harness.Lambda, args: argparse.Namespace):
        self.function = function
        self.format = args.format
        self.stage = args.stage
        self.binary_media_types = [t for t in args.binary_media_types.split(",") if t.strip()]
        self.integration_timeout = args.integration_timeout or INTEGRATION_TIMEOUT_S[args.format]
        self.function_logs = args.function_logs
        self._log_lock = threading.Lock()
        self._log_offset = len(function.output())

    def handle(self, request: Request) -> tuple[Response, str]:
        """The gateway's answer to REQUEST and the request id it gave it."""
        trace = request.header("x-amzn-trace-id")
        if trace is None:  # the gateway starts a trace
            trace = trace_id(request.time_epoch_ms)
            request.headers.append(("X-Amzn-Trace-Id", trace))
        if self.format == "v1":
            request_id = str(uuid.uuid4())
            event = v1_event(request, stage=self.stage, request_id=request_id,
                             binary_media_types=self.binary_media_types)
        else:
            request_id = short_id()
            event = v2_event(request, request_id=request_id)
        response = self._invoke(event, request_id)
        response.headers.append(("x-amzn-RequestId", request_id))
        if self.format == "v1":
            response.headers.append(("x-amz-apigw-id", event["requestContext"]["extendedRequestId"]))
            response.headers.append(("X-Amzn-Trace-Id", trace))
        else:
            response.headers.append(("Apigw-Requestid", request_id))
        return response, request_id

    def too_large(self) -> tuple[Response, str]:
        request_id = str(uuid.uuid4()) if self.format == "v1" else short_id()
        response = gateway_error(self.format, "too-large")
        response.headers.append(("x-amzn-RequestId", request_id))
        if self.format == "v2":
            response.headers.append(("Apigw-Requestid", request_id))
        return response, request_id

    def _invoke(self, event: dict[str, Any], request_id: str) -> Response:
        payload = json.dumps(event).encode()
        if len(payload) > MAX_EVENT_BYTES:
            log(f"{request_id}: the event is {len(payload)} bytes, over Lambda's {MAX_EVENT_BYTES}-byte "
                "invocation limit: Lambda would refuse it (RequestEntityTooLargeException)")
            return gateway_error(self.format, "invoke-failed")
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                outcome["answer"] = self.function.invoke(payload)
            except BaseException as exc:  # reported by the waiting thread
                outcome["error"] = exc
            finally:
                self._forward_function_log()
                done.set()

        threading.Thread(target=run, name=f"invoke-{request_id}", daemon=True).start()
        if not done.wait(self.integration_timeout):
            log(f"{request_id}: no answer within the {self.integration_timeout:g} s integration timeout "
                "(the invocation keeps running; later requests wait for it)")
            return gateway_error(self.format, "timeout")
        if "error" in outcome:
            log(f"{request_id}: invoking the function failed: {outcome['error']}")
            return gateway_error(self.format, "invoke-failed")
        status, _, raw = outcome["answer"]
        try:
            if status != 200:  # the RIE's own failures: init error, crash
                raise BadAnswer(f"the RIE answered HTTP {status}: {raw[:300]!r}")
            if len(raw) > MAX_ANSWER_BYTES:
                raise BadAnswer(f"the answer is {len(raw)} bytes, over Lambda's {MAX_ANSWER_BYTES}-byte limit")
            return v1_response(raw) if self.format == "v1" else v2_response(raw)
        except BadAnswer as problem:
            log(f"{request_id}: {problem}")
            return gateway_error(self.format, "bad-answer")

    def _forward_function_log(self) -> None:
        with self._log_lock:
            text = self.function.output()
            new, self._log_offset = text[self._log_offset:], len(text)
        if self.function_logs and new:
            sys.stderr.write(new if new.endswith("\n") else new + "\n")
            sys.stderr.flush()


_log_lock = threading.Lock()


def log(message: str) -> None:
    with _log_lock:
        print(f"serve_local: {message}", file=sys.stderr, flush=True)


class RequestTooLarge(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    """Every method on every path goes to the gateway."""

    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S
    gateway: Gateway  # set on the subclass made in serve()

    def __getattr__(self, name: str):
        # BaseHTTPRequestHandler dispatches to do_<METHOD>; take them all.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        # Refuse an announced oversized body before the client sends it.
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_REQUEST_BODY:
            self._answer(*self.gateway.too_large(), started=time.monotonic(), close=True)
            return False
        return super().handle_expect_100()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # Read to the end even when too large (up to MAX_DRAIN), so the
            # client gets to read the 413 instead of a connection reset.
            chunks, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("the client closed the connection mid-body")
                length = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    if size > MAX_REQUEST_BODY:
                        raise RequestTooLarge()
                    return b"".join(chunks)
                size += length
                if size > MAX_DRAIN:
                    raise RequestTooLarge()
                chunk = self.rfile.read(length)
                if size <= MAX_REQUEST_BODY:
                    chunks.append(chunk)
                self.rfile.readline(1024)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        length = int(length_header)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_REQUEST_BODY:
            raise RequestTooLarge()
        body = self.rfile.read(length)
        if len(body) != length:
            raise ConnectionError("the client closed the connection mid-body")
        return body

    def _drain(self) -> None:
        """Read and drop the rest of an oversized body (up to a bound), so the
        client gets to read the 413 instead of a connection reset."""
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_DRAIN:
            return  # chunked: already read; huge: not worth it
        remaining = int(length)
        try:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except RequestTooLarge:
            self._drain()
            self._answer(*self.gateway.too_large(), started=started, close=True)
            return
        except ValueError:
            self.send_error(400, "Bad request body framing")
            return
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
            return
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            port=self.server.server_address[1],
            protocol=self.request_version,
        )
        response, request_id = self.gateway.handle(request)
        self._answer(response, request_id, started=started)

    def _answer(self, response: Response, request_id: str, *, started: float, close: bool = False) -> None:
        try:
            self.send_response_only(response.status)
            self.send_header("Date", self.date_time_string())
            for name, value in response.headers:
                self.send_header(name, value)
            body = response.body
            if response.status in (204, 304) or response.status < 200:
                body = b""  # no body, and no Content-Length (RFC 9110 8.6)
            else:
                self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        elapsed_ms = (time.monotonic() - started) * 1000
        log(f'{self.client_address[0]} "{self.requestline}" {response.status} {len(response.body)} '
            f"{elapsed_ms:.0f}ms {request_id}")

    def log_request(self, code="-", size="-") -> None:
        pass  # _answer logs, with the request id and timing

    def log_message(self, format: str, *args) -> None:
        log(f"{self.client_address[0]} {format % args}")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6


# --------------------------------------------------------------------------
# Command line


def loopback_host(value: str) -> str:
    if value == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IP address") from None
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(
            f"{value} is not a loopback address: this server has no authentication and "
            "only listens on 127.0.0.1 (or another loopback address)")
    return str(address)


def stage_name(value: str) -> str:
    if not STAGE_NAME.match(value):
        raise argparse.ArgumentTypeError("a stage name has 1 to 128 letters, digits, '-' and '_'")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3000, help="port; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--host", type=loopback_host, default="127.0.0.1",
                        help="loopback address to listen on (default: %(default)s)")
    parser.add_argument("--format", choices=("v1", "v2"), default="v1",
                        help="v1: REST API proxy events; v2: HTTP API payload 2.0 (default: %(default)s)")
    parser.add_argument("--bootstrap", type=Path, default=harness.DEFAULT_BOOTSTRAP,
                        help="the function binary (default: %(default)s)")
    parser.add_argument("--cors-origins", metavar="ORIGINS",
                        help="CORS_ALLOWED_ORIGINS for the function: comma-separated origins, or *")
    parser.add_argument("--stage", type=stage_name, default="prod", help="REST API stage name (default: %(default)s)")
    parser.add_argument("--binary-media-types", default="", metavar="TYPES",
                        help="v1: comma-separated media types sent base64-encoded, e.g. 'image/*,application/octet-stream' "
                             "(default: none, like a new REST API; non-UTF-8 bodies always are)")
    parser.add_argument("--timeout", type=int, default=30, help="function timeout in seconds (default: %(default)s)")
    parser.add_argument("--integration-timeout", type=float, default=None, metavar="S",
                        help="gateway's integration timeout (default: 29 for v1, 30 for v2)")
    parser.add_argument("--no-function-logs", dest="function_logs", action="store_false",
                        help="do not copy the function's log (RIE + bootstrap) to stderr")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a TCP port")
    if args.timeout < 1:
        parser.error("--timeout must be at least 1 second")
    return args


def serve(args: argparse.Namespace) -> int:
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin:
        env = harness.function_env(standin.url)
        if args.cors_origins is not None:
            env["CORS_ALLOWED_ORIGINS"] = args.cors_origins
        with harness.Lambda(args.bootstrap, env, timeout=args.timeout) as function:
            gateway = Gateway(function, args)
            handler = type("GatewayHandler", (Handler,), {"gateway": gateway})
            server_class = Server6 if ":" in args.host else Server
            try:
                server = server_class((args.host, args.port), handler)
            except OSError as exc:
                log(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
                return 1
            with server:
                port = server.server_address[1]
                host = f"[{args.host}]" if ":" in args.host else args.host
                log(f"SageMaker stand-in {standin.url} (pid {standin.pid}); Lambda RIE pid {function.pid} "
                    f"running {function.bootstrap}; stage {args.stage}; "
                    f"CORS_ALLOWED_ORIGINS={args.cors_origins or '(unset)'}")
                print(f"Serving on http://{host}:{port} ({FORMAT_LABELS[args.format]}) — POST {SUMMARIZE_PATH}",
                      file=sys.stderr, flush=True)
                server.serve_forever(poll_interval=0.2)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum, frame):
        # Unwind through the with-blocks so the server, RIE and stand-in stop.
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # respect nohup
            signal.signal(signum, terminate)
    try:
        return serve(args)
    except KeyboardInterrupt:
        log("interrupted, stopping")
        return 130
    except SystemExit as exit_:
        if isinstance(exit_.code, int) and exit_.code > 128:
            log(f"stopped by signal {exit_.code - 128}")
        raise
    except (RuntimeError, OSError, http.client.HTTPException) as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
