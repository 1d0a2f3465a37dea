#!/usr/bin/env python3
"""Soak test: one bootstrap process under the RIE, 100,000 mixed invocations, every answer
checked, no leak, no restart; or, with --concurrency N, N at a time under the concurrent Runtime
API stand-in with Runtime API faults mixed in.  What it runs and checks: docs/soak.md.

    python3 tools/soak.py                    # 100,000 invocations, warm-up 2,000
    python3 tools/soak.py --quick            # 3,000 invocations, warm-up 1,000 (CI smoke)
    python3 tools/soak.py --invocations 20000 --json soak.json
    python3 tools/soak.py --concurrency 64   # 100,000 invocations, 64 at a time
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import harness  # noqa: E402
from proxy_events import ALB_TRACE_ID, alb, fixture, http_v2, rest_v1  # noqa: E402
import sagemaker_standin  # noqa: E402  (its model computes the expected summaries)
from runtime_api import running_bootstrap  # noqa: E402

EVENTS = TOOLS.parent / "events"
ROUND = 1000  # invocations per round of the mix
SEED = 20261125
# One timeout costs 0.4 s; every other case stays well inside that budget (the longest, a
# retried throttle, waits at most 100 + 200 ms of backoff).
SAGEMAKER_TIMEOUT_MS = 400
SLOW_MS = 1000  # how late the stand-in answers the timeout case
FUNCTION_TIMEOUT_S = 10
MAX_RSS_GROWTH_KIB = 1024
MAX_PEAK_RSS_KIB = 64 * 1024  # oversized answers must not be buffered whole
MAX_SECONDS = 1800
MAX_MISMATCHES = 1000  # stop early beyond this many
MAX_EXAMPLES = 10  # mismatches shown in detail

# What must never leave the function, in an answer or in its log.
SECRETS = {
    "session token": harness.SESSION_TOKEN,
    "access key id": harness.ACCESS_KEY,
    "secret key": harness.SECRET_KEY,
}


class SoakAbort(Exception):
    """The run cannot go on (the RIE died, a client timeout, out of time)."""


@dataclass(frozen=True)
class Expect:
    """What one invocation must answer: for ``kind`` "direct" the model's JSON or a Lambda error
    document, for "http" an API Gateway / ALB response object.  With ``answer``: a success with
    exactly this model answer.  Otherwise an error of ``error_type`` (errorType, or the HTTP
    body's error_type) whose message holds ``fragment``, and for http the ``status``,
    ``headers`` and the error's ``model_status`` (modelStatusCode).  Neither: a CORS preflight."""

    kind: str
    answer: Any = None
    error_type: str | None = None
    status: int | None = None
    fragment: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    model_status: int | None = None


def check(expect: Expect, rie_status: int, body: bytes) -> str | None:
    """None if the RIE's answer is what EXPECT says, else why not."""
    if rie_status != 200:
        return f"RIE status {rie_status}"
    try:
        document = json.loads(body)
    except ValueError:
        return "answer is not JSON"
    if expect.kind == "http":
        if not isinstance(document, dict) or "statusCode" not in document:
            return "not an HTTP response object"
        headers = document.get("headers") or {
            name: values[0] for name, values in (document.get("multiValueHeaders") or {}).items() if values}
        wanted = {"statusCode": expect.status or 200, **dict(expect.headers)}
        if expect.answer is not None:
            wanted["Content-Type"] = "application/json"
        got = {**headers, "statusCode": document["statusCode"]}
        for name, value in wanted.items():
            if got.get(name) != value:
                return f"{name} {got.get(name)!r}, expected {value!r}"
        try:
            document = json.loads(document.get("body") or "null")
        except ValueError:
            return "body is not JSON"
        error = ({"type": document["error_type"], "message": document.get("error"), "modelStatusCode": document.get("modelStatusCode")}
                 if isinstance(document, dict) and "error_type" in document else None)
    elif isinstance(document, dict) and "errorType" in document:
        error = {"type": document["errorType"], "message": document.get("errorMessage")}
    else:
        error = None

    if expect.answer is not None:
        if error is not None:
            return f"error {error!r} instead of a success"
        return None if document == expect.answer else "success with a different model answer"
    if expect.error_type is None:  # a preflight: no body to look at
        return None
    if not isinstance(error, dict):
        return f"success instead of error {expect.error_type!r}"
    if error.get("type") != expect.error_type:
        return f"error type {error.get('type')!r}, expected {expect.error_type!r}"
    if expect.fragment and expect.fragment not in str(error.get("message")):
        return f"error message lacks {expect.fragment!r}"
    if expect.model_status is not None and error.get("modelStatusCode") != expect.model_status:
        return f"modelStatusCode {error.get('modelStatusCode')!r}, expected {expect.model_status}"
    return None


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
# Every article, 1-3 summaries, with and without parameters.
OK_PAYLOADS = [
    *(payload for index, article in enumerate(ARTICLES) for payload in (
        {"inputs": article},
        {"inputs": article, "parameters": {"num_return_sequences": 1 + index % 3, "max_length": 96}})),
    {"inputs": ARTICLE, "parameters": {"num_return_sequences": 3, "do_sample": False, "top_p": 0.9}},
]

Variant = tuple[bytes, Expect]


def encode(event: Any) -> bytes:
    return event if isinstance(event, bytes) else json.dumps(event).encode()


def succeeds(kind: str, event: Any, payload: dict) -> Variant:
    """EVENT must be answered with what the stand-in's model (default task,
    text2text-generation) answers to PAYLOAD: the bootstrap passes it on unchanged."""
    answer = sagemaker_standin.run_model("application/json", json.dumps(payload).encode())
    return encode(event), Expect(kind, answer=answer)


def direct_ok(payloads: list[dict]) -> list[Variant]:
    return [succeeds("direct", payload, payload) for payload in payloads]


def http_ok(*shapes) -> list[Variant]:
    """Some valid payloads as the JSON body of each of SHAPES (proxy event builders)."""
    return [succeeds("http", shape(json.dumps(p)), p)
            for p in OK_PAYLOADS[::2] + OK_PAYLOADS[1::4] for shape in shapes]


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


# Payloads that never reach SageMaker: not JSON, wrong types, empty inputs, not an object,
# unknown fields.
DIRECT_INVALID = [
    (b'{"inputs": "unterminated', "not valid JSON"),
    (b'{"inputs": "x"} trailing', "not valid JSON"),
    (b"", "not valid JSON"),
    (b'{"inputs": "x",}', "not valid JSON"),
    (b'{"inputs": ["a", "b",]}', "not valid JSON"),
    (b'{"inputs": "x" "y"}', "not valid JSON"),
    (b"{'inputs': 'x'}", "not valid JSON"),
    (b"\xff\xfe{}", None),
    ({"inputs": 42}, '"inputs" must be a string or a list of strings'),
    ({"inputs": ["fine", 7]}, '"inputs[1]" must be a string'),
    ({"inputs": "x", "parameters": {"num_return_sequences": "five"}}, '"parameters.num_return_sequences" must be an integer'),
    ({"inputs": "x", "parameters": "fast"}, '"parameters" must be an object'),
    ({"inputs": "x", "parameters": {"num_return_sequences": 0}}, '"parameters.num_return_sequences" must be an integer from 1 to'),
    ({"inputs": "x", "parameters": {"min_length": 50, "max_length": 10}}, '"parameters.min_length"'),
    ({"inputs": {"text": "x"}}, '"inputs" must be a string or a list of strings'),
    ({"inputs": ""}, '"inputs" is empty'),
    ({"inputs": "   \n\t"}, '"inputs" is empty'),
    ({"inputs": []}, '"inputs" is an empty list'),
    ({}, '"inputs" is required'),
    ({"inputs": None}, '"inputs" is required'),
    ({"inputs": ["ok", ""]}, '"inputs[1]" is empty'),
    (b'"just text"', "must be a JSON object"),
    (b"42", "got a number"),
    (b"null", "got null"),
    (b"[1, 2, 3]", "got an array"),
    (b"true", "must be a JSON object"),
    (json.loads((EVENTS / "bad-console-default.json").read_text()), '"key1" is not a known field'),
    ({"input": "typo"}, '"input" is not a known field'),
    ({"inputs": "x", "paramters": {}}, '"paramters" is not a known field'),
]


def http_error(event: dict, status: int, error_type: str, fragment: str | None = None,
               headers: tuple = ()) -> Variant:
    return encode(event), Expect("http", status=status, error_type=error_type, fragment=fragment, headers=headers)


# Requests the HTTP front answers with 400: (event, error type[, message fragment]).
HTTP_INVALID = [
    (rest_v1('{"inputs": '), "InvalidJSON", "not valid JSON"),
    (http_v2('{"inputs": "x"'), "InvalidJSON", "not valid JSON"),
    (alb("{not json}"), "InvalidJSON"),
    (http_v2("[1, 2, 3]"), "InvalidJSON", "must be a JSON object"),
    (rest_v1("null"), "InvalidJSON"),
    (http_v2('{"parameters": {}}'), "InvalidRequest", '"inputs" is required'),
    (alb('{"inputs": ""}'), "InvalidRequest", '"inputs" is empty'),
    (rest_v1('{"inputs": 42}'), "InvalidRequest", '"inputs" must be a string or a list of strings'),
    (http_v2('{"inputs": "x", "parameters": {"top_k": "many"}}'), "InvalidRequest", '"parameters.top_k"'),
    (rest_v1(b'{"inputs": ["a", 1]}'), "InvalidRequest", '"inputs[1]"'),
    (rest_v1(None, headers={"Content-Type": "text/plain"}), "InvalidRequest", "empty"),
    (http_v2("  \n ", headers={"content-type": "text/plain"}), "InvalidRequest", "empty"),
    (rest_v1(b"\xff\xfe\xfa article", headers={"Content-Type": "text/plain"}), "InvalidRequest", "UTF-8"),
    (dict(http_v2(None), body="%%%not-base64%%%", isBase64Encoded=True), "InvalidBase64", "base64"),
    (rest_v1("!!!!", base64_body=False) | {"body": "!!!!", "isBase64Encoded": True}, "InvalidBase64"),
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
    text = json.dumps(payload)
    events = [rest_v1(text), http_v2(text), http_v2(text, name="lambda_function_url_request.json"),
              alb(text, multi=True), rest_v1(SHORT[0], headers={"Content-Type": "text/plain"})]
    return [(encode(payload), Expect("direct", error_type=error_type, fragment=fragment))] * 3 + [
        (encode(event), Expect("http", status=http_status, error_type=error_type, fragment=fragment,
                               headers=headers, model_status=model_status))
        for event in events]


def alb_trace_ok() -> list[Variant]:
    """ALB events carrying ALB_TRACE_ID, too long for an inference id, which must still succeed."""
    variants = []
    for payload in ({"inputs": SHORT[0]}, {"inputs": SHORT[3], "parameters": {"num_return_sequences": 2}}):
        plain, multi = alb(json.dumps(payload)), alb(json.dumps(payload), multi=True)
        plain["headers"]["x-amzn-trace-id"] = ALB_TRACE_ID
        multi["multiValueHeaders"]["x-amzn-trace-id"] = [ALB_TRACE_ID]
        variants += [succeeds("http", plain, payload), succeeds("http", multi, payload)]
    return variants


def upstream_ok() -> list[Variant]:
    """Valid requests, direct and proxied, that must succeed."""
    return [variant for payload in ({"inputs": SHORT[2]}, {"inputs": ARTICLE, "parameters": {"num_return_sequences": 2}})
            for variant in (succeeds("direct", payload, payload), succeeds("http", http_v2(json.dumps(payload)), payload),
                            succeeds("http", rest_v1(json.dumps(payload), base64_body=True), payload))]


NO_FAULT = {"mode": "none"}
RETRIED = (1, 3)  # AWS_MAX_ATTEMPTS=3; the time budget may stop retries early


@dataclass
class Case:
    """One kind of invocation: ``per_round`` of each round of the schedule, cycling through its
    ``variants``.  ``plan``: the stand-in fault plan it needs (None: the payload never reaches
    SageMaker, any plan will do); ``per_invocation``: installed before every invocation.
    ``requests``: InvokeEndpoint requests per invocation (min, max) when it has a plan."""

    name: str
    per_round: int
    variants: list[Variant]
    plan: dict | None = None
    per_invocation: bool = False
    requests: tuple[int, int] = (1, 1)
    count: int = 0
    mismatches: int = 0


def build_cases() -> list[Case]:
    """The mix, per round of ROUND invocations (direct-ok, the first, fills the round)."""
    return [
        Case("direct-ok", 0, direct_ok(OK_PAYLOADS), NO_FAULT),
        Case("direct-batch-ok", 30, direct_ok([
            json.loads((EVENTS / "batch.json").read_text()), json.loads((EVENTS / "console-test.json").read_text()),
            {"inputs": SHORT, "parameters": {"num_return_sequences": 2}}]), NO_FAULT),
        Case("apigw-v1-ok", 90, http_ok(rest_v1, partial(rest_v1, base64_body=True)), NO_FAULT),
        Case("apigw-v2-ok", 90, http_ok(http_v2, partial(http_v2, base64_body=True)), NO_FAULT),
        Case("url-alb-ok", 50, http_ok(partial(http_v2, name="lambda_function_url_request.json"),
                                       alb, partial(alb, multi=True)), NO_FAULT),
        Case("fixture-text-ok", 40, fixed_http_ok(), NO_FAULT),
        Case("direct-invalid", 140, [(encode(event), Expect("direct", error_type="InvalidPayload", fragment=fragment))
                                     for event, fragment in DIRECT_INVALID]),
        Case("http-invalid", 65, [http_error(event, 400, *error) for event, *error in HTTP_INVALID]),
        Case("http-refused", 25, http_refused()),
        # Upstream faults.  The stand-in has one fault plan, for the next requests that pass
        # authentication: a plan that always fails stays until a case needs another one; "fails
        # once, then succeeds" installs count=1 before each invocation (per_invocation).
        # Retried ones wait up to 100 ms (+200 ms) of backoff.
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
        Case("timeout", 1, upstream("Timeout", 504, "did not answer within"), {"mode": "slow", "delay_ms": SLOW_MS}),
    ]


def build_schedule(cases: list[Case], invocations: int, sample_points: set[int],
                   seed: int) -> list[int]:
    """Case indices, round after round; every round holds every case in a shuffled order, so
    the warm-up already ran every code path.  The invocation before each sample point is a
    direct-ok (swapped in from its round), so that every sample follows the same kind of
    invocation.  The RSS check depends on this order (glibc keeps or returns the oversized
    answers' heap depending on what ran last): a new mix or algorithm needs a new SEED that
    passes --quick and the full run."""
    rng = random.Random(seed)
    plain = 0  # direct-ok, which makes up the rest of a round
    rest = ROUND - sum(c.per_round for c in cases)
    assert rest > 0, "the mix leaves no room for direct-ok"
    bag = [index for index, case in enumerate(cases) for _ in range(case.per_round or rest)]
    schedule: list[int] = []
    while len(schedule) < invocations:
        round_ = bag[:]
        rng.shuffle(round_)
        schedule += round_
    del schedule[invocations:]
    before_samples = {point - 1 for point in sample_points if 0 < point <= invocations}
    for position in sorted(before_samples):
        if schedule[position] == plain:
            continue
        start = position - position % ROUND
        # The nearest spare direct-ok of the same round, earlier first.
        around = (*range(position - 1, start - 1, -1), *range(position + 1, min(start + ROUND, invocations)))
        nearest = [i for i in around if schedule[i] == plain and i not in before_samples]
        if nearest:
            schedule[nearest[0]], schedule[position] = schedule[position], plain
        else:  # a short last round without a spare direct-ok
            schedule[position] = plain
    return schedule


def fd_targets(pid: int) -> list[str]:
    """What each open descriptor points at, socket/pipe inode numbers removed."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}").split(":[")[0])
        except OSError:
            pass  # closed meanwhile
    return sorted(targets)


def settled_sample(pid: int) -> tuple[dict[str, int], list[str]]:
    """Status figures and fd targets once the process is idle in /next: the same fd list twice
    20 ms apart (for at most about 2 s)."""
    current = fd_targets(pid)
    for _ in range(100):
        time.sleep(0.02)
        previous, current = current, fd_targets(pid)
        if current == previous:
            break
    return harness.proc_status(pid), current


# Restart/crash markers, and lines that carry a secret (e.g. SageMaker's refusal logged unredacted).
LOG_MARKERS = {
    "init_start": "INIT START",
    "task_timed_out": "Task timed out",
    "runtime_exit": "Runtime exited",
    "invoke_failed": "Invoke failed",
    "fatal": "[FATAL]",
    "report": "REPORT RequestId",
    **{f"secret: {name}": value for name, value in SECRETS.items()},
}


@dataclass
class Run:
    args: argparse.Namespace
    cases: list[Case]
    samples: list[dict] = field(default_factory=list)
    mismatches: list[dict] = field(default_factory=list)
    secret_answers: int = 0
    fault_calls: int = 0
    aborted: str | None = None
    started: float = 0.0
    finished: float = 0.0
    warm: dict | None = None  # the sample at the end of the warm-up
    end: dict | None = None  # the sample after the last invocation


def run_soak(run: Run) -> dict[str, Any]:
    """Runs the soak, filling RUN in (an abort in run.aborted); returns evaluate()'s figures."""
    args = run.args
    every = max(1, args.invocations // 20)
    sample_points = {1, args.warmup, args.invocations, *range(every, args.invocations + 1, every)}
    schedule = build_schedule(run.cases, args.invocations, sample_points, SEED)

    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin:
        env = harness.function_env(standin.url) | {"SAGEMAKER_TIMEOUT_MS": str(SAGEMAKER_TIMEOUT_MS)}
        with harness.Lambda(args.bootstrap, env, timeout=FUNCTION_TIMEOUT_S) as function:
            try:
                drive(run, schedule, sample_points, function, standin)
            except SoakAbort as exc:
                run.aborted = str(exc)  # reported with the figures
            time.sleep(SLOW_MS / 1000 + 0.3)  # late answers of timed-out requests count in "succeeded"
            standin.faults(mode="none")
            output = function.output()
            log_counts = {key: output.count(marker) for key, marker in LOG_MARKERS.items()}
            return evaluate(run, standin.stats(), function.bootstrap_pids(), log_counts)


def judge(run: Run, case: Case, invocation: int | str, body: bytes, expect: Expect, status: int, answer: bytes) -> None:
    """Checks one answer (and that it carries no secret); records what is wrong in RUN and CASE."""
    problem = check(expect, status, answer)
    leaked = [name for name, value in SECRETS.items() if value.encode() in answer]
    if leaked:
        run.secret_answers += 1
        problem = problem or f"the answer carries the {', '.join(leaked)}"
    if problem:
        case.mismatches += 1
        run.mismatches.append({
            "invocation": invocation, "case": case.name, "problem": problem,
            "event": body[:300].decode("utf-8", "replace"),
            "answer": answer[:400].decode("utf-8", "replace"),
        })


def drive(run: Run, schedule: list[int], sample_points: set[int],
          function: harness.Lambda, standin: harness.StandIn) -> None:
    run.started = time.monotonic()
    plan = None
    for count, case_index in enumerate(schedule, 1):
        case = run.cases[case_index]
        body, expect = case.variants[case.count % len(case.variants)]
        if case.plan is not None and (case.per_invocation or case.plan != plan):
            standin.faults(**case.plan)
            run.fault_calls += 1
            # A counted plan may or may not be used up: install the next one afresh.
            plan = None if case.per_invocation else case.plan
        try:
            status, _, answer = function.invoke(body)
        except (OSError, RuntimeError, http.client.HTTPException) as exc:
            # Not retried: the RIE crashes on overlapping invocations.
            raise SoakAbort(f"invoking through the RIE failed: {exc!r:.300}") from exc
        case.count += 1
        judge(run, case, count, body, expect, status, answer)
        if len(run.mismatches) > MAX_MISMATCHES:
            raise SoakAbort(f"more than {MAX_MISMATCHES} mismatches: stopping early")
        if count in sample_points:
            pids = function.bootstrap_pids()
            if len(pids) != 1:
                raise SoakAbort(f"after {count} invocations the RIE runs {len(pids)} bootstrap processes")
            proc, fds = settled_sample(pids[0])
            sample = {"invocations": count, "seconds": round(time.monotonic() - run.started, 1),
                      "pid": pids[0], **{name: proc.get(name) for name in ("VmRSS", "RssAnon", "VmHWM", "Threads")},
                      "fds": len(fds), "mismatches": len(run.mismatches)}
            print("  ".join(f"{name} {value}" for name, value in sample.items()), flush=True)
            run.samples.append(sample)
            if count == run.args.warmup:
                run.warm = dict(sample, fd_targets=fds)
            if count == len(schedule):
                run.end = dict(sample, fd_targets=fds)
        if time.monotonic() - run.started > MAX_SECONDS:
            raise SoakAbort(f"not done after {MAX_SECONDS} s")
    run.finished = time.monotonic()


def evaluate(run: Run, stats: dict, final_pids: list[int], counts: dict[str, int]) -> dict[str, Any]:
    """The figures of RUN, with the pass/fail criteria under "criteria" and "passed".  STATS:
    the stand-in's; FINAL_PIDS: the RIE's children at the end; COUNTS: of LOG_MARKERS."""
    duration = (run.finished or time.monotonic()) - run.started
    done = sum(c.count for c in run.cases)
    warm, end = run.warm or {}, run.end or {}
    growth = end["VmRSS"] - warm["VmRSS"] if warm and end else None
    low, high = (sum(c.count * c.requests[i] for c in run.cases if c.plan is not None) for i in (0, 1))
    # Each success is one 200 from the stand-in (a timed-out request may still get its late 200
    # written), and the requests are what the cases make: none for an invalid payload, two for
    # a retried-then-successful one, up to three for retried failures.
    successes = sum(c.count for c in run.cases if c.plan is not None and c.variants[0][1].answer is not None)
    timeouts = sum(c.count for c in run.cases if c.name == "timeout")
    criteria = {
        "completed": run.aborted is None and done == run.args.invocations,
        "no_mismatches": not run.mismatches,
        "same_process": bool(warm and end) and final_pids == [warm["pid"]] == [end["pid"]]
        and counts["init_start"] == 1 and not counts["task_timed_out"] and not counts["runtime_exit"],
        "rss_growth_below_limit": growth is not None and growth < MAX_RSS_GROWTH_KIB,
        "fds_unchanged": bool(warm and end) and warm["fds"] == end["fds"],
        "peak_rss_below_limit": bool(end) and end["VmHWM"] < MAX_PEAK_RSS_KIB,
        "no_secrets_in_output": run.secret_answers == 0 and not any(counts[f"secret: {n}"] for n in SECRETS),
        "standin_consistent": successes <= stats["succeeded"] <= successes + timeouts
        and low <= stats["invocations"] <= high,
    }
    return {
        "per_case": {c.name: {"count": c.count, "mismatches": c.mismatches} for c in run.cases},
        "mismatch_examples": run.mismatches[:MAX_EXAMPLES],
        "invocations": f"{done:,} of {run.args.invocations:,} (warm-up {run.args.warmup:,})",
        "duration": f"{duration:.1f} s, {done / max(duration, 1e-9):.1f} invocations/s, "
                    f"{run.fault_calls} fault-plan calls",
        "mismatches": len(run.mismatches),
        "rss_kib": {"growth": growth, "growth limit": MAX_RSS_GROWTH_KIB,
                    "VmHWM": end.get("VmHWM"), "VmHWM limit": MAX_PEAK_RSS_KIB},
        "fds": {"warm-up": warm.get("fd_targets"), "end": end.get("fd_targets")},
        "pids": {"warm-up": warm.get("pid"), "end": end.get("pid"), "after": final_pids},
        "rie_log": counts,
        "answers_with_secrets": run.secret_answers,
        "standin": {"requests": stats["invocations"], "expected_requests": [low, high],
                    "succeeded": stats["succeeded"], "expected_successes": successes,
                    "connections": stats["connections"]},
        "aborted": run.aborted,
        "criteria": criteria,
        "passed": all(criteria.values()),
        "bootstrap": str(run.args.bootstrap),
        "samples": run.samples,
    }


# --- Many at once (--concurrency N) -------------------------------------------------------------
#
# The stand-in has one fault plan for every request, which invocations running at once would
# share: here SageMaker faults are asked for by each payload instead ([[fault:MODE]] markers),
# and the Runtime API's own faults are queued for the coming /next requests, every phase.

PHASES = 20  # a sample after each
NEXT_FAULTS = ["500", "429", "reset", "close", "deadline:soon", "deadline:-5"]
MAX_RSS_GROWTH_KIB_CONCURRENT = 2048
MAX_OTHER_FDS = 5  # besides four per worker: the standard streams, and two in passing
# N at once against one Python stand-in on a small machine: a plain call can take longer than
# the single-worker soak's 400 ms, so the time-out case waits longer too.
CONCURRENT_SAGEMAKER_TIMEOUT_MS = 2000
CONCURRENT_SLOW_MS = 3000
# What an invocation delivered with a broken deadline gets: an error, whatever its event.
BAD_HEADERS = Expect("direct", error_type="InvalidRuntimeHeaders", fragment="Lambda-Runtime-Deadline-Ms")


def marked(error_type: str | None, http_status: int, marker: str, fragment: str | None = None,
           retry_after: str | None = None, model_status: int | None = None) -> list[Variant]:
    """Valid requests, direct and proxied, whose payload asks the stand-in for fault MARKER: they
    must fail with ERROR_TYPE (None: succeed with the model's answer)."""
    headers = (("Retry-After", retry_after),) if retry_after else ()
    payloads = [{"inputs": f"{SHORT[1]} [[fault:{marker}]]", "parameters": {"num_return_sequences": 2}},
                {"inputs": f"{SHORT[3]} [[fault:{marker}]]"}]
    variants: list[Variant] = []
    for payload in payloads:
        text = json.dumps(payload)
        events = [rest_v1(text), http_v2(text), alb(text, multi=True)]
        if error_type is None:
            variants += [succeeds("direct", payload, payload)] + [succeeds("http", event, payload) for event in events]
            continue
        variants.append((encode(payload), Expect("direct", error_type=error_type, fragment=fragment)))
        variants += [(encode(event), Expect("http", status=http_status, error_type=error_type, fragment=fragment,
                                            headers=headers, model_status=model_status)) for event in events]
    return variants


def build_concurrent_cases() -> list[Case]:
    """The single-worker mix without its planned faults, plus faults each payload asks for."""
    plain = [Case(c.name, c.per_round, c.variants) for c in build_cases() if c.plan in (None, NO_FAULT)]
    return plain + [
        Case("throttled", 4, marked("Throttled", 429, "throttle", "throttling", "1")),
        Case("upstream-503", 2, marked("UpstreamUnavailable", 503, "service_unavailable", "ServiceUnavailable", "2")),
        Case("model-error", 10, marked("ModelError", 502, "model_error:500", "CUDA out of memory", model_status=500)),
        Case("endpoint-validation", 5, marked("EndpointValidationError", 502, "validation_error", "not found")),
        Case("signature-mismatch", 4, marked("UpstreamAccessDenied", 500, "signature_mismatch", harness.ACCESS_DENIED_MESSAGE)),
        Case("model-garbage", 4, marked("InvalidModelResponse", 502, "garbage", "not JSON")),
        Case("oversized", 2, marked("ResponseTooLarge", 502, "oversized:7000000")),
        Case("slow-ok", 40, marked(None, 200, "slow:50")),
        Case("timeout", 2, marked("Timeout", 504, f"slow:{CONCURRENT_SLOW_MS}", "did not answer within")),
    ]


def run_concurrent_soak(run: Run) -> dict[str, Any]:
    """The soak with run.args.concurrency workers: phase after phase of invocations sent that many
    at a time, the Runtime API's faults queued at the start of each; after each phase, once every
    worker polls again, a sample."""
    args = run.args
    workers = args.concurrency
    size = max(1, args.invocations // PHASES)
    schedule = build_schedule(run.cases, args.invocations, set(), SEED)
    header_faults = {"count": 0}
    lock = threading.Lock()

    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin, \
            tempfile.TemporaryFile("w+") as log:
        env = harness.function_env(standin.url) | {"SAGEMAKER_TIMEOUT_MS": str(CONCURRENT_SAGEMAKER_TIMEOUT_MS),
                                                   "AWS_LAMBDA_MAX_CONCURRENCY": str(workers)}
        with running_bootstrap(args.bootstrap, env, timeout_s=FUNCTION_TIMEOUT_S, stdout=log) as (api, process), \
                ThreadPoolExecutor(workers) as pool:

            def polling() -> bool:
                """Whether every worker is back in /next (waiting at most 10 s)."""
                deadline = time.monotonic() + 10
                while api.snapshot()["next_waiting"] != workers:
                    if time.monotonic() > deadline or process.poll() is not None:
                        return False
                    time.sleep(0.02)
                return True

            def one(case_index: int) -> None:
                case = run.cases[case_index]
                with lock:
                    body, expect = case.variants[case.count % len(case.variants)]
                    case.count += 1
                invocation = api.enqueue(body)
                status, answer = api.wait(invocation)
                if invocation.header_fault:
                    expect = BAD_HEADERS
                    with lock:
                        header_faults["count"] += 1
                with lock:
                    judge(run, case, invocation.request_id, body, expect, status, answer)

            run.started = time.monotonic()
            try:
                if not polling():
                    raise SoakAbort(f"the bootstrap never had {workers} workers polling")
                for start in range(0, len(schedule), size):
                    api.add_next_faults(NEXT_FAULTS)
                    list(pool.map(one, schedule[start:start + size]))
                    if len(run.mismatches) > MAX_MISMATCHES:
                        raise SoakAbort(f"more than {MAX_MISMATCHES} mismatches: stopping early")
                    if not polling():
                        raise SoakAbort(f"after {start + size} invocations not every worker polls: "
                                        f"{api.snapshot()['next_waiting']} of {workers}, exit {process.poll()}")
                    proc, fds = settled_sample(process.pid)
                    done = min(start + size, len(schedule))
                    sample = {"invocations": done, "seconds": round(time.monotonic() - run.started, 1),
                              "pid": process.pid, **{name: proc.get(name) for name in ("VmRSS", "RssAnon", "VmHWM", "Threads")},
                              "fds": len(fds), "pollers": api.snapshot()["next_waiting"], "mismatches": len(run.mismatches)}
                    print("  ".join(f"{name} {value}" for name, value in sample.items()), flush=True)
                    run.samples.append(sample)
                    if run.warm is None and done >= args.warmup:
                        run.warm = dict(sample, fd_targets=fds)
                    run.end = dict(sample, fd_targets=fds)
                    if time.monotonic() - run.started > MAX_SECONDS:
                        raise SoakAbort(f"not done after {MAX_SECONDS} s")
                run.finished = time.monotonic()
            except SoakAbort as exc:
                run.aborted = str(exc)
            stats = api.snapshot()
            alive = process.poll() is None
        log.seek(0)
        output = log.read()
    counts = {key: output.count(marker) for key, marker in LOG_MARKERS.items()}
    return evaluate_concurrent(run, stats, alive, counts, header_faults["count"])


def evaluate_concurrent(run: Run, stats: dict, alive: bool, counts: dict[str, int], header_faulted: int) -> dict[str, Any]:
    """The figures of a --concurrency run and its criteria.  RSS is judged by the highest sample
    of each half after the warm-up, so that what ran just before one sample (an oversized answer,
    say) cannot decide the result."""
    args = run.args
    duration = (run.finished or time.monotonic()) - run.started
    done = sum(c.count for c in run.cases)
    after = [sample for sample in run.samples if run.warm and sample["invocations"] >= run.warm["invocations"]]
    half = len(after) // 2
    early, late = after[:max(half, 1)], after[max(half, 1):]
    growth = max(s["VmRSS"] for s in late) - max(s["VmRSS"] for s in early) if early and late else None
    phases = len(run.samples)
    criteria = {
        "completed": run.aborted is None and done == args.invocations,
        "no_mismatches": not run.mismatches,
        "same_process": alive and len({s["pid"] for s in run.samples}) == 1 and not counts["fatal"],
        "pollers_at_end": stats["next_waiting"] == args.concurrency,
        "rss_flat": growth is not None and growth < MAX_RSS_GROWTH_KIB_CONCURRENT,
        # A worker whose last answer closed its SageMaker connection (an oversized answer, a
        # timeout) holds one socket fewer until its next call, so the count wanders below the
        # ceiling of four held per worker (DescriptorLimit.heldPerWorker) plus the standard streams: a
        # leak, however slow, would cross it.
        "fds_flat": len(after) >= 2 and all(s["fds"] <= 4 * args.concurrency + MAX_OTHER_FDS for s in after),
        "threads_flat": bool(early and late) and max(s["Threads"] for s in late) <= max(s["Threads"] for s in early),
        "no_secrets_in_output": run.secret_answers == 0 and not any(counts[f"secret: {n}"] for n in SECRETS),
        "runtime_api_faults_served": stats["next_faults"] == phases * len(NEXT_FAULTS)
        and header_faulted == phases * sum(f.startswith("deadline:") for f in NEXT_FAULTS),
    }
    return {
        "per_case": {c.name: {"count": c.count, "mismatches": c.mismatches} for c in run.cases},
        "mismatch_examples": run.mismatches[:MAX_EXAMPLES],
        "invocations": f"{done:,} of {args.invocations:,} (warm-up {args.warmup:,}), {args.concurrency} at a time",
        "duration": f"{duration:.1f} s, {done / max(duration, 1e-9):.1f} invocations/s",
        "mismatches": len(run.mismatches),
        "rss_kib": {"growth (highest late - highest early)": growth, "growth limit": MAX_RSS_GROWTH_KIB_CONCURRENT,
                    "highest": max((s["VmRSS"] for s in after), default=None),
                    "VmHWM": (run.end or {}).get("VmHWM")},
        "fds": sorted({s["fds"] for s in after}), "threads": sorted({s["Threads"] for s in after}),
        "pollers": {"end": stats["next_waiting"], "workers": args.concurrency},
        "runtime_api_faults": {"served": stats["next_faults"], "invocations with broken headers": header_faulted,
                               "per phase": NEXT_FAULTS},
        "log": counts,
        "answers_with_secrets": run.secret_answers,
        "aborted": run.aborted,
        "criteria": criteria,
        "passed": all(criteria.values()),
        "bootstrap": str(args.bootstrap),
        "samples": run.samples,
    }


def print_report(figures: dict[str, Any]) -> None:
    print("\ncase                        count  mismatches")
    for name, row in figures["per_case"].items():
        print(f"  {name:<24} {row['count']:>7,} {row['mismatches']:>10}")
    for example in figures["mismatch_examples"]:
        print(f"  MISMATCH #{example['invocation']} {example['case']}: {example['problem']}\n"
              f"    event:  {example['event'][:160]}\n    answer: {example['answer'][:240]}")
    print()
    for name, value in figures.items():
        if value is not None and name not in ("per_case", "mismatch_examples", "criteria", "passed", "samples"):
            print(f"{name:<22} {value}")
    print("criteria               " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in figures["criteria"].items()))
    print("SOAK PASSED" if figures["passed"] else "SOAK FAILED", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Soak the release bootstrap under the RIE: many invocations, one process, no leak.")
    parser.add_argument("--invocations", type=int, help="default 100,000 (3,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="CI smoke: 3,000 invocations, warm-up 1,000")
    parser.add_argument("--bootstrap", type=Path, default=harness.DEFAULT_BOOTSTRAP)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="workers (AWS_LAMBDA_MAX_CONCURRENCY) and invocations at a time; above 1 under the "
                             "concurrent Runtime API stand-in, with its faults (default 1: under the RIE)")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= 1600:
        parser.error("--concurrency must be from 1 to 1600")
    if args.invocations is None:
        if args.concurrency > 1:
            args.invocations = 2_000 if args.quick else 100_000
        else:
            args.invocations = 3_000 if args.quick else 100_000
    if args.invocations < 2:
        parser.error("--invocations must be at least 2 (a warm-up and a run)")
    # RSS and fds are compared between the end of the warm-up and the end.
    args.warmup = min(1_000 if args.quick else 2_000, args.invocations // 2)
    args.bootstrap = args.bootstrap.resolve()
    needed = [(args.bootstrap, "make build")] + ([(harness.RIE_PATH, "tools/fetch-rie.sh")] if args.concurrency == 1 else [])
    for path, hint in needed:
        if not (path.is_file() and os.access(path, os.X_OK)):
            parser.error(f"{path} is missing or not executable: run {hint}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.exit_on_termination()  # SIGTERM/SIGHUP stop the RIE, bootstrap and stand-in too
    timeout_ms = CONCURRENT_SAGEMAKER_TIMEOUT_MS if args.concurrency > 1 else SAGEMAKER_TIMEOUT_MS
    print(f"soak: {args.invocations:,} invocations (warm-up {args.warmup:,}) of {args.bootstrap}, "
          f"{args.concurrency} at a time; SAGEMAKER_TIMEOUT_MS={timeout_ms}", flush=True)
    try:
        if args.concurrency > 1:
            figures = run_concurrent_soak(Run(args, build_concurrent_cases()))
        else:
            figures = run_soak(Run(args, build_cases()))
    except KeyboardInterrupt:
        print("\nsoak: interrupted; the RIE, bootstrap and stand-in are stopped", file=sys.stderr)
        return 130
    print_report(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
