"""Direct invocations (the Lambda console's Test tab, non-proxy integrations) end to end:
RIE -> bootstrap -> signed InvokeEndpoint -> stand-in endpoint (which checks the signature
with botocore)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import harness
from conftest import invoke_json

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_console_event_returns_the_models_summaries(make_lambda, standin):
    function = make_lambda()
    event = json.loads((EVENTS / "console-test.json").read_text())
    answer = invoke_json(function, event)
    assert isinstance(answer, list) and len(answer) == 3
    assert answer[0]["generated_text"].startswith("Northwind Semiconductor raised its full-year revenue forecast")
    stats = standin.stats()
    assert stats["invocations"] == 1 and stats["succeeded"] == 1
    sent = stats["last_request"]
    assert sent["path"] == "/endpoints/financial-summarizer/invocations"
    assert sent["headers"]["Content-Type"] == "application/json"


def test_batch_input_gets_one_summary_per_article(make_lambda):
    function = make_lambda()
    event = json.loads((EVENTS / "batch.json").read_text())
    answer = invoke_json(function, event)
    assert len(answer) == len(event["inputs"]) == 2
    assert answer[1]["generated_text"].startswith("Brent crude fell 2.4%")


def test_session_token_is_sent_and_signed(make_lambda, standin):
    function = make_lambda()
    invoke_json(function, {"inputs": "Stocks rallied on Friday. Bonds fell."})
    headers = standin.stats()["last_request"]["headers"]
    assert headers["X-Amz-Security-Token"] == harness.SESSION_TOKEN
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amz-security-token" in signed and "host" in signed and "x-amz-date" in signed


BAD_EVENTS = [
    ({"key1": "value1", "key2": "value2"}, '"key1" is not a known field'),
    ('"just text"', "must be a JSON object"),
    ("42", "got a number"),
    ("null", "got null"),
    ([1, 2, 3], "got an array"),
    ({}, '"inputs" is required'),
    ({"inputs": ""}, '"inputs" is empty'),
    ({"inputs": ["fine", 7]}, '"inputs[1]" must be a string'),
    ({"inputs": "x", "parameters": {"num_return_sequences": "five"}}, '"parameters.num_return_sequences" must be an integer'),
    (b'{"inputs": "unterminated', "not valid JSON"),
]


def test_bad_events_get_clear_errors_without_calling_sagemaker_and_the_process_lives_on(make_lambda, standin):
    function = make_lambda()
    invoke_json(function, {"inputs": "Warm-up article. Second sentence."})
    pids = function.bootstrap_pids()
    assert len(pids) == 1

    for event, fragment in BAD_EVENTS:
        status, _, body = function.invoke(event)
        assert status == 200  # the RIE answers 200 with the error document
        error = json.loads(body)
        assert error["errorType"] == "InvalidPayload", error
        assert fragment in error["errorMessage"], error
        assert error["stackTrace"] == []

    # The same process then serves a good event; SageMaker saw only the two good ones.
    invoke_json(function, {"inputs": "Afterwards. Still alive."})
    assert function.bootstrap_pids() == pids
    assert standin.stats()["invocations"] == 2


def test_missing_endpoint_name_is_an_init_error(make_lambda, standin):
    function = make_lambda(ENDPOINT_NAME=None)
    status, _, body = function.invoke({"inputs": "Anything."})
    assert status == 502
    error = json.loads(body)
    assert error["errorType"] == "InvalidConfiguration"
    assert "ENDPOINT_NAME is not set" in error["errorMessage"]
    assert standin.stats()["invocations"] == 0
    assert "ENDPOINT_NAME is not set" in function.output()


def test_missing_credentials_is_an_init_error(make_lambda):
    function = make_lambda(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None)
    status, _, body = function.invoke({"inputs": "Anything."})
    assert status == 502
    assert "no AWS credentials" in json.loads(body)["errorMessage"]


def test_wrong_secret_is_reported_as_access_denied_without_leaking_it(make_lambda):
    secret = "WRONGsecretKEYthatMustNotLeak0123456789"
    function = make_lambda(AWS_SECRET_ACCESS_KEY=secret)
    status, _, body = function.invoke({"inputs": "Anything."})
    error = json.loads(body)
    assert error["errorType"] == "UpstreamAccessDenied"
    # The invoker gets a fixed sentence and the request id; SageMaker's answer quotes the signed
    # request (session token included), so its words go to the log only, redacted.
    request_id = re.search(r"\[INFO\]\t(\S+)\tinvocation kind=", function.wait_for_output(harness.INVOCATION_LINE))[1]
    assert error["errorMessage"] == f"{harness.ACCESS_DENIED_MESSAGE} ({request_id})"
    output = function.wait_for_output(harness.INVOCATION_LINE)
    assert "InvalidSignatureException" in output and "sagemaker:InvokeEndpoint" in output
    assert secret not in body.decode() and secret not in output
    assert harness.SESSION_TOKEN not in output and harness.SESSION_TOKEN not in body.decode()


def test_model_error_carries_the_models_message_and_is_not_retried(make_lambda, standin):
    function = make_lambda()
    standin.faults(mode="model_error", status=400, message="Input is too long for the tokenizer")
    status, _, body = function.invoke({"inputs": "Anything."})
    error = json.loads(body)
    assert error["errorType"] == "ModelError"
    assert "status 400" in error["errorMessage"]
    assert "Input is too long for the tokenizer" in error["errorMessage"]
    assert standin.stats()["invocations"] == 1


def test_unknown_endpoint_is_reported_with_sagemakers_words(make_lambda):
    function = make_lambda(ENDPOINT_NAME="no-such-endpoint")
    error = json.loads(function.invoke({"inputs": "Anything."})[2])
    assert error["errorType"] == "EndpointValidationError"
    assert "Endpoint no-such-endpoint of account" in error["errorMessage"]


def test_throttling_is_retried_within_the_budget(make_lambda, standin):
    function = make_lambda()
    standin.faults(mode="throttle", count=2)
    answer = invoke_json(function, {"inputs": "Retried article. Second."})
    assert answer[0]["generated_text"] == "Retried article."
    assert standin.stats()["invocations"] == 3
    function.wait_for_output("attempts=3")
