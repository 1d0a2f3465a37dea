"""`make serve` end to end: tools/serve_local.py (the local API Gateway) in
front of the RIE running the bootstrap, driven with curl, for REST (v1) and
HTTP API (v2) events.

* ``real`` servers run the real bootstrap (``BOOTSTRAP``, as in conftest.py)
  against serve_local's own SageMaker stand-in;
* ``fake`` servers run a tiny Python bootstrap that echoes the event it got or
  answers badly on purpose, to check what the gateway sends and how it reads
  answers (502/500, merging headers, base64, cookies, timeouts);
* a few checks of the event builders against AWS's sample events.

Every server start waits a bounded time for the startup line, every curl has
--max-time, and conftest.py limits every test to 60 s.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness
import serve_local

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE = REPO_ROOT / "tools" / "serve_local.py"
EVENTS = REPO_ROOT / "events"
FIXTURES = REPO_ROOT / "Tests" / "LambdaEventsTests" / "Fixtures"
BOOTSTRAP = Path(os.environ.get("BOOTSTRAP", harness.DEFAULT_BOOTSTRAP)).resolve()
ORIGIN = "https://news.example.com"
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
CURL_MAX_TIME_S = 20
STARTUP_LINE = re.compile(
    r"^Serving on http://127\.0\.0\.1:(\d+) \((API Gateway REST v1 events|API Gateway HTTP API v2 events)\)"
    r" — POST /summarize$", re.M)
SHORT_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")  # HTTP API request ids, e.g. LV7fzho-PHcEJPw=


@pytest.fixture(autouse=True)
def _fresh_standin():
    """Replaces conftest's: serve_local starts its own stand-in."""
    yield


# --------------------------------------------------------------------------
# Helpers


class Serve:
    """tools/serve_local.py as a subprocess on a port it picks (--port 0)."""

    def __init__(self, *args: str):
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="serve-local-", suffix=".log", delete=False)

    def start(self) -> "Serve":
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVE), "--port", "0", *self.args],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not (match := STARTUP_LINE.search(self.output())):
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve_local exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"no startup line within {STARTUP_TIMEOUT_S} s:\n{self.output()}")
            time.sleep(0.05)
        self.port = int(match.group(1))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        with open(self._log.name, "rb") as log:
            return log.read().decode("utf-8", "replace")

    def pids(self) -> tuple[int, int]:
        """(stand-in pid, RIE pid) from serve_local's first log line."""
        match = re.search(r"SageMaker stand-in \S+ \(pid (\d+)\); Lambda RIE pid (\d+)", self.output())
        assert match, self.output()
        return int(match.group(1)), int(match.group(2))

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def close(self) -> None:
        self.stop()
        os.unlink(self._log.name)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]  # in order, names as received
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)


def curl(url: str, *args: str) -> Reply:
    """Run curl with ARGS; the final response (after any 100 Continue)."""
    with tempfile.TemporaryDirectory(prefix="curl-") as tmp:
        head, body = Path(tmp, "head"), Path(tmp, "body")
        done = subprocess.run(
            ["curl", "-sS", "--max-time", str(CURL_MAX_TIME_S), "-D", str(head), "-o", str(body), *args, url],
            capture_output=True, text=True, timeout=CURL_MAX_TIME_S + 5, cwd=REPO_ROOT)
        assert done.returncode == 0, f"curl failed ({done.returncode}): {done.stderr}"
        blocks = [b for b in head.read_bytes().decode("latin-1").split("\r\n\r\n") if b.strip()]
        lines = blocks[-1].split("\r\n")
        status = int(lines[0].split()[1])
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        return Reply(status, headers, body.read_bytes() if body.exists() else b"")


def post_json(url: str, *args: str) -> Reply:
    return curl(url, "-X", "POST", "-H", "Content-Type: application/json", *args)


def assert_gateway_headers(reply: Reply, api_format: str) -> None:
    """What API Gateway adds to every answer."""
    request_id = reply.header("x-amzn-RequestId")
    assert request_id, reply.headers
    if api_format == "v1":
        uuid.UUID(request_id)
        assert reply.header("x-amz-apigw-id")
        assert reply.header("X-Amzn-Trace-Id").startswith("Root=1-")
    else:
        assert SHORT_ID.match(request_id), request_id
        assert reply.header("Apigw-Requestid") == request_id
    assert reply.header("Server") is None  # API Gateway sends none
    assert reply.header("Date")
    if reply.status != 204:
        assert reply.header("Content-Length") == str(len(reply.body))


def assert_error_document(reply: Reply, status: int, error_type: str) -> dict:
    """The function's HTTP error shape: {"error": {"type", "message"}, "requestId"}."""
    assert reply.status == status, reply.body
    assert reply.header("Content-Type") == "application/json"
    document = reply.json()
    assert set(document) == {"error", "requestId"}, document
    assert document["error"]["type"] == error_type, document
    assert isinstance(document["error"]["message"], str) and document["error"]["message"]
    uuid.UUID(document["requestId"])  # the Lambda request id
    return document


def summaries(reply: Reply) -> list[str]:
    answer = reply.json()
    assert isinstance(answer, list) and answer, answer
    return [item["generated_text"] for item in answer]


# --------------------------------------------------------------------------
# The real function


@pytest.fixture(scope="module", params=["v1", "v2"])
def real(request):
    if not (BOOTSTRAP.is_file() and os.access(BOOTSTRAP, os.X_OK)):
        pytest.fail(f"no bootstrap at {BOOTSTRAP}: run `make build` (or set BOOTSTRAP=path)", pytrace=False)
    server = Serve("--format", request.param, "--bootstrap", str(BOOTSTRAP), "--cors-origins", ORIGIN)
    server.api_format = request.param
    try:
        yield server.start()
    finally:
        server.close()


def test_startup_line_names_the_event_format(real):
    label = {"v1": "API Gateway REST v1 events", "v2": "API Gateway HTTP API v2 events"}[real.api_format]
    assert f"Serving on {real.url} ({label}) — POST /summarize" in real.output()


def test_json_payload_gets_the_models_summaries(real):
    reply = post_json(f"{real.url}/summarize", "--data-binary", "@events/console-test.json")
    assert reply.status == 200, reply.body
    assert reply.header("Content-Type") == "application/json"
    found = summaries(reply)
    assert len(found) == 3  # "num_return_sequences": 3
    assert found[0].startswith("Northwind Semiconductor raised its full-year revenue forecast")
    assert_gateway_headers(reply, real.api_format)
    assert reply.header("Access-Control-Allow-Origin") is None  # no Origin sent
    assert reply.header("Vary") == "Origin"  # CORS is on, so caches must key on Origin


def test_plain_text_article(real):
    reply = curl(f"{real.url}/summarize", "--data-binary", "@events/article.txt", "-H", "Content-Type: text/plain")
    assert reply.status == 200, reply.body
    assert reply.header("Content-Type") == "application/json"
    assert summaries(reply)[0].startswith("Northwind Semiconductor raised")
    assert_gateway_headers(reply, real.api_format)


def test_form_encoded_article_as_curl_d_sends_it(real):
    # curl -d labels the file application/x-www-form-urlencoded; an HTTP API
    # passes that base64-encoded, a REST API as text: both must work.
    reply = curl(f"{real.url}/summarize", "-X", "POST", "-d", "@events/article.txt")
    assert reply.status == 200, reply.body
    assert summaries(reply)[0].startswith("Northwind Semiconductor raised")
    assert_gateway_headers(reply, real.api_format)


def test_get_is_405_with_allow(real):
    reply = curl(f"{real.url}/summarize")
    document = assert_error_document(reply, 405, "MethodNotAllowed")
    assert "GET" in document["error"]["message"]
    assert reply.header("Allow") == "OPTIONS, POST"
    assert_gateway_headers(reply, real.api_format)


def test_head_is_405_without_a_body(real):
    # HEAD then GET on one kept-alive connection: a body sent after the HEAD
    # answer would be read as the start of the next answer.
    connection = http.client.HTTPConnection("127.0.0.1", real.port, timeout=CURL_MAX_TIME_S)
    try:
        connection.request("HEAD", "/summarize")
        head = connection.getresponse()
        assert head.status == 405 and head.read() == b""
        assert head.getheader("Allow") == "OPTIONS, POST"
        assert int(head.getheader("Content-Length")) > 0  # what a GET would get
        connection.request("GET", "/summarize")
        get = connection.getresponse()
        assert get.status == 405
        assert json.loads(get.read())["error"]["type"] == "MethodNotAllowed"
    finally:
        connection.close()


def test_invalid_json_is_400(real):
    reply = post_json(f"{real.url}/summarize", "--data-binary", '{"inputs": ')
    assert_error_document(reply, 400, "InvalidJSON")
    assert_gateway_headers(reply, real.api_format)


def test_invalid_payload_names_the_field(real):
    reply = post_json(f"{real.url}/summarize", "--data-binary", '{"input": "typo"}')
    document = assert_error_document(reply, 400, "InvalidRequest")
    assert '"input"' in document["error"]["message"]


def test_unsupported_content_type_is_415(real):
    reply = curl(f"{real.url}/summarize", "-X", "POST", "-H", "Content-Type: application/xml",
                 "--data-binary", "<article>Stocks rose.</article>")
    document = assert_error_document(reply, 415, "UnsupportedMediaType")
    assert "application/xml" in document["error"]["message"]
    assert_gateway_headers(reply, real.api_format)


def test_cors_preflight_from_an_allowed_origin(real):
    reply = curl(f"{real.url}/summarize", "-X", "OPTIONS", "-H", f"Origin: {ORIGIN}",
                 "-H", "Access-Control-Request-Method: POST",
                 "-H", "Access-Control-Request-Headers: content-type")
    assert reply.status == 204, reply.body
    assert reply.body == b""
    assert reply.header("Access-Control-Allow-Origin") == ORIGIN
    assert "POST" in reply.header("Access-Control-Allow-Methods")
    assert "content-type" in reply.header("Access-Control-Allow-Headers").lower()
    assert reply.header("Access-Control-Max-Age")
    assert reply.header("Allow") == "OPTIONS, POST"
    assert reply.header("Vary") == "Origin"
    assert reply.header("Content-Length") is None  # none on a 204
    assert_gateway_headers(reply, real.api_format)


def test_cors_preflight_from_another_origin_gets_no_grant(real):
    reply = curl(f"{real.url}/summarize", "-X", "OPTIONS", "-H", "Origin: https://evil.example",
                 "-H", "Access-Control-Request-Method: POST")
    assert reply.status == 204
    assert reply.header("Access-Control-Allow-Origin") is None
    assert reply.header("Access-Control-Allow-Methods") is None


def test_cors_post_from_the_allowed_origin(real):
    reply = curl(f"{real.url}/summarize", "-H", f"Origin: {ORIGIN}", "-H", "Content-Type: text/plain",
                 "--data-binary", "@events/article.txt")
    assert reply.status == 200, reply.body
    assert reply.header("Access-Control-Allow-Origin") == ORIGIN
    assert reply.header("Vary") == "Origin"


def test_body_over_10_mb_is_413_without_invoking(real, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (serve_local.MAX_REQUEST_BODY + 1))
    invocations = real.output().count("START RequestId:")
    for extra in ([], ["-H", "Expect:"]):  # with and without Expect: 100-continue
        reply = curl(f"{real.url}/summarize", "-H", "Content-Type: text/plain", "--data-binary", f"@{big}", *extra)
        assert reply.status == 413
        assert reply.json() == {"message": "Request Too Long"}
        assert reply.header("x-amzn-RequestId")
    time.sleep(0.2)
    assert real.output().count("START RequestId:") == invocations
    # and the server is fine afterwards
    assert curl(f"{real.url}/summarize").status == 405


# --------------------------------------------------------------------------
# A fake function: what the gateway sends, and how it reads answers

FAKE_BOOTSTRAP = textwrap.dedent('''\
    #!/usr/bin/env python3
    """Fake function for tests/e2e/test_serve.py: the answer depends on the path."""
    import base64, json, os, time, urllib.request

    API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"

    def post(url, document):
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST")).read()

    while True:
        with urllib.request.urlopen(API + "next") as answer:
            request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(answer.read())
        path = event.get("rawPath") or event.get("path")
        respond = API + request_id + "/response"
        if path == "/error":
            post(API + request_id + "/error", {"errorType": "Boom", "errorMessage": "it broke"})
        elif path == "/crash":
            os._exit(7)
        elif path == "/raw":
            post(respond, {"hello": "world"})
        elif path == "/text":
            post(respond, b"this is not JSON")
        elif path == "/extra":
            post(respond, {"statusCode": 201, "body": "extra", "unexpected": 1})
        elif path == "/nostatus":
            post(respond, {"body": "no status"})
        elif path == "/binary":
            post(respond, {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                           "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True})
        elif path == "/headers":
            answer = {"statusCode": 202, "body": "",
                      "headers": {"X-Single": "one", "X-Both": "same", "Content-Length": "999"},
                      "multiValueHeaders": {"X-Multi": ["a", "b"], "X-Both": ["same"]}}
            if event.get("version") == "2.0":
                answer["cookies"] = ["a=1; Path=/", "b=2; HttpOnly"]
            post(respond, answer)
        elif path == "/sleep":
            time.sleep(2)
            post(respond, {"statusCode": 200, "body": "slept"})
        else:
            post(respond, {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                           "body": json.dumps(event)})
    ''')


@pytest.fixture(scope="module")
def fake_bootstrap(tmp_path_factory):
    path = tmp_path_factory.mktemp("fake-function") / "bootstrap"
    path.write_text(FAKE_BOOTSTRAP)
    path.chmod(0o755)
    return path


def serve_fake(api_format: str, bootstrap: Path):
    server = Serve("--format", api_format, "--bootstrap", str(bootstrap),
                   "--integration-timeout", "1", "--stage", "beta")
    server.api_format = api_format
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture(scope="module")
def fake_v1(fake_bootstrap):
    yield from serve_fake("v1", fake_bootstrap)


@pytest.fixture(scope="module")
def fake_v2(fake_bootstrap):
    yield from serve_fake("v2", fake_bootstrap)


@pytest.fixture(params=["v1", "v2"])
def fake(request):
    return request.getfixturevalue(f"fake_{request.param}")


def echoed_event(fake, path: str, *args: str) -> tuple[Reply, dict]:
    reply = curl(f"{fake.url}{path}", *args)
    assert reply.status == 200, reply.body
    return reply, reply.json()


def test_v1_event_is_a_rest_proxy_event(fake_v1):
    _, event = echoed_event(
        fake_v1, "/summarize?lang=en&tag=a&tag=b&empty=", "-X", "POST", "-H", "Content-Type: text/plain",
        "-H", "X-Rep: 1", "-H", "X-Rep: 2", "-H", "Cookie: session=abc", "--data-binary", "Stocks rose.")
    sample = json.loads((FIXTURES / "example-apigw-request.json").read_text())
    assert set(event) == set(sample) | {"isBase64Encoded"}
    assert event["resource"] == "/summarize" and event["path"] == "/summarize"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["X-Rep"] == "2"
    assert event["multiValueHeaders"]["X-Rep"] == ["1", "2"]
    assert event["headers"]["Content-Type"] == "text/plain"
    assert event["headers"]["Cookie"] == "session=abc"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-Port"] == str(fake_v1.port)
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert event["queryStringParameters"] == {"lang": "en", "tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"lang": ["en"], "tag": ["a", "b"], "empty": [""]}
    assert event["pathParameters"] is None and event["stageVariables"] is None
    assert event["body"] == "Stocks rose." and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert set(sample["requestContext"]) - {"authorizer"} <= set(context)
    assert context["resourcePath"] == "/summarize" and context["httpMethod"] == "POST"
    assert context["stage"] == "beta" and context["path"] == "/beta/summarize"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"].startswith("curl/")
    assert context["protocol"] == "HTTP/1.1"
    uuid.UUID(context["requestId"])
    assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 60
    assert re.match(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$", context["requestTime"])


def test_v1_event_for_other_paths_and_empty_bodies(fake_v1):
    _, event = echoed_event(fake_v1, "/news/latest%20items")
    assert event["resource"] == "/{proxy+}" and event["path"] == "/news/latest items"
    assert event["pathParameters"] == {"proxy": "news/latest items"}
    assert event["requestContext"]["resourcePath"] == "/{proxy+}"
    assert event["httpMethod"] == "GET"
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None


def test_v1_non_utf8_body_goes_base64_encoded(fake_v1):
    payload = bytes([0xFF, 0xFE, 0x00, 0x41])
    reply = subprocess.run(
        ["curl", "-sS", "--max-time", str(CURL_MAX_TIME_S), "-H", "Content-Type: text/plain",
         "--data-binary", "@-", f"{fake_v1.url}/summarize"],
        input=payload, capture_output=True, timeout=CURL_MAX_TIME_S + 5)
    event = json.loads(reply.stdout)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_v2_event_is_an_http_api_event(fake_v2):
    _, event = echoed_event(
        fake_v2, "/summarize?lang=en&tag=a&tag=b", "-X", "POST", "-H", "Content-Type: application/json",
        "-H", "X-Rep: 1", "-H", "X-Rep: 2", "-H", "Cookie: session=abc; theme=dark",
        "--data-binary", '{"inputs": "Stocks rose."}')
    sample = json.loads((FIXTURES / "example-apigw-v2-request-no-authorizer.json").read_text())
    assert set(event) == set(sample) | {"cookies", "queryStringParameters", "body"}
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/summarize" and event["rawQueryString"] == "lang=en&tag=a&tag=b"
    assert event["queryStringParameters"] == {"lang": "en", "tag": "a,b"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-rep"] == "1,2"
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-forwarded-port"] == str(fake_v2.port)
    assert event["body"] == '{"inputs": "Stocks rose."}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert set(sample["requestContext"]) - {"authentication"} <= set(context)
    assert context["http"]["method"] == "POST" and context["http"]["path"] == "/summarize"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"].startswith("curl/")
    assert context["stage"] == "$default" and context["routeKey"] == "$default"
    assert SHORT_ID.match(context["requestId"])
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60


def test_v2_event_base64_encodes_non_text_bodies(fake_v2):
    _, event = echoed_event(fake_v2, "/summarize", "-d", "Stocks rose.")  # form-encoded
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"Stocks rose."
    _, event = echoed_event(fake_v2, "/summarize", "-H", "Content-Type: text/plain; charset=utf-8",
                            "--data-binary", "Stocks rose.")
    assert event["isBase64Encoded"] is False and event["body"] == "Stocks rose."
    _, event = echoed_event(fake_v2, "/")  # GET without a body or query
    assert "body" not in event and "queryStringParameters" not in event and "cookies" not in event
    assert event["isBase64Encoded"] is False


def test_function_error_is_an_internal_server_error(fake):
    reply = curl(f"{fake.url}/error")
    if fake.api_format == "v1":
        assert reply.status == 502 and reply.json() == {"message": "Internal server error"}
    else:
        assert reply.status == 500 and reply.json() == {"message": "Internal Server Error"}
    assert reply.header("Content-Type") == "application/json"
    assert_gateway_headers(reply, fake.api_format)
    time.sleep(0.1)
    assert "function error Boom: it broke" in fake.output()


def test_crash_is_an_internal_server_error_and_the_next_request_works(fake):
    reply = curl(f"{fake.url}/crash")
    assert reply.status == (502 if fake.api_format == "v1" else 500)
    assert "Runtime.ExitError" in fake.output()
    _, event = echoed_event(fake, "/after-crash")  # the RIE starts a new bootstrap
    assert event.get("path", event.get("rawPath")) == "/after-crash"


@pytest.mark.parametrize("path", ["/raw", "/text", "/extra", "/nostatus"])
def test_answers_that_are_not_proxy_responses(fake, path):
    reply = curl(f"{fake.url}{path}")
    if fake.api_format == "v1":
        # REST APIs want exactly a proxy response: anything else is 502.
        assert reply.status == 502, (path, reply.body)
        assert reply.json() == {"message": "Internal server error"}
    elif path == "/text":
        assert reply.status == 500 and reply.json() == {"message": "Internal Server Error"}
    elif path == "/extra":
        assert reply.status == 201 and reply.body == b"extra"  # unknown keys are ignored
    else:
        # HTTP APIs take JSON without statusCode as a 200 application/json answer of that JSON.
        assert reply.status == 200, (path, reply.body)
        assert reply.header("Content-Type") == "application/json"
        assert reply.json() == ({"hello": "world"} if path == "/raw" else {"body": "no status"})


def test_base64_answers_are_decoded(fake):
    reply = curl(f"{fake.url}/binary")
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/octet-stream"
    assert reply.body == bytes(range(256))


def test_answer_headers_multi_values_and_cookies(fake):
    reply = curl(f"{fake.url}/headers")
    assert reply.status == 202
    assert reply.header("X-Single") == "one"
    assert reply.header("Content-Length") == "0"  # the gateway's, not the function's 999
    assert reply.header("Content-Type") == "application/json"  # the default
    if fake.api_format == "v1":
        assert reply.all("X-Multi") == ["a", "b"]
        assert reply.all("X-Both") == ["same"]  # same pair in both: once
        assert reply.all("Set-Cookie") == []
    else:
        assert reply.all("X-Multi") == []  # no multiValueHeaders in payload format 2.0
        assert reply.all("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_integration_timeout_then_the_queue_drains(fake):
    # --integration-timeout 1 and a function that takes 2 s
    reply = curl(f"{fake.url}/sleep")
    if fake.api_format == "v1":
        assert reply.status == 504 and reply.json() == {"message": "Endpoint request timed out"}
    else:
        assert reply.status == 503 and reply.json() == {"message": "Service Unavailable"}
    time.sleep(1.5)  # the invocation finishes in the background
    _, event = echoed_event(fake, "/after")
    assert event.get("path", event.get("rawPath")) == "/after"


# --------------------------------------------------------------------------
# Process handling and the command line


def test_sigterm_stops_the_server_the_rie_and_the_standin():
    if not (BOOTSTRAP.is_file() and os.access(BOOTSTRAP, os.X_OK)):
        pytest.fail(f"no bootstrap at {BOOTSTRAP}: run `make build` (or set BOOTSTRAP=path)", pytrace=False)
    server = Serve("--bootstrap", str(BOOTSTRAP)).start()
    try:
        assert curl(f"{server.url}/summarize").status == 405  # starts the bootstrap
        standin_pid, rie_pid = server.pids()
        children = [pid for pid, ppid, _ in harness.live_processes() if ppid == rie_pid]
        assert children, "the RIE has no bootstrap running"
        assert server.stop() == 128 + signal.SIGTERM
        assert "stopped by signal 15" in server.output()
        live = {pid for pid, _, _ in harness.live_processes()}
        assert not {standin_pid, rie_pid, *children} & live
    finally:
        server.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_refuses_to_listen_beyond_loopback(host):
    done = subprocess.run([sys.executable, str(SERVE), "--host", host, "--port", "0"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert "--host" in done.stderr
    assert "Serving on" not in done.stderr


# --------------------------------------------------------------------------
# The event builders against AWS's samples (no processes)


def test_v2_event_for_a_bare_get_has_the_sample_event_keys():
    request = serve_local.Request(method="GET", target="/", headers=[("Host", "127.0.0.1:3000"),
                                                                     ("User-Agent", "curl/8.0"), ("Accept", "*/*")])
    event = serve_local.v2_event(request, request_id="LV7fzho-PHcEJPw=")
    sample = json.loads((FIXTURES / "apigw_v2_proxy_request_minimal.json").read_text())
    assert set(event) == set(sample)
    assert set(event["requestContext"]) == set(sample["requestContext"])
    assert set(event["requestContext"]["http"]) == set(sample["requestContext"]["http"])


def test_v1_answer_merges_headers_as_api_gateway_documents():
    raw = json.dumps({"statusCode": 200, "headers": {"A": "1", "B": "x"},
                      "multiValueHeaders": {"A": ["1", "2"]}, "body": "ok"}).encode()
    response = serve_local.v1_response(raw)
    assert [(n, v) for n, v in response.headers if n in ("A", "B")] == [("A", "1"), ("A", "2"), ("B", "x")]
    with pytest.raises(serve_local.BadAnswer):
        serve_local.v1_response(b'{"statusCode": true, "body": ""}')
    with pytest.raises(serve_local.BadAnswer):
        serve_local.v1_response(b'{"statusCode": 200, "body": {"not": "a string"}}')
