"""Whatever the internet sends, the answer is a clear 4xx (or, for a direct invocation, a function
error) and the same process serves the next request (conftest's `function`). Nothing the caller sends changes where the
request goes or which headers reach SageMaker."""

from __future__ import annotations

import base64
import json

import pytest

import harness
from conftest import invoke_json

ALLOWED_SAGEMAKER_HEADERS = {
    "host", "content-type", "accept", "content-length", "x-amz-date", "x-amz-security-token",
    "authorization", "x-amzn-sagemaker-inference-id", "x-amzn-trace-id",
}


def proxy(body, content_type="application/json", base64_body=False, **extra):
    event = {
        "version": "2.0", "routeKey": "POST /summarize", "rawPath": "/summarize",
        "headers": {"content-type": content_type} if content_type is not None else None,
        "requestContext": {"http": {"method": "POST", "path": "/summarize"}, "requestId": "adv-1"},
        "body": body, "isBase64Encoded": base64_body,
    }
    event.update(extra)
    return event


DEEP = '{"inputs": "x", "parameters": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
HUGE_NUMBER = '{"inputs": "x", "parameters": {"max_length": ' + "9" * 10_000 + "}}"

HTTP_CASES = {
    "nested-100000-deep": (proxy(DEEP), 400),
    "huge-number": (proxy(HUGE_NUMBER), 400),
    "invalid-utf8-text": (proxy(base64.b64encode(b"\xc3\x28 bad \xff").decode(), "text/plain", True), 400),
    "invalid-utf8-json": (proxy(base64.b64encode(b'{"inputs": "\xff\xfe"}').decode(), "application/json", True), 400),
    "nul-bytes-only": (proxy('{"inputs": "\\u0000\\u0000"}'), 400),
    "100000-empty-strings": (proxy(json.dumps({"inputs": [""] * 100_000})), 400),
    "parameters-wrong-types": (proxy(json.dumps({"inputs": "x", "parameters": {"num_beams": [1], "do_sample": 1}})), 400),
    "parameters-not-object": (proxy(json.dumps({"inputs": "x", "parameters": "fast"})), 400),
    "remote-code": (proxy(json.dumps({"inputs": "x", "parameters": {"custom_generate": "org/repo", "trust_remote_code": True}})), 400),
    "forked-workers": (proxy(json.dumps({"inputs": ["a", "b"], "parameters": {"num_workers": 64, "batch_size": 64}})), 400),
    "contrastive-search": (proxy(json.dumps({"inputs": "x", "parameters": {"penalty_alpha": 0.6, "top_k": 100000}})), 400),
    "nested-generation-config": (proxy(json.dumps({"inputs": "x", "parameters": {"generate_parameters": {"generation_config": {}}}})), 400),
    "invalid-base64": (proxy("!!!!", base64_body=True), 400),
    "headers-null-body-null": (proxy(None, None), 400),
    "odd-content-type": (proxy('{"inputs": 5}', "APPLICATION/JSON ; Charset=\"UTF-8\" ; boundary=x"), 400),
    "odd-unsupported-type": (proxy("x", "multipart/form-data; boundary=----x"), 415),
    "non-object-json-body": (proxy("[1, 2, 3]"), 400),
    "null-json-body": (proxy("null"), 400),
}


@pytest.mark.parametrize("case", HTTP_CASES)
def test_hostile_http_requests_get_a_clear_4xx(function, standin, case):
    event, status = HTTP_CASES[case]
    response = invoke_json(function, event)
    assert response["statusCode"] == status, response
    document = json.loads(response["body"])
    assert document["error_type"] and isinstance(document["error"], str) and document["error"]
    assert standin.stats()["invocations"] == 0


def test_duplicate_keys_are_decoded_without_crashing(function):
    response = invoke_json(function, proxy('{"inputs": "First. One.", "inputs": "Second. Two."}'))
    assert response["statusCode"] in (200, 400)


def test_nul_bytes_inside_an_article_are_passed_on_as_text(function, standin):
    response = invoke_json(function, proxy(json.dumps({"inputs": "Shares rose\u0000 sharply. Then fell."})))
    assert response["statusCode"] == 200
    assert standin.stats()["invocations"] == 1


DIRECT_CASES = {  # what the invoker's error message says
    "string": ('"summarise this"', 'must be a JSON object like {"inputs": "article text"}, got a string'),
    "number": ("42", "got a number"),
    "array": ('["a", "b"]', "got an array"),
    "null": ("null", "got null"),
    "true": ("true", "got a boolean"),
    "unknown-field": ('{"key1": "value1", "key2": "value2"}', '"key1" is not a known field'),
    "no-inputs": ("{}", '"inputs" is required'),
    "empty-inputs": ('{"inputs": ""}', '"inputs" is empty'),
    "empty-strings": (json.dumps({"inputs": [""] * 100_000}), '"inputs[0]" is empty'),
    "not-a-string": ('{"inputs": ["fine", 7]}', '"inputs[1]" must be a string'),
    "parameter-type": ('{"inputs": "x", "parameters": {"num_return_sequences": "five"}}',
                       '"parameters.num_return_sequences" must be an integer from 1 to 8 (MAX_RETURN_SEQUENCES), got "five"'),
    "remote-code": ('{"inputs": "x", "parameters": {"trust_remote_code": true, "device_map": "auto"}}',
                    '"parameters.device_map" is not accepted'),
    "nested-caps": ('{"inputs": "x", "parameters": {"generate_parameters": {"num_return_sequences": 50}}}',
                    '"parameters.generate_parameters.num_return_sequences" must be an integer from 1 to 8'),
    "nested": (DEEP, "not valid JSON: nested deeper than 512 levels"),
    "huge-number": (HUGE_NUMBER, "is out of range"),
    "not-json": ("<xml/>", "not valid JSON"),
    "unterminated": (b'{"inputs": "unterminated', "not valid JSON"),
    "invalid-utf8": (b'{"inputs": "\xff"}', "invalid UTF-8"),
}


@pytest.mark.parametrize("case", DIRECT_CASES)
def test_hostile_direct_events_are_function_errors(function, standin, case):
    event, fragment = DIRECT_CASES[case]
    status, _, body = function.invoke(event)
    assert status == 200  # the RIE answers 200 with the error document
    error = json.loads(body)
    assert error["errorType"] == "InvalidPayload", error
    assert fragment in error["errorMessage"], error
    assert error["stackTrace"] == []
    assert (error["error"], error["error_type"]) == (error["errorMessage"], "InvalidPayload"), error
    assert standin.stats()["invocations"] == 0


def test_six_megabyte_event_is_refused_cleanly(function, standin):
    # Lambda refuses events over 6 MiB (+100 bytes) before the function runs; one just inside
    # the limit still makes a SageMaker body over its 6 MiB limit, refused without a call.
    status, _, body = function.invoke(json.dumps({"inputs": "x" * (6 * 1024 * 1024)}))
    assert status == 200
    error = json.loads(body)
    assert error["errorType"] == "PayloadTooLarge"
    assert "6291456" in error["errorMessage"]
    assert standin.stats()["invocations"] == 0


def test_caller_cannot_steer_the_sagemaker_request(function, standin):
    hostile_headers = {
        "content-type": "application/json",
        "host": "evil.example.com",
        "x-forwarded-host": "evil.example.com",
        "x-amzn-sagemaker-target-model": "other-model.tar.gz",
        "x-amzn-sagemaker-target-variant": "shadow",
        "x-amzn-sagemaker-custom-attributes": "admin=true",
        "x-amz-security-token": "caller-token",
        "authorization": "AWS4-HMAC-SHA256 Credential=EVIL",
        "x-amz-target": "SageMaker.DeleteEndpoint",
    }
    event = proxy(json.dumps({"inputs": "Bonds rallied. Yields fell."}), rawPath="/../../endpoints/other/invocations")
    event["headers"] = hostile_headers
    event["requestContext"]["http"]["path"] = "/../../endpoints/other/invocations"
    event["queryStringParameters"] = {"EndpointName": "other"}
    response = invoke_json(function, event)
    assert response["statusCode"] == 200
    sent = standin.stats()["last_request"]
    assert sent["path"] == "/endpoints/financial-summarizer/invocations"
    names = {name.lower() for name in sent["headers"]}
    assert names <= ALLOWED_SAGEMAKER_HEADERS, names - ALLOWED_SAGEMAKER_HEADERS
    assert sent["headers"]["X-Amz-Security-Token"] == harness.SESSION_TOKEN
    assert "EVIL" not in sent["headers"]["Authorization"]
