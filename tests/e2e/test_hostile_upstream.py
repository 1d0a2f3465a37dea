"""Nothing leaks, nothing kills it (issue 12), end to end against the fake Runtime API, which knows
each invocation's request id: SageMaker refusals that quote the signed request, answers too large
for Lambda (peak RSS stays low), request ids that cannot be an X-Amzn-SageMaker-Inference-Id."""

from __future__ import annotations

import json
import time

import pytest

import harness
from conftest import FAKE_SAGEMAKER_TIMEOUT_MS
from proxy_events import ALB_TRACE_ID, alb, http_v2, rest_v1

PAYLOAD = {"inputs": "Copper hit a record high. Miners rallied."}
ANSWER = [{"summary_text": "Copper hit a record high."}]
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
PEAK_RSS_LIMIT_KIB = 64 * 1024


def invoke(runtime, event) -> tuple[str, dict]:
    """(request id, the runtime's post: path, headers, body)."""
    request_id = runtime.enqueue(event).request_id
    return request_id, runtime.wait_for_posts(len(runtime.posts) + 1, timeout=FAKE_SAGEMAKER_TIMEOUT_MS / 1000 + 10)[-1]


def described(post: dict) -> str:
    """The post, short: a wrong answer here may be 100 MB."""
    return f"{post['path']}: {post['body'][:300]!r} ({len(post['body'])} bytes)"


def http_answer(post: dict) -> tuple[int, object]:
    assert post["path"].endswith("/response"), described(post)
    response = json.loads(post["body"])
    return response["statusCode"], json.loads(response["body"])


def function_error(post: dict) -> dict:
    assert post["path"].endswith("/error"), described(post)
    return json.loads(post["body"])


def assert_serves_the_next_event(runtime, process) -> None:
    _, post = invoke(runtime, PAYLOAD)
    assert post["path"].endswith("/response") and json.loads(post["body"]) == ANSWER
    assert process.poll() is None


# Refusals: the fixed sentence out, SageMaker's words to the log, secrets nowhere.

REFUSALS = {
    "access_denied": "AccessDeniedException",
    "signature_mismatch": "InvalidSignatureException",
    "incomplete_signature": "IncompleteSignatureException",
    "expired_token": "ExpiredTokenException",
}


@pytest.mark.parametrize("shape", ["http", "direct"])
@pytest.mark.parametrize("mode", list(REFUSALS))
def test_refusal_is_the_fixed_sentence_and_the_log_keeps_no_secret(fake, standin, mode, shape):
    runtime, process = fake
    standin.faults(mode=mode, count=1)
    request_id, post = invoke(runtime, http_v2(json.dumps(PAYLOAD)) if shape == "http" else PAYLOAD)
    authorization = standin.stats()["last_request"]["headers"]["Authorization"]
    if shape == "http":
        status, body = http_answer(post)
        assert status == 500
        assert body == {
            "error": {"type": "UpstreamAccessDenied", "message": harness.ACCESS_DENIED_MESSAGE},
            "requestId": request_id,
        }
    else:
        error = function_error(post)
        assert error["errorType"] == "UpstreamAccessDenied"
        assert error["errorMessage"].startswith(harness.ACCESS_DENIED_MESSAGE)
    assert_serves_the_next_event(runtime, process)

    process.kill()
    output = process.communicate(timeout=10)[0]
    # "The function's log has the details under this request id."
    assert any(request_id in line and REFUSALS[mode] in line for line in output.splitlines()), output
    signature = authorization.rsplit("Signature=", 1)[1]
    for secret in (harness.SESSION_TOKEN, harness.ACCESS_KEY, harness.SECRET_KEY, signature):
        assert secret not in output and secret not in post["body"].decode()
    # Nor the quoted canonical request / string-to-sign blocks.
    for block_marker in ("x-amz-security-token:", "AWS4-HMAC-SHA256"):
        assert block_marker not in output


# Answers too large for Lambda.

OVERSIZED = {
    "oversized-100MB": {"mode": "oversized", "size_bytes": 100_000_000, "count": 1},
    "endless": {"mode": "endless", "delay_ms": FAKE_SAGEMAKER_TIMEOUT_MS, "count": 1},
}


@pytest.mark.parametrize("shape", ["http", "direct"])
@pytest.mark.parametrize("plan", list(OVERSIZED))
def test_too_large_an_answer_is_cut_off_and_the_process_lives_on(fake, standin, plan, shape):
    runtime, process = fake
    standin.faults(**OVERSIZED[plan])
    started = time.monotonic()
    request_id, post = invoke(runtime, alb(json.dumps(PAYLOAD)) if shape == "http" else PAYLOAD)
    elapsed = time.monotonic() - started
    if shape == "http":
        status, body = http_answer(post)
        assert (status, body["error"]["type"], body["requestId"]) == (502, "ResponseTooLarge", request_id)
    else:
        assert function_error(post)["errorType"] == "ResponseTooLarge"
    # Cut off just above 6 MiB: no reason to wait for the SageMaker timeout.
    assert elapsed < FAKE_SAGEMAKER_TIMEOUT_MS / 1000
    assert harness.proc_status(process.pid)["VmHWM"] < PEAK_RSS_LIMIT_KIB
    assert_serves_the_next_event(runtime, process)


# Request ids that cannot be an inference id are replaced by the Lambda request id (None below).


def with_id(make, request_id: str) -> dict:
    event = make(json.dumps(PAYLOAD))
    event["requestContext"]["requestId"] = request_id
    return event


def alb_with_trace(trace: str) -> dict:
    event = alb(json.dumps(PAYLOAD))
    event["headers"]["x-amzn-trace-id"] = trace
    return event


REQUEST_IDS = {
    "v2-fitting": (lambda: with_id(http_v2, "JKJaXmPLvHcESHA="), "JKJaXmPLvHcESHA="),
    "v2-65-characters": (lambda: with_id(http_v2, "r" * 65), None),
    "v1-crlf-injection": (lambda: with_id(rest_v1, "abc\r\nX-Injected: yes"), None),
    "v2-not-ascii": (lambda: with_id(http_v2, "r\u00e9q-1"), None),
    "v2-control-character": (lambda: with_id(http_v2, "req\x01id"), None),
    "alb-self-root-trace": (lambda: alb_with_trace(ALB_TRACE_ID), None),
    "alb-crlf-injection": (lambda: alb_with_trace("Root=1-abc\r\nX-Injected: yes"), None),
}


@pytest.mark.parametrize("name", list(REQUEST_IDS))
def test_the_inference_id_is_the_events_request_id_only_when_it_fits(fake, standin, name):
    make_event, sent = REQUEST_IDS[name]
    request_id, post = invoke(fake[0], make_event())
    assert http_answer(post) == (200, ANSWER)
    lines = standin.stats()["last_request"]["header_lines"]
    assert [value for header, value in lines if header.lower() == INFERENCE_ID.lower()] == [sent or request_id]
    assert not [header for header, _ in lines if header.lower() == "x-injected"]
