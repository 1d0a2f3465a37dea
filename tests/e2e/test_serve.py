"""`make serve` end to end: tools/serve_local.py in front of the RIE running the bootstrap, driven
with curl (every call with --max-time), for REST (v1) and HTTP API (v2) events; and its event and
answer mapping on its own."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import harness
import pytest
import serve_local
from conftest import BOOTSTRAP
from proxy_events import fixture

REPO_ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "https://news.example.com"
STARTUP_TIMEOUT_S = 30
CURL_MAX_TIME_S = 20
STARTUP_LINE = re.compile(r"^Serving on http://127\.0\.0\.1:(\d+) \((.+)\) — POST /summarize$", re.M)


@pytest.fixture(autouse=True)
def _fresh_standin():
    """Replaces conftest's: serve_local starts its own stand-in."""
    yield


class Serve(harness._Process):
    """tools/serve_local.py as a subprocess on a port it picks (--port 0)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        super().__init__("serve-local")
        self.args = args
        self.env = env

    def start(self) -> None:
        environment = {k: v for k, v in os.environ.items() if k != "CORS_ALLOWED_ORIGINS"} | (self.env or {})
        self._spawn([sys.executable, "tools/serve_local.py", "--port", "0", "--bootstrap", str(BOOTSTRAP),
                     *self.args], cwd=REPO_ROOT, env=environment)
        match = STARTUP_LINE.search(self.wait_for_output("— POST /summarize", timeout=STARTUP_TIMEOUT_S))
        self.url, self.label = f"http://127.0.0.1:{match.group(1)}", match.group(2)


def curl(url: str, *args: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of the final answer."""
    with tempfile.TemporaryDirectory() as tmp:
        head = Path(tmp, "head")
        done = subprocess.run(["curl", "-sS", "--max-time", str(CURL_MAX_TIME_S), "-D", str(head), *args, url],
                              capture_output=True, timeout=CURL_MAX_TIME_S + 5, cwd=REPO_ROOT)
        assert done.returncode == 0, done.stderr
        lines = head.read_bytes().decode("latin-1").strip().split("\r\n\r\n")[-1].split("\r\n")
    headers = {n.strip().lower(): v.strip() for n, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, done.stdout


@pytest.fixture(scope="module", params=["v1", "v2"])
def real(request):
    # CORS from the environment (`CORS_ALLOWED_ORIGINS=... make serve`) for one, the option for the other.
    cors = {"env": {"CORS_ALLOWED_ORIGINS": ORIGIN}} if request.param == "v1" else {}
    with Serve("--format", request.param, *([] if cors else ["--cors-origins", ORIGIN]), **cors) as server:
        assert f"CORS_ALLOWED_ORIGINS={ORIGIN}" in server.output()
        server.api_format = request.param
        yield server


def assert_request_id(headers: dict[str, str], api_format: str) -> None:
    # API Gateway's request id: a UUID for REST APIs, a short id like LV7fzho-PHcEJPw= for HTTP APIs.
    if api_format == "v1":
        uuid.UUID(headers["x-amzn-requestid"])
    else:
        assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", headers["x-amzn-requestid"])


@pytest.mark.parametrize("body", [
    ("-H", "Content-Type: application/json", "--data-binary", "@events/console-test.json"),
    ("-H", "Content-Type: text/plain", "--data-binary", "@events/article.txt"),
    ("-d", "@events/article.txt"),  # form-encoded: base64-encoded by an HTTP API, text for a REST API
], ids=["json", "text", "curl-d"])
def test_post_gets_the_models_json(real, body):
    assert real.label == serve_local.FORMAT_LABELS[real.api_format]
    status, headers, answer = curl(f"{real.url}/summarize", *body)
    assert status == 200, answer
    assert headers["content-type"] == "application/json"
    summaries = json.loads(answer)
    assert summaries[0]["summary_text"].startswith("Northwind Semiconductor raised its full-year revenue")
    assert headers["content-length"] == str(len(answer))
    assert headers["vary"] == "Origin" and "access-control-allow-origin" not in headers  # no Origin sent
    assert_request_id(headers, real.api_format)


@pytest.mark.parametrize("args, status, error_type", [
    (("-H", "Content-Type: application/json", "--data-binary", '{"inputs": '), 400, "InvalidJSON"),
    (("-H", "Content-Type: application/json", "--data-binary", '{"input": "typo"}'), 400, "InvalidRequest"),
    (("-H", "Content-Type: application/xml", "--data-binary", "<article>Stocks rose.</article>"), 415,
     "UnsupportedMediaType"),
    ((), 405, "MethodNotAllowed"),  # a GET
    (("-X", "TRACE"), 405, "MethodNotAllowed"),
    (("-X", "BREW"), 405, "MethodNotAllowed"),
], ids=["invalid-json", "invalid-request", "xml", "get", "trace", "made-up-method"])
def test_error_answers_pass_through(real, args, status, error_type):
    got, headers, answer = curl(f"{real.url}/summarize", *args)
    assert got == status and headers["content-type"] == "application/json"
    document = json.loads(answer)
    assert document["error_type"] == error_type and isinstance(document["error"], str) and document["error"]
    uuid.UUID(document["requestId"])  # the function's (Lambda's) request id
    assert_request_id(headers, real.api_format)
    if status == 405:
        assert headers["allow"] == "OPTIONS, POST"


def test_cors_preflight_and_post_from_the_allowed_origin(real):
    status, headers, answer = curl(f"{real.url}/summarize", "-X", "OPTIONS", "-H", f"Origin: {ORIGIN}",
                                   "-H", "Access-Control-Request-Method: POST")
    assert (status, answer) == (204, b"")
    assert headers["access-control-allow-origin"] == ORIGIN and "POST" in headers["access-control-allow-methods"]
    status, headers, _ = curl(f"{real.url}/summarize", "-H", f"Origin: {ORIGIN}", "-H", "Content-Type: text/plain",
                              "--data-binary", "@events/article.txt")
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN
    status, headers, _ = curl(f"{real.url}/summarize", "-X", "OPTIONS", "-H", "Origin: https://evil.example")
    assert status == 204 and "access-control-allow-origin" not in headers


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_10_mb_is_413_without_invoking(real, tmp_path, chunked):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (serve_local.MAX_REQUEST_BODY + 1))
    invocations = real.output().count("START RequestId:")
    framing = ("-H", "Transfer-Encoding: chunked") if chunked else ()
    status, _, answer = curl(f"{real.url}/summarize", *framing, "-H", "Content-Type: text/plain",
                             "--data-binary", f"@{big}")
    assert status == 413 and json.loads(answer) == {"message": "Request Too Long"}
    assert real.output().count("START RequestId:") == invocations


def test_chunked_body_is_read(real):
    status, _, answer = curl(f"{real.url}/summarize", "-H", "Transfer-Encoding: chunked",
                             "-H", "Content-Type: text/plain", "--data-binary", "@events/article.txt")
    assert status == 200, answer
    assert json.loads(answer)[0]["summary_text"].startswith("Northwind Semiconductor raised its full-year revenue")


def raw_request(url: str, request: bytes) -> bytes:
    """Everything the server answers to REQUEST, up to its closing the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=CURL_MAX_TIME_S) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)  # a body cut short ends here
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


CHUNKED_HEAD = (b"POST /summarize HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")


def test_chunk_extensions_and_trailers_are_dropped_bad_framing_is_400(real):
    answer = raw_request(real.url, CHUNKED_HEAD + b"7;name=value\r\nStocks \r\n6\r\nrose. \r\n"
                                                  b"5\r\nMore.\r\n0\r\nX-Checksum: 1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer
    assert json.loads(body) == [{"summary_text": "Stocks rose."}]
    for framing in (b"zz\r\nStocks\r\n0\r\n\r\n", b"3\r\nStocks\r\n0\r\n\r\n", b"A\r\nStocks\r\n"):
        assert raw_request(real.url, CHUNKED_HEAD + framing).startswith(b"HTTP/1.1 400 "), framing  # not hex; long; short
    assert curl(f"{real.url}/summarize")[0] == 405  # still serving


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_event_over_lambdas_6_mb_is_the_functions_413_without_invoking(real, tmp_path, chunked):
    sentences = tmp_path / "sentences.txt"
    framing = ("-H", "Transfer-Encoding: chunked") if chunked else ()
    invocations = real.output().count("START RequestId:")
    sentences.write_bytes(b"Stocks rose. " * (6_000_000 // 13))  # the event stays under 6 MiB
    status, _, answer = curl(f"{real.url}/summarize", *framing, "-H", "Content-Type: text/plain",
                             "--data-binary", f"@{sentences}")
    assert (status, json.loads(answer)) == (200, [{"summary_text": "Stocks rose."}])
    assert real.output().count("START RequestId:") == invocations + 1
    sentences.write_bytes(b"Stocks rose. " * (6_400_000 // 13))
    status, headers, answer = curl(f"{real.url}/summarize", *framing, "-H", "Content-Type: text/plain",
                                   "--data-binary", f"@{sentences}")
    assert status == 413 and headers["content-type"] == "application/json"
    document = json.loads(answer)
    assert set(document) == {"error", "error_type", "requestId"} and document["error_type"] == "PayloadTooLarge"
    assert re.fullmatch(r"the request event is \d+ bytes; Lambda accepts at most 6291456 bytes", document["error"])
    uuid.UUID(document["requestId"])
    assert_request_id(headers, real.api_format)
    assert real.output().count("START RequestId:") == invocations + 1


def test_sigterm_stops_the_server_the_rie_and_the_standin():
    with Serve() as server:
        assert curl(f"{server.url}/summarize")[0] == 405  # starts the bootstrap
        pids = re.search(r"SageMaker stand-in \S+ \(pid (\d+)\); Lambda RIE pid (\d+)", server.output())
        standin_pid, rie_pid = int(pids.group(1)), int(pids.group(2))
        children = {pid for pid, ppid, _ in harness.live_processes() if ppid == rie_pid}
        assert children, "the RIE has no bootstrap running"
        # Signalled by hand: Serve.stop would also kill whatever serve_local left behind.
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 128 + signal.SIGTERM
        assert not {standin_pid, rie_pid, *children} & {pid for pid, _, _ in harness.live_processes()}


def test_refuses_to_listen_beyond_loopback():
    done = subprocess.run([sys.executable, "tools/serve_local.py", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=20, cwd=REPO_ROOT)
    assert done.returncode == 2 and "loopback" in done.stderr


# What the gateway sends and how it reads answers, without processes.

HEADERS = [("Host", "127.0.0.1:3000"), ("Content-Type", "application/x-www-form-urlencoded"),
           ("X-Rep", "1"), ("X-Rep", "2"), ("Cookie", "session=abc; theme=dark")]


def test_v1_event_is_a_rest_proxy_event():
    event = serve_local.event_for("v1", "POST", "/news/latest%20items?tag=a&tag=b", HEADERS, b"Stocks rose.", "rid")
    assert set(event) == set(fixture("example-apigw-request.json")) | {"isBase64Encoded"}
    assert event["httpMethod"] == event["requestContext"]["httpMethod"] == "POST"
    assert event["resource"] == "/{proxy+}" and event["pathParameters"] == {"proxy": "news/latest items"}
    assert event["headers"]["X-Rep"] == "2" and event["multiValueHeaders"]["X-Rep"] == ["1", "2"]
    assert event["queryStringParameters"] == {"tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert (event["body"], event["isBase64Encoded"]) == ("Stocks rose.", False)
    assert event["requestContext"]["requestId"] == "rid"
    event = serve_local.event_for("v1", "GET", "/summarize", HEADERS, b"", "rid")
    assert event["resource"] == "/summarize" and event["pathParameters"] is None
    assert event["queryStringParameters"] is None and event["body"] is None
    event = serve_local.event_for("v1", "POST", "/summarize", HEADERS, b"\xff\xfe", "rid")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\xfe"


def test_v2_event_is_an_http_api_event():
    event = serve_local.event_for("v2", "POST", "/summarize?tag=a&tag=b", HEADERS, b"Stocks rose.", "rid")
    sample = fixture("example-apigw-v2-request-no-authorizer.json")
    assert set(event) == set(sample) | {"cookies", "queryStringParameters", "body"}
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/summarize"
    assert event["rawQueryString"] == "tag=a&tag=b" and event["queryStringParameters"] == {"tag": "a,b"}
    assert event["headers"]["x-rep"] == "1,2" and "cookie" not in event["headers"]
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"Stocks rose."
    text = [("Content-Type", "text/plain; charset=utf-8")]
    event = serve_local.event_for("v2", "POST", "/", text, b"Stocks rose.", "rid")
    assert (event["body"], event["isBase64Encoded"]) == ("Stocks rose.", False)
    assert "queryStringParameters" not in event and "cookies" not in event


@pytest.mark.parametrize("api_format, answer", [
    ("v1", {"errorType": "Boom", "errorMessage": "it broke"}),  # a function error: the RIE says 200
    ("v2", {"errorType": "Boom", "errorMessage": "it broke"}),
    ("v1", {"hello": "world"}),  # a REST API wants a proxy response
    ("v2", "Task timed out after 30.00 seconds"),
    ("v1", {"statusCode": 1000}),
    ("v2", {"statusCode": 200, "headers": {"X-A": "1\r\nSet-Cookie: x=1"}}),
])
def test_what_the_gateway_refuses(api_format, answer):
    raw = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    with pytest.raises(serve_local.BadAnswer):
        serve_local.http_answer(api_format, 200, raw)
    with pytest.raises(serve_local.BadAnswer):  # a crash
        serve_local.http_answer(api_format, 502, b"")


def test_proxy_answers_become_http():
    raw = json.dumps({"statusCode": 202, "headers": {"A": "1", "B": "x", "Content-Length": "999"},
                      "multiValueHeaders": {"A": ["1", "2"]}, "body": base64.b64encode(b"\0\1").decode(),
                      "isBase64Encoded": True, "cookies": ["a=1"]}).encode()
    status, headers, body = serve_local.http_answer("v1", 200, raw)
    assert (status, body) == (202, b"\0\1")
    assert headers == [("A", "1"), ("A", "2"), ("B", "x"), ("Content-Type", "application/json")]
    _, headers, _ = serve_local.http_answer("v2", 200, raw)
    assert ("Set-Cookie", "a=1") in headers and ("A", "2") not in headers
    # An HTTP API takes JSON without a statusCode as a 200 answer of that JSON.
    assert serve_local.http_answer("v2", 200, b'[{"x": 1}]') == (200, [("Content-Type", "application/json")], b'[{"x": 1}]')
