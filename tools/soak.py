#!/usr/bin/env python3
"""Soak test: one bootstrap process under the RIE, 100,000 mixed invocations, every answer
checked, no leak, no restart.  What it runs and checks: docs/soak.md.

    python3 tools/soak.py                    # 100,000 invocations, warm-up 2,000
    python3 tools/soak.py --quick            # 3,000 invocations, warm-up 1,000 (CI smoke)
    python3 tools/soak.py --invocations 20000 --json soak.json
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

TOOLS = Path(__file__).resolve().parent
REPO_ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))

import harness  # noqa: E402
from proxy_events import ALB_TRACE_ID, alb, fixture, http_v2, rest_v1  # noqa: E402
import sagemaker_standin  # noqa: E402  (its model computes the expected summaries)

EVENTS = REPO_ROOT / "events"
RESULT_KEY = "generated_text"  # the stand-in's default task, text2text-generation

DEFAULT_INVOCATIONS = 100_000
DEFAULT_WARMUP = 2_000
QUICK_INVOCATIONS = 3_000
QUICK_WARMUP = 1_000

# What must never leave the function, in an answer or in its log.
SECRETS = {
    "session token": harness.SESSION_TOKEN,
    "access key id": harness.ACCESS_KEY,
    "secret key": harness.SECRET_KEY,
}


def secrets_in(data: bytes) -> list[str]:
    return [name for name, value in SECRETS.items() if value.encode() in data]


class SoakAbort(Exception):
    """The run cannot go on (the RIE died, a client timeout, out of time)."""


# ---------------------------------------------------------------------------
# What an answer must be.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What one invocation must answer.

    ``kind`` is "direct" (the RIE body is the model's JSON or a Lambda error
    document) or "http" (the body is an API Gateway / ALB response object).
    ``answer`` set: a success with exactly this model answer.  Otherwise
    ``error_type`` (errorType, or the HTTP body's error.type) and, for http,
    ``status`` (statusCode); ``fragment`` must occur in the message;
    ``headers`` must be among the response headers; ``model_status`` is the
    HTTP error's modelStatusCode.  ``status`` 204 with no error_type is a
    CORS preflight answer.
    """

    kind: str
    answer: Any = None
    error_type: str | None = None
    status: int | None = None
    fragment: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    model_status: int | None = None


def _response_headers(response: dict) -> dict[str, str]:
    headers = response.get("headers")
    if isinstance(headers, dict) and headers:
        return headers
    multi = response.get("multiValueHeaders")
    if isinstance(multi, dict):
        return {k: v[0] for k, v in multi.items() if isinstance(v, list) and v}
    return {}


def check(expect: Expect, rie_status: int, body: bytes) -> str | None:
    """None if the RIE's answer is what EXPECT says, else why not."""
    if rie_status != 200:
        return f"RIE status {rie_status}"
    try:
        document = json.loads(body)
    except ValueError:
        return "answer is not JSON"
    if expect.kind == "direct":
        if expect.answer is not None:
            if isinstance(document, dict) and "errorType" in document:
                return f"errorType {document.get('errorType')!r} instead of a success"
            if document != expect.answer:
                return "success with a different model answer"
            return None
        if not isinstance(document, dict) or "errorType" not in document:
            return f"success instead of errorType {expect.error_type!r}"
        if document.get("errorType") != expect.error_type:
            return f"errorType {document.get('errorType')!r}, expected {expect.error_type!r}"
        if expect.fragment and expect.fragment not in str(document.get("errorMessage")):
            return f"errorMessage lacks {expect.fragment!r}"
        return None

    # An HTTP front's response object.
    if not isinstance(document, dict) or "statusCode" not in document:
        kind = document.get("errorType") if isinstance(document, dict) else None
        return f"not an HTTP response object (errorType {kind!r})"
    status = document["statusCode"]
    headers = _response_headers(document)
    for name, value in expect.headers:
        if headers.get(name) != value:
            return f"header {name}: {headers.get(name)!r}, expected {value!r}"
    if expect.answer is not None:
        if status != 200:
            return f"statusCode {status}, expected 200"
        if headers.get("Content-Type") != "application/json":
            return f"Content-Type {headers.get('Content-Type')!r}"
        try:
            answer = json.loads(document.get("body") or "")
        except ValueError:
            return "success body is not JSON"
        if answer != expect.answer:
            return "success with a different model answer"
        return None
    if status != expect.status:
        return f"statusCode {status}, expected {expect.status}"
    if expect.error_type is None:  # a preflight: no body to look at
        return None
    try:
        error = json.loads(document.get("body") or "")["error"]
    except (ValueError, KeyError, TypeError):
        return "error body is not {\"error\": ...}"
    if error.get("type") != expect.error_type:
        return f"error.type {error.get('type')!r}, expected {expect.error_type!r}"
    if expect.fragment and expect.fragment not in str(error.get("message")):
        return f"error.message lacks {expect.fragment!r}"
    if expect.model_status is not None and error.get("modelStatusCode") != expect.model_status:
        return f"modelStatusCode {error.get('modelStatusCode')!r}, expected {expect.model_status}"
    return None


# ---------------------------------------------------------------------------
# Events.
# ---------------------------------------------------------------------------

ARTICLE = (EVENTS / "article.txt").read_text().strip()
SHORT = [
    "Copper hit a record high. Miners rallied. The dollar slipped.",
    "Stocks rallied on Friday after the jobs report. Bonds fell. Oil was flat.",
    "Le CAC 40 a gagné 1,2 % vendredi. Les banques ont mené la hausse. "
    "Der DAX stieg um 0,8 %. 日経平均は反発した。",
    "Brent crude fell 2.4% to $71.20 a barrel on Wednesday. Stockpiles rose by "
    "4.1 million barrels last week. Traders weighed OPEC+ output plans.",
]
ARTICLES = [ARTICLE] + SHORT


def model_answer(payload: dict) -> Any:
    """What the stand-in's model answers for PAYLOAD (the bootstrap passes
    inputs and parameters on unchanged)."""
    return sagemaker_standin.run_model(
        "application/json", json.dumps(payload).encode(), RESULT_KEY
    )


def encode(event: Any) -> bytes:
    return event if isinstance(event, bytes) else json.dumps(event).encode()


Variant = tuple[bytes, Expect]


def succeeds(kind: str, event: Any, payload: dict) -> Variant:
    """EVENT (for "direct", the payload itself) must be answered with the model's answer to PAYLOAD."""
    return encode(event), Expect(kind, answer=model_answer(payload))


def ok_payloads() -> list[dict]:
    """Valid payloads: every article, 1-3 summaries, with and without parameters."""
    payloads = []
    for index, article in enumerate(ARTICLES):
        payloads.append({"inputs": article})
        payloads.append({"inputs": article, "parameters": {"num_return_sequences": 1 + index % 3, "max_length": 96}})
    payloads.append({"inputs": ARTICLE, "parameters": {"num_return_sequences": 3, "do_sample": False, "top_p": 0.9}})
    return payloads


def direct_ok() -> list[Variant]:
    return [succeeds("direct", p, p) for p in ok_payloads()]


def direct_batch_ok() -> list[Variant]:
    batch = json.loads((EVENTS / "batch.json").read_text())
    console = json.loads((EVENTS / "console-test.json").read_text())
    payloads = [batch, console, {"inputs": SHORT, "parameters": {"num_return_sequences": 2}}]
    return [succeeds("direct", p, p) for p in payloads]


def http_shapes(payload: dict) -> list[dict]:
    """PAYLOAD as each proxy event shape (JSON body, base64 or not)."""
    text = json.dumps(payload)
    return [
        rest_v1(text),
        rest_v1(text, base64_body=True),
        http_v2(text),
        http_v2(text, base64_body=True),
        http_v2(text, name="lambda_function_url_request.json"),
        alb(text),
        alb(text, multi=True),
    ]


def http_ok(shapes: Callable[[str], list[dict]]) -> list[Variant]:
    return [succeeds("http", event, payload)
            for payload in ok_payloads()[::2] + ok_payloads()[1::4] for event in shapes(json.dumps(payload))]


def fixed_http_ok() -> list[Variant]:
    """The repository's own fixtures, unchanged, and plain-text bodies."""
    console = fixture("own-apigw-console-test-null-maps.json")
    multi = fixture("own-alb-multi-value-post.json")
    variants = [succeeds("http", console, json.loads(console["body"])),
                succeeds("http", multi, json.loads(base64.b64decode(multi["body"])))]
    for article in ARTICLES:
        variants += [succeeds("http", event, {"inputs": article}) for event in (
            rest_v1(article, headers={"Content-Type": "text/plain; charset=utf-8"}),
            http_v2(article, headers={"content-type": "application/x-www-form-urlencoded"}),
            http_v2(article.encode(), headers={"content-type": "text/plain"}))]
    return variants


def invalid(kind_events: list[tuple[Any, str]]) -> list[Variant]:
    return [(encode(e), Expect("direct", error_type="InvalidPayload", fragment=f)) for e, f in kind_events]


DIRECT_INVALID_JSON = [
    (b'{"inputs": "unterminated', "not valid JSON"),
    (b'{"inputs": "x"} trailing', "not valid JSON"),
    (b"", "not valid JSON"),
    (b'{"inputs": "x",}', "not valid JSON"),
    (b'{"inputs": ["a", "b",]}', "not valid JSON"),
    (b'{"inputs": "x" "y"}', "not valid JSON"),
    (b"{'inputs': 'x'}", "not valid JSON"),
    (b"\xff\xfe{}", None),
]
DIRECT_WRONG_TYPES = [
    ({"inputs": 42}, '"inputs" must be a string or a list of strings'),
    ({"inputs": ["fine", 7]}, '"inputs[1]" must be a string'),
    ({"inputs": "x", "parameters": {"num_return_sequences": "five"}}, '"parameters.num_return_sequences" must be an integer'),
    ({"inputs": "x", "parameters": "fast"}, '"parameters" must be an object'),
    ({"inputs": "x", "parameters": {"num_return_sequences": 0}}, '"parameters.num_return_sequences" must be between'),
    ({"inputs": "x", "parameters": {"min_length": 50, "max_length": 10}}, '"parameters.min_length"'),
    ({"inputs": {"text": "x"}}, '"inputs" must be a string or a list of strings'),
]
DIRECT_EMPTY = [
    ({"inputs": ""}, '"inputs" is empty'),
    ({"inputs": "   \n\t"}, '"inputs" is empty'),
    ({"inputs": []}, '"inputs" is an empty list'),
    ({}, '"inputs" is required'),
    ({"inputs": None}, '"inputs" is required'),
    ({"inputs": ["ok", ""]}, '"inputs[1]" is empty'),
]
DIRECT_NON_OBJECT = [
    (b'"just text"', "must be a JSON object"),
    (b"42", "got a number"),
    (b"null", "got null"),
    (b"[1, 2, 3]", "got an array"),
    (b"true", "must be a JSON object"),
]
DIRECT_UNKNOWN_FIELD = [
    (json.loads((EVENTS / "bad-console-default.json").read_text()), '"key1" is not a known field'),
    ({"input": "typo"}, '"input" is not a known field'),
    ({"inputs": "x", "paramters": {}}, '"paramters" is not a known field'),
]


def http_error(event: dict, status: int, error_type: str, fragment: str | None = None,
               headers: tuple = ()) -> Variant:
    return encode(event), Expect("http", status=status, error_type=error_type, fragment=fragment, headers=headers)


def http_invalid_json() -> list[Variant]:
    return [
        http_error(rest_v1('{"inputs": '), 400, "InvalidJSON", "not valid JSON"),
        http_error(http_v2('{"inputs": "x"'), 400, "InvalidJSON", "not valid JSON"),
        http_error(alb("{not json}"), 400, "InvalidJSON"),
        http_error(http_v2("[1, 2, 3]"), 400, "InvalidJSON", "must be a JSON object"),
        http_error(rest_v1("null"), 400, "InvalidJSON"),
    ]


def http_invalid_request() -> list[Variant]:
    return [
        http_error(http_v2('{"parameters": {}}'), 400, "InvalidRequest", '"inputs" is required'),
        http_error(alb('{"inputs": ""}'), 400, "InvalidRequest", '"inputs" is empty'),
        http_error(rest_v1('{"inputs": 42}'), 400, "InvalidRequest", '"inputs" must be a string or a list of strings'),
        http_error(http_v2('{"inputs": "x", "parameters": {"top_k": "many"}}'), 400, "InvalidRequest", '"parameters.top_k"'),
        http_error(rest_v1(b'{"inputs": ["a", 1]}'), 400, "InvalidRequest", '"inputs[1]"'),
        http_error(rest_v1(None, headers={"Content-Type": "text/plain"}), 400, "InvalidRequest", "empty"),
        http_error(http_v2("  \n ", headers={"content-type": "text/plain"}), 400, "InvalidRequest", "empty"),
        http_error(rest_v1(b"\xff\xfe\xfa article", headers={"Content-Type": "text/plain"}), 400, "InvalidRequest", "UTF-8"),
        http_error(dict(http_v2(None), body="%%%not-base64%%%", isBase64Encoded=True), 400, "InvalidBase64", "base64"),
        http_error(rest_v1("!!!!", base64_body=False) | {"body": "!!!!", "isBase64Encoded": True}, 400, "InvalidBase64"),
    ]


ALLOW = (("Allow", "OPTIONS, POST"),)


def http_refused() -> list[Variant]:
    text = json.dumps({"inputs": SHORT[0]})
    return [
        http_error(rest_v1(None, method="GET"), 405, "MethodNotAllowed", "POST", ALLOW),
        http_error(http_v2(text, method="PUT"), 405, "MethodNotAllowed", "POST", ALLOW),
        http_error(dict(alb(text), httpMethod="DELETE"), 405, "MethodNotAllowed", "POST", ALLOW),
        http_error(rest_v1(text, headers={"Content-Type": "application/xml"}), 415, "UnsupportedMediaType", "application/xml"),
        http_error(http_v2(text, headers={"content-type": "text/plain; charset=ISO-8859-1"}), 415, "UnsupportedMediaType", "iso-8859-1"),
        http_error(http_v2("x", headers={"content-type": "multipart/form-data; boundary=----x"}), 415, "UnsupportedMediaType"),
        (encode(rest_v1(None, method="OPTIONS", headers={"Origin": "https://news.example.com"})),
         Expect("http", status=204, headers=ALLOW)),
        (encode(http_v2(None, method="OPTIONS")), Expect("http", status=204, headers=ALLOW)),
    ]


def upstream(error_type: str, http_status: int, fragment: str | None = None,
             retry_after: str | None = None, model_status: int | None = None) -> list[Variant]:
    """Valid requests (direct and every proxy shape) that must fail with ERROR_TYPE."""
    headers = (("Retry-After", retry_after),) if retry_after else ()
    payload = {"inputs": SHORT[1], "parameters": {"num_return_sequences": 2}}
    variants = [(encode(payload), Expect("direct", error_type=error_type, fragment=fragment))] * 3
    for event in http_shapes(payload)[::2] + [rest_v1(SHORT[0], headers={"Content-Type": "text/plain"})]:
        variants.append((encode(event), Expect(
            "http", status=http_status, error_type=error_type, fragment=fragment,
            headers=headers, model_status=model_status)))
    return variants


def alb_trace_ok() -> list[Variant]:
    """ALB events carrying ALB_TRACE_ID, too long for an inference id, which must still succeed."""
    variants = []
    for payload in ({"inputs": SHORT[0]}, {"inputs": SHORT[3], "parameters": {"num_return_sequences": 2}}):
        for multi in (False, True):
            event = alb(json.dumps(payload), multi=multi)
            if multi:
                event["multiValueHeaders"]["x-amzn-trace-id"] = [ALB_TRACE_ID]
            else:
                event["headers"]["x-amzn-trace-id"] = ALB_TRACE_ID
            variants.append(succeeds("http", event, payload))
    return variants


def upstream_ok() -> list[Variant]:
    """Valid requests, direct and proxied, that must succeed."""
    return [variant for payload in ({"inputs": SHORT[2]}, {"inputs": ARTICLE, "parameters": {"num_return_sequences": 2}})
            for variant in (succeeds("direct", payload, payload), succeeds("http", http_v2(json.dumps(payload)), payload),
                            succeeds("http", rest_v1(json.dumps(payload), base64_body=True), payload))]


# ---------------------------------------------------------------------------
# Cases and the mix.
# ---------------------------------------------------------------------------

NO_FAULT = {"mode": "none"}
RETRIED = (1, 3)  # AWS_MAX_ATTEMPTS=3; the time budget may stop retries early


@dataclass
class Case:
    """One kind of invocation.

    ``plan``: the stand-in fault plan it needs (None: the payload never
    reaches SageMaker, any plan will do).  ``per_invocation``: the plan has a
    count and is installed before every invocation of this case.
    ``per_round``: how many of each round of the schedule are this case.
    ``requests``: InvokeEndpoint requests per invocation, (min, max);
    default (1, 1) with a plan, (0, 0) without.
    """

    name: str
    per_round: int
    variants: list[Variant]
    plan: dict | None = None
    per_invocation: bool = False
    # InvokeEndpoint requests one invocation makes (min, max): retryable
    # failures make AWS_MAX_ATTEMPTS (3) unless the time budget stops them.
    requests: tuple[int, int] | None = None
    count: int = 0
    mismatches: int = 0
    _next: int = 0

    def next_variant(self) -> Variant:
        variant = self.variants[self._next % len(self.variants)]
        self._next += 1
        return variant


def build_cases(slow_ms: int) -> list[Case]:
    """The mix, per round of 1,000 invocations (direct-ok fills the round)."""
    cases = [
        Case("direct-ok", 0, direct_ok(), NO_FAULT),
        Case("direct-batch-ok", 30, direct_batch_ok(), NO_FAULT),
        Case("apigw-v1-ok", 90, http_ok(lambda t: [rest_v1(t), rest_v1(t, base64_body=True)]), NO_FAULT),
        Case("apigw-v2-ok", 90, http_ok(lambda t: [http_v2(t), http_v2(t, base64_body=True)]), NO_FAULT),
        Case("url-alb-ok", 50, http_ok(lambda t: [http_v2(t, name="lambda_function_url_request.json"),
                                                   alb(t), alb(t, multi=True)]), NO_FAULT),
        Case("fixture-text-ok", 40, fixed_http_ok(), NO_FAULT),
        Case("direct-invalid-json", 30, invalid(DIRECT_INVALID_JSON)),
        Case("direct-wrong-type", 40, invalid(DIRECT_WRONG_TYPES)),
        Case("direct-empty-inputs", 30, invalid(DIRECT_EMPTY)),
        Case("direct-non-object", 25, invalid(DIRECT_NON_OBJECT)),
        Case("direct-unknown-field", 15, invalid(DIRECT_UNKNOWN_FIELD)),
        Case("http-invalid-json", 25, http_invalid_json()),
        Case("http-invalid-request", 40, http_invalid_request()),
        Case("http-refused", 25, http_refused()),
        # Upstream faults.  Retried ones wait up to 100 ms (+200 ms) of backoff.
        *(Case(f"{name}-retry-ok", per_round, upstream_ok(), {"mode": mode, "count": 1},
               per_invocation=True, requests=(2, 2))
          for name, per_round, mode in (("throttle", 8, "throttle"), ("unavailable", 4, "service_unavailable"),
                                        ("not-ready", 2, "model_not_ready"))),
        Case("throttled", 3, upstream("Throttled", 429, "throttling", "1"), {"mode": "throttle"},
             requests=RETRIED),
        Case("model-not-ready", 1, upstream("ModelNotReady", 503, "not ready", "10"), {"mode": "model_not_ready"},
             requests=RETRIED),
        Case("upstream-503", 1, upstream("UpstreamUnavailable", 503, "ServiceUnavailable", "2"),
             {"mode": "service_unavailable"}, requests=RETRIED),
        Case("upstream-5xx", 1, upstream("UpstreamUnavailable", 502, "InternalDependencyException"),
             {"mode": "internal_dependency"}, requests=RETRIED),
        Case("model-error", 10, upstream("ModelError", 502, "CUDA out of memory", model_status=500),
             {"mode": "model_error", "status": 500}),
        Case("model-error-4xx", 6, upstream("ModelError", 502, "Input is too long", model_status=400),
             {"mode": "model_error", "status": 400, "message": "Input is too long for the tokenizer (1300 > 1024 tokens)"}),
        Case("endpoint-validation", 5, upstream("EndpointValidationError", 502, "not found"),
             {"mode": "validation_error"}),
        # Every 403 is the same fixed sentence to the caller; SageMaker's words (which may
        # quote the session token and signature) go to the log only, redacted.
        *(Case(mode.replace("_", "-"), per_round, upstream("UpstreamAccessDenied", 500, harness.ACCESS_DENIED_MESSAGE),
               {"mode": mode})
          for mode, per_round in (("access_denied", 3), ("signature_mismatch", 2), ("incomplete_signature", 2),
                                  ("expired_token", 1))),
        # Above Lambda's 6 MiB response limit: cut off, not buffered, and the process lives on.
        # endless is dropped by the stand-in after 5 s should the function never hang up.
        Case("oversized", 2, upstream("ResponseTooLarge", 502), {"mode": "oversized", "size_bytes": 7_000_000}),
        Case("endless", 2, upstream("ResponseTooLarge", 502), {"mode": "endless", "delay_ms": 5000}),
        Case("alb-long-trace-ok", 10, alb_trace_ok(), NO_FAULT),
        Case("model-garbage", 6, upstream("InvalidModelResponse", 502, "not JSON"), {"mode": "garbage"}),
        Case("conn-close-ok", 10, upstream_ok(), {"mode": "close_idle"}),
        Case("slow-ok", 5, upstream_ok(), {"mode": "slow", "delay_ms": 15}),
        Case("timeout", 1, upstream("Timeout", 504, "did not answer within"), {"mode": "slow", "delay_ms": slow_ms}),
    ]
    for case in cases:
        if case.requests is None:
            case.requests = (0, 0) if case.plan is None else (1, 1)
    return cases


ROUND = 1000


def build_schedule(cases: list[Case], invocations: int, sample_points: set[int],
                   seed: int) -> list[int]:
    """Case indices, round after round; every round holds every case
    (direct-ok makes up the rest) in a shuffled order, so the warm-up already
    ran every code path.  The invocation before each sample point is a
    direct-ok (swapped in from earlier in its round) so that every sample
    follows the same kind of invocation."""
    rng = random.Random(seed)
    fixed = sum(c.per_round for c in cases)
    if fixed >= ROUND:
        raise ValueError("the mix does not leave room for direct-ok")
    bag: list[int] = []
    for index, case in enumerate(cases):
        bag += [index] * (case.per_round or (ROUND - fixed))
    schedule: list[int] = []
    while len(schedule) < invocations:
        round_ = bag[:]
        rng.shuffle(round_)
        schedule += round_
    del schedule[invocations:]
    plain = next(i for i, c in enumerate(cases) if c.name == "direct-ok")
    positions = {point - 1 for point in sample_points if 0 < point <= len(schedule)}
    for position in sorted(positions):
        if schedule[position] == plain:
            continue
        start = position - position % ROUND
        end = min(start + ROUND, len(schedule))
        # The nearest direct-ok of the same round, earlier first, that is not
        # itself needed before a sample; the round keeps its composition.
        others = list(range(position - 1, start - 1, -1)) + list(range(position + 1, end))
        for other in others:
            if schedule[other] == plain and other not in positions:
                schedule[other], schedule[position] = schedule[position], schedule[other]
                break
        else:
            schedule[position] = plain
    return schedule


# ---------------------------------------------------------------------------
# The process under test.
# ---------------------------------------------------------------------------


def summarizer_pid(function: harness.Lambda) -> int | None:
    """The summarizer process: the RIE's only child, or that child's only
    live child if the bootstrap did not exec the binary."""
    pids = function.bootstrap_pids()
    if len(pids) != 1:
        return None
    pid = pids[0]
    for _ in range(3):
        children = [p for p, ppid, _ in harness.live_processes() if ppid == pid]
        if len(children) != 1:
            break
        pid = children[0]
    return pid


def fd_targets(pid: int) -> list[str]:
    """What each open descriptor points at, socket/pipe inode numbers removed."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        targets.append(target.split(":[")[0] if ":[" in target else target)
    return sorted(targets)


def settled_sample(pid: int, timeout_s: float = 2.0) -> tuple[dict[str, int], list[str]]:
    """Status figures and fd targets once the process is idle in /next: the
    same fd list twice 20 ms apart (bounded by TIMEOUT_S)."""
    deadline = time.monotonic() + timeout_s
    previous = fd_targets(pid)
    while True:
        time.sleep(0.02)
        current = fd_targets(pid)
        if current == previous or time.monotonic() > deadline:
            return harness.proc_status(pid), current
        previous = current


# ---------------------------------------------------------------------------
# Driving the RIE.
# ---------------------------------------------------------------------------


class RieClient:
    """One kept-alive HTTP/1.1 connection to the RIE's invoke endpoint
    (the RIE keeps connections alive; about 10% faster than a connection per
    call).  Strictly one invocation at a time: the RIE crashes on overlap,
    so any transport failure ends the run instead of being retried."""

    def __init__(self, function: harness.Lambda, timeout_s: float):
        self.function = function
        self.connection = http.client.HTTPConnection("127.0.0.1", function.invoke_port, timeout=timeout_s)

    def invoke(self, body: bytes) -> tuple[int, bytes]:
        try:
            self.connection.request("POST", harness.INVOKE_PATH, body=body,
                                    headers={"Content-Type": "application/json"})
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            alive = self.function.proc is not None and self.function.proc.poll() is None
            raise SoakAbort(
                f"invoking through the RIE failed: {exc!r} (RIE "
                f"{'still running' if alive else 'exited'})") from exc
        if response.will_close:
            self.connection.close()  # http.client reconnects on the next request
        return response.status, data

    def close(self) -> None:
        self.connection.close()


class FaultPlanner:
    """Installs the stand-in fault plan each case needs, only when it changes."""

    def __init__(self, standin: harness.StandIn):
        self.standin = standin
        self.current: str | None = None
        self.calls = 0

    def prepare(self, case: Case) -> None:
        if case.plan is None:
            return  # never reaches SageMaker
        key = json.dumps(case.plan, sort_keys=True)
        if case.per_invocation or key != self.current:
            self.standin.faults(**case.plan)
            self.calls += 1
            # A counted plan may or may not be used up: install the next one afresh.
            self.current = None if case.per_invocation else key


def scan_rie_log(function: harness.Lambda) -> dict[str, int]:
    """Counts of restart/crash markers in the RIE + bootstrap output."""
    markers = {
        "init_start": "INIT START",
        "task_timed_out": "Task timed out",
        "runtime_exit": "Runtime exited",
        "invoke_failed": "Invoke failed",
        "fatal": "[FATAL]",
        "report": "REPORT RequestId",
    }
    # Lines that carry a secret, e.g. SageMaker's refusal logged unredacted.
    markers.update({f"secret: {name}": value for name, value in SECRETS.items()})
    counts = dict.fromkeys(markers, 0)
    path = function.log_path
    lines = open(path, "rb") if path else iter(function.output().encode().splitlines())
    try:
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            for key, marker in markers.items():
                if marker in line:
                    counts[key] += 1
    finally:
        if path:
            lines.close()
    return counts


# ---------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------


@dataclass
class Sample:
    invocations: int
    elapsed_s: float
    rate: float
    rss_kib: int
    anon_kib: int
    hwm_kib: int
    fds: int
    threads: int
    pid: int | None
    mismatches: int
    upstream_connections: int


@dataclass
class Run:
    args: argparse.Namespace
    cases: list[Case]
    samples: list[Sample] = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)
    mismatches: int = 0
    done: int = 0
    aborted: str | None = None
    started: float = 0.0
    finished: float = 0.0
    warm_status: dict | None = None
    warm_fds: list[str] | None = None
    end_status: dict | None = None
    end_fds: list[str] | None = None
    warm_pid: int | None = None
    end_pid: int | None = None
    warm_bootstrap_pids: list[int] | None = None
    process_exe: str | None = None
    end_bootstrap_pids: list[int] | None = None
    log_counts: dict | None = None
    standin_stats: dict | None = None
    fault_calls: int = 0
    expected_upstream_ok: int = 0
    timeouts: int = 0
    secret_answers: int = 0


def print_sample_header() -> None:
    print(f"{'invocations':>11} {'elapsed':>8} {'inv/s':>6} {'RSS KiB':>8} {'ΔRSS':>6} "
          f"{'anon':>6} {'HWM':>6} {'fds':>4} {'thr':>3} {'pid':>7} {'mism':>5} {'conns':>5}",
          flush=True)


def print_sample(sample: Sample, base_rss: int | None) -> None:
    delta = "" if base_rss is None else f"{sample.rss_kib - base_rss:+d}"
    print(f"{sample.invocations:>11,} {sample.elapsed_s:>7.1f}s {sample.rate:>6.0f} "
          f"{sample.rss_kib:>8} {delta:>6} {sample.anon_kib:>6} {sample.hwm_kib:>6} "
          f"{sample.fds:>4} {sample.threads:>3} {sample.pid or '-':>7} {sample.mismatches:>5} "
          f"{sample.upstream_connections:>5}", flush=True)


def run_soak(run: Run) -> None:
    """Runs the soak, filling RUN in; an abort is recorded in run.aborted."""
    args, cases = run.args, run.cases

    sample_points = set(range(args.sample_every, args.invocations + 1, args.sample_every))
    sample_points |= {1, args.warmup, args.invocations}
    schedule = build_schedule(cases, args.invocations, sample_points, args.seed)

    standin_args = ("--session-token", harness.SESSION_TOKEN)
    with harness.StandIn(*standin_args) as standin:
        env = harness.function_env(standin.url)
        env["SAGEMAKER_TIMEOUT_MS"] = str(args.sagemaker_timeout_ms)
        with harness.Lambda(args.bootstrap, env, timeout=args.function_timeout) as function:
            client = RieClient(function, timeout_s=args.function_timeout + 15)
            planner = FaultPlanner(standin)
            try:
                drive(run, schedule, function, standin, client, planner, sample_points)
            except SoakAbort as exc:
                run.aborted = str(exc)
                print(f"soak: {exc}", file=sys.stderr, flush=True)
            finally:
                client.close()
                run.fault_calls = planner.calls
            # Late answers of timed-out requests still count in "succeeded".
            if run.timeouts:
                time.sleep(args.slow_ms / 1000 + 0.3)
            standin.faults(mode="none")
            run.standin_stats = standin.stats()
            run.end_bootstrap_pids = function.bootstrap_pids()
            run.log_counts = scan_rie_log(function)


def drive(run: Run, schedule: list[int], function: harness.Lambda, standin: harness.StandIn,
          client: RieClient, planner: FaultPlanner, sample_points: set[int]) -> None:
    args = run.args
    cases = run.cases
    run.started = time.monotonic()
    last_time, last_count = run.started, 0
    print_sample_header()
    for index, case_index in enumerate(schedule):
        case = cases[case_index]
        body, expect = case.next_variant()
        planner.prepare(case)
        status, answer = client.invoke(body)
        problem = check(expect, status, answer)
        leaked = secrets_in(answer)
        if leaked:
            run.secret_answers += 1
            problem = problem or f"the answer carries the {', '.join(leaked)}"
        case.count += 1
        run.done = index + 1
        if case.plan is not None and expect.answer is not None:
            run.expected_upstream_ok += 1
        if case.name == "timeout":
            run.timeouts += 1
        if problem:
            case.mismatches += 1
            run.mismatches += 1
            if len(run.examples) < args.max_examples:
                run.examples.append({
                    "invocation": index + 1, "case": case.name, "problem": problem,
                    "event": body[:300].decode("utf-8", "replace"),
                    "answer": answer[:400].decode("utf-8", "replace"),
                })
        count = index + 1
        if count in sample_points:
            now = time.monotonic()
            pid = summarizer_pid(function)
            if pid is None:
                raise SoakAbort(f"after {count} invocations the RIE runs "
                                f"{len(function.bootstrap_pids())} bootstrap processes")
            figures, fds = settled_sample(pid)
            stats = standin.stats()
            sample = Sample(
                invocations=count, elapsed_s=now - run.started,
                rate=(count - last_count) / max(now - last_time, 1e-9),
                rss_kib=figures["VmRSS"], anon_kib=figures.get("RssAnon", 0),
                hwm_kib=figures["VmHWM"], fds=len(fds), threads=figures.get("Threads", 0),
                pid=pid, mismatches=run.mismatches,
                # After reset() the control connection is not counted.
                upstream_connections=stats["connections"])
            run.samples.append(sample)
            if count == args.warmup:
                run.warm_status, run.warm_fds, run.warm_pid = figures, fds, pid
                run.warm_bootstrap_pids = function.bootstrap_pids()
                try:
                    run.process_exe = os.readlink(f"/proc/{pid}/exe")
                except OSError:
                    pass
            if count == len(schedule):
                run.end_status, run.end_fds, run.end_pid = figures, fds, pid
            base = run.warm_status["VmRSS"] if run.warm_status else None
            print_sample(sample, base)
            last_time, last_count = time.monotonic(), count
        if run.mismatches > args.max_mismatches:
            raise SoakAbort(f"more than {args.max_mismatches} mismatches: stopping early")
        if time.monotonic() - run.started > args.max_seconds:
            raise SoakAbort(f"not done after --max-seconds {args.max_seconds}")
    run.finished = time.monotonic()


# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------


def evaluate(run: Run) -> tuple[dict[str, bool], dict[str, Any]]:
    args = run.args
    figures: dict[str, Any] = {}
    duration = (run.finished or time.monotonic()) - run.started
    figures["invocations"] = run.done
    figures["invocations_planned"] = args.invocations
    figures["warmup"] = args.warmup
    figures["duration_s"] = round(duration, 1)
    figures["rate_per_s"] = round(run.done / duration, 1) if duration > 0 else None
    figures["mismatches"] = run.mismatches
    figures["per_case"] = {c.name: {"count": c.count, "mismatches": c.mismatches} for c in run.cases}
    figures["mismatch_examples"] = run.examples
    figures["fault_plan_calls"] = run.fault_calls
    warm, end = run.warm_status or {}, run.end_status or {}
    figures["rss_warmup_kib"] = warm.get("VmRSS")
    figures["rss_end_kib"] = end.get("VmRSS")
    figures["rss_growth_kib"] = (end["VmRSS"] - warm["VmRSS"]) if warm and end else None
    figures["rss_anon_warmup_kib"] = warm.get("RssAnon")
    figures["rss_anon_end_kib"] = end.get("RssAnon")
    figures["vmhwm_kib"] = end.get("VmHWM")
    after = [s.rss_kib for s in run.samples if s.invocations >= args.warmup]
    figures["rss_min_max_after_warmup_kib"] = [min(after), max(after)] if after else None
    figures["fds_warmup"] = len(run.warm_fds) if run.warm_fds is not None else None
    figures["fds_end"] = len(run.end_fds) if run.end_fds is not None else None
    if run.warm_fds is not None and run.end_fds is not None:
        # Multiset differences: two descriptors on the same file are two.
        figures["fds_added"] = sorted((Counter(run.end_fds) - Counter(run.warm_fds)).elements())
        figures["fds_removed"] = sorted((Counter(run.warm_fds) - Counter(run.end_fds)).elements())
        figures["fd_targets_end"] = run.end_fds
    figures["process_exe"] = run.process_exe
    figures["pid_warmup"] = run.warm_pid
    figures["pid_end"] = run.end_pid
    figures["pid_same"] = run.warm_pid is not None and run.warm_pid == run.end_pid and \
        run.warm_bootstrap_pids == run.end_bootstrap_pids and len(run.end_bootstrap_pids or []) == 1
    figures["rie_log"] = run.log_counts
    stats = run.standin_stats or {}
    figures["standin"] = {
        "requests": stats.get("invocations"),
        "succeeded": stats.get("succeeded"),
        "connections_by_function": stats.get("connections"),
        "expected_successful_requests": run.expected_upstream_ok,
    }
    figures["samples"] = [s.__dict__ for s in run.samples]
    figures["config"] = {
        "bootstrap": str(args.bootstrap), "seed": args.seed, "sample_every": args.sample_every,
        "sagemaker_timeout_ms": args.sagemaker_timeout_ms, "slow_ms": args.slow_ms,
        "function_timeout_s": args.function_timeout, "max_rss_growth_kib": args.max_rss_growth_kib,
        "max_peak_rss_kib": args.max_peak_rss_kib,
    }
    if run.aborted:
        figures["aborted"] = run.aborted

    counts = run.log_counts or {}
    hwm = figures["vmhwm_kib"]
    figures["answers_with_secrets"] = run.secret_answers
    succeeded = stats.get("succeeded")
    low = sum(c.count * c.requests[0] for c in run.cases)
    high = sum(c.count * c.requests[1] for c in run.cases)
    figures["standin"]["expected_requests"] = [low, high] if low != high else low
    requests = stats.get("invocations")
    criteria = {
        "completed": run.aborted is None and run.done == args.invocations,
        "no_mismatches": run.mismatches == 0,
        "same_process": bool(figures["pid_same"]) and counts.get("init_start") == 1
        and not counts.get("task_timed_out") and not counts.get("runtime_exit"),
        "rss_growth_below_limit": figures["rss_growth_kib"] is not None
        and figures["rss_growth_kib"] < args.max_rss_growth_kib,
        "fds_unchanged": figures["fds_warmup"] is not None and figures["fds_warmup"] == figures["fds_end"],
        "peak_rss_below_limit": hwm is not None and hwm < args.max_peak_rss_kib,
        "no_secrets_in_output": run.secret_answers == 0 and counts.get("report") is not None
        and not any(counts.get(f"secret: {name}") for name in SECRETS),
        # Each success is one 200 from the stand-in (a timed-out request may
        # still get its late 200 written); more would mean extra requests.
        # and the requests are what the cases make: none for an invalid
        # payload, two for a retried-then-successful one, ...
        "standin_consistent": succeeded is not None and requests is not None
        and run.expected_upstream_ok <= succeeded <= run.expected_upstream_ok + run.timeouts
        and low <= requests <= high,
    }
    figures["criteria"] = criteria
    figures["passed"] = all(criteria.values())
    return criteria, figures


def print_report(figures: dict[str, Any], criteria: dict[str, bool]) -> None:
    print()
    print("case                        count  mismatches")
    for name, row in figures["per_case"].items():
        print(f"  {name:<24} {row['count']:>7,} {row['mismatches']:>10}")
    for example in figures["mismatch_examples"]:
        print(f"  MISMATCH #{example['invocation']} {example['case']}: {example['problem']}\n"
              f"    event:  {example['event'][:160]}\n    answer: {example['answer'][:240]}")
    yes = {True: "yes", False: "NO"}
    growth = figures["rss_growth_kib"]
    hwm = figures["vmhwm_kib"]
    print()
    print(f"invocations      {figures['invocations']:,} of {figures['invocations_planned']:,} "
          f"(warm-up {figures['warmup']:,}); mismatches {figures['mismatches']}")
    print(f"duration         {figures['duration_s']} s, {figures['rate_per_s']} invocations/s; "
          f"{figures['fault_plan_calls']} fault-plan calls")
    print(f"RSS              after warm-up {figures['rss_warmup_kib']} KiB, end {figures['rss_end_kib']} KiB, "
          f"growth {growth if growth is None else f'{growth:+d}'} KiB "
          f"(limit < {figures['config']['max_rss_growth_kib']}); min/max after warm-up "
          f"{figures['rss_min_max_after_warmup_kib']}; RssAnon {figures['rss_anon_warmup_kib']} -> "
          f"{figures['rss_anon_end_kib']} KiB; VmHWM {hwm} KiB "
          f"(limit < {figures['config']['max_peak_rss_kib']})")
    print(f"fds              after warm-up {figures['fds_warmup']}, end {figures['fds_end']}"
          + (f" (added {figures['fds_added']}, removed {figures['fds_removed']})"
             if figures.get("fds_added") or figures.get("fds_removed") else ""))
    print(f"pid              after warm-up {figures['pid_warmup']}, end {figures['pid_end']}: "
          f"same {yes[bool(figures['pid_same'])]}; RIE log {figures['rie_log']}")
    print(f"stand-in         {figures['standin']}")
    print(f"secrets          {figures['answers_with_secrets']} answers carry one; RIE log lines: "
          + ", ".join(f"{name} {figures['rie_log'].get(f'secret: {name}')}" for name in SECRETS))
    if figures.get("aborted"):
        print(f"ABORTED          {figures['aborted']}")
    print("criteria         " + ", ".join(f"{k} {yes[v]}" for k, v in criteria.items()))
    print("SOAK PASSED" if figures["passed"] else "SOAK FAILED", flush=True)


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Soak the release bootstrap under the RIE: many invocations, one process, no leak.")
    parser.add_argument("--invocations", type=int, help=f"default {DEFAULT_INVOCATIONS:,} ({QUICK_INVOCATIONS:,} with --quick)")
    parser.add_argument("--warmup", type=int, help=f"invocations before the RSS/fd baseline; default {DEFAULT_WARMUP:,} ({QUICK_WARMUP:,} with --quick)")
    parser.add_argument("--quick", action="store_true", help="CI smoke: 3,000 invocations, warm-up 1,000")
    parser.add_argument("--sample-every", type=int, help="sample RSS/fds every N invocations (default: invocations/20)")
    parser.add_argument("--bootstrap", type=Path, default=harness.DEFAULT_BOOTSTRAP)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--sagemaker-timeout-ms", type=int, default=400, help="SAGEMAKER_TIMEOUT_MS of the function")
    parser.add_argument("--slow-ms", type=int, default=1000, help="delay of the timeout case's stand-in answer")
    parser.add_argument("--function-timeout", type=int, default=10, help="Lambda function timeout, seconds")
    parser.add_argument("--max-rss-growth-kib", type=int, default=1024)
    parser.add_argument("--max-peak-rss-kib", type=int, default=64 * 1024,
                        help="VmHWM limit: oversized answers must not be buffered whole")
    parser.add_argument("--max-mismatches", type=int, default=1000, help="stop early beyond this many")
    parser.add_argument("--max-examples", type=int, default=10, help="mismatches shown in detail")
    parser.add_argument("--max-seconds", type=float, default=1800, help="give up (and fail) after this long")
    args = parser.parse_args(argv)
    if args.invocations is None:
        args.invocations = QUICK_INVOCATIONS if args.quick else DEFAULT_INVOCATIONS
    if args.warmup is None:
        args.warmup = min(QUICK_WARMUP if args.quick else DEFAULT_WARMUP, args.invocations // 2)
    if args.sample_every is None:
        args.sample_every = max(1, args.invocations // 20)
    if args.invocations < 2 or not 1 <= args.warmup < args.invocations:
        parser.error("need 1 <= --warmup < --invocations")
    if args.sample_every < 1:
        parser.error("--sample-every must be positive")
    if args.slow_ms <= args.sagemaker_timeout_ms:
        parser.error("--slow-ms must exceed --sagemaker-timeout-ms (the timeout case)")
    if args.sagemaker_timeout_ms < 350:
        parser.error("--sagemaker-timeout-ms below 350 leaves retried throttles no room")
    args.bootstrap = args.bootstrap.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for path, hint in ((args.bootstrap, "make build"), (harness.RIE_PATH, "tools/fetch-rie.sh")):
        if not (path.is_file() and os.access(path, os.X_OK)):
            print(f"soak: {path} is missing or not executable: run {hint}", file=sys.stderr)
            return 2

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    print(f"soak: {args.invocations:,} invocations (warm-up {args.warmup:,}, sample every "
          f"{args.sample_every:,}) of {args.bootstrap}; SAGEMAKER_TIMEOUT_MS={args.sagemaker_timeout_ms}",
          flush=True)
    cases = build_cases(args.slow_ms)
    run = Run(args, cases)
    try:
        run_soak(run)
    except KeyboardInterrupt:
        print("\nsoak: interrupted; the RIE, bootstrap and stand-in are stopped", file=sys.stderr)
        return 130

    criteria, figures = evaluate(run)
    print_report(figures, criteria)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
