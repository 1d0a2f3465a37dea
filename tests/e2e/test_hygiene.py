"""What callers are told and what the process survives (issue 12), end to end: the account hidden
from anonymous callers, upstream text capped, answers too large for Lambda, a refused /response."""

from __future__ import annotations

import json
import re

import pytest

import harness
from conftest import BOOTSTRAP, invoke_json
from proxy_events import http_v2
from runtime_api import running_bootstrap

ACCOUNT_ID = "123456789012"
ARTICLE = "Copper hit a record high. Miners rallied."
PAYLOAD = {"inputs": ARTICLE}


def http_answer(function, event) -> tuple[int, dict]:
    response = invoke_json(function, event)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("mode", ["validation_error", "model_error", "access_denied"])
def test_anonymous_callers_never_see_the_account(make_lambda, standin, mode):
    function = make_lambda()
    standin.faults(mode=mode)
    status, body = http_answer(function, http_v2(json.dumps(PAYLOAD)))
    assert status in (500, 502)
    text = json.dumps(body)
    for detail in (ACCOUNT_ID, "arn:", "console.aws", "/aws/sagemaker", "assumed-role"):
        assert detail not in text, f"{detail} in {text}"
    assert body["requestId"]
    # The log keeps SageMaker's words for the operator.
    assert ACCOUNT_ID in function.wait_for_output(harness.INVOCATION_LINE)


def test_what_helps_the_caller_stays(make_lambda, standin):
    function = make_lambda()
    standin.faults(mode="model_error", status=400, message="Input is too long for the tokenizer (1300 > 1024 tokens)")
    status, body = http_answer(function, http_v2(json.dumps(PAYLOAD)))
    assert status == 502
    assert body["error"]["message"] == "the model failed with status 400: Input is too long for the tokenizer (1300 > 1024 tokens)"
    assert body["error"]["modelStatusCode"] == 400

    # A direct invoker holds IAM rights in the account: it is told where the model's logs are.
    standin.faults(mode="model_error", status=400, message="Input is too long")
    _, _, raw = function.invoke(PAYLOAD)
    error = json.loads(raw)
    assert error["errorType"] == "ModelError"
    assert "status 400" in error["errorMessage"] and "Input is too long" in error["errorMessage"]
    assert standin.stats()["invocations"] == 2  # a model error is never retried
    assert f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/" in error["errorMessage"]


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_upstream_text_is_capped_in_bodies_and_log_lines(make_lambda, standin, log_format):
    function = make_lambda(AWS_LAMBDA_LOG_FORMAT=log_format)
    huge = "the model says \"no\" \u0007 " * 20_000  # ~480 KB, quotes and a control character to escape
    standin.faults(mode="model_error", status=400, message=huge)
    _, body = http_answer(function, http_v2(json.dumps(PAYLOAD)))
    assert len(json.dumps(body["error"]["message"], ensure_ascii=False).encode()) - 2 <= 1024
    assert body["error"]["message"].startswith("the model failed with status 400: the model says")

    _, _, raw = function.invoke(PAYLOAD)
    error = json.loads(raw)
    assert len(json.dumps(error["errorMessage"], ensure_ascii=False).encode()) - 2 <= 1024

    output = function.wait_for_output(harness.INVOCATION_LINE if log_format == "Text" else '"message":"invocation"', count=2)
    error_lines = [line for line in output.splitlines() if "the model says" in line]
    assert len(error_lines) == 2
    for line in error_lines:
        assert len(line.encode()) <= 8 * 1024 + 300, len(line.encode())
        if log_format == "JSON":
            json.loads(line)


def test_an_answer_that_fits_sagemaker_but_not_lambda_is_a_502_and_the_process_goes_on(make_lambda, standin):
    function = make_lambda()
    # Just under the 6 MiB read limit: as a direct result it fits, as an HTTP body it does not
    # (the envelope escapes its quotes and adds its own fields).
    size = 6 * 1024 * 1024 - 40
    standin.faults(mode="oversized", size_bytes=size, count=1)
    status, _, raw = function.invoke(PAYLOAD)
    assert status == 200 and len(raw) == size, raw[:200]
    pids = function.bootstrap_pids()

    standin.faults(mode="oversized", size_bytes=size, count=1)
    status, body = http_answer(function, http_v2(json.dumps(PAYLOAD)))
    assert status == 502
    assert body["error"]["type"] == "ResponseTooLarge"
    assert body["requestId"]

    status, body = http_answer(function, http_v2(json.dumps(PAYLOAD)))
    assert status == 200 and body == [{"summary_text": "Copper hit a record high."}]
    assert function.bootstrap_pids() == pids
    assert "status=ResponseTooLarge" not in function.output(), "answered as a 502, not refused by Lambda"


def test_a_500_on_response_ends_the_process_at_once_with_the_invocation_logged_as_failed(fake):
    runtime, process = fake
    runtime.response_status = 500
    request_id = runtime.enqueue(PAYLOAD).request_id
    assert process.wait(timeout=10) == 1
    output = process.stdout.read()
    assert [post["path"] for post in runtime.posts] == [f"/2018-06-01/runtime/invocation/{request_id}/response"]
    assert output.count("[FATAL]") == 1 and "answered 500" in output
    assert re.search(rf"{request_id}\tinvocation kind=direct status=NotDelivered", output), output
    assert output.strip().splitlines()[-1].startswith("[FATAL]")


def test_header_spellings_are_read_the_same_way_in_every_fresh_process(standin):
    # Swift seeds its hashing per process: a rule that depended on dictionary order gave
    # different answers to the same request in different processes.
    event = http_v2(json.dumps(PAYLOAD), headers={"content-type": "text/plain", "Content-Type": "application/json"})
    answers = set()
    for _ in range(8):
        with running_bootstrap(BOOTSTRAP, harness.function_env(standin.url)) as (runtime, _):
            runtime.enqueue(event)
            post = runtime.wait_for_posts(1)[0]
        response = json.loads(post["body"])
        error = json.loads(response["body"]).get("error", {})
        answers.add((response["statusCode"], error.get("type"), error.get("message")))
    assert len(answers) == 1, answers
    status, _, message = answers.pop()
    # Two media types at once is no media type: the caller is told, whichever process answers.
    assert status == 415 and "application/json,text/plain" in message
