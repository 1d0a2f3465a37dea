"""API Gateway REST (v1), HTTP API (v2), function URL and ALB events end to end through the RIE:
every shape round-trips to the stand-in endpoint, every bad request gets its 4xx without reaching
SageMaker, and one bootstrap process serves the whole module (conftest's `function`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import proxy_events
from conftest import invoke_json
from proxy_events import fixture

REPO = Path(__file__).resolve().parents[2]
ARTICLE = (REPO / "events" / "article.txt").read_text().strip()
PAYLOAD = json.dumps({"inputs": ARTICLE, "parameters": {"num_return_sequences": 2}})


def rest_v1(body=PAYLOAD, **options):
    return proxy_events.rest_v1(body, **options)


def http_v2(body=PAYLOAD, **options):
    return proxy_events.http_v2(body, **options)


def alb(body=PAYLOAD, multi=False):
    return proxy_events.alb(body, multi)


def error_of(response):
    document = json.loads(response["body"])
    assert set(document) == {"error", "requestId"}, document
    assert len(document["requestId"]) == 36
    return document["error"]


def summaries(response):
    assert response["statusCode"] == 200, response
    headers = response.get("headers") or {k: v[0] for k, v in response["multiValueHeaders"].items()}
    assert headers["Content-Type"] == "application/json"
    return json.loads(response["body"])


SUCCESS_SHAPES = {
    "rest-v1": (lambda: rest_v1(), {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}),
    "rest-v1-base64": (lambda: rest_v1(base64_body=True), {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}),
    "rest-v1-console-null-maps": (lambda: fixture("own-apigw-console-test-null-maps.json"), {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}),
    "http-v2": (lambda: http_v2(), {"statusCode", "headers", "cookies", "body", "isBase64Encoded"}),
    "http-v2-base64": (lambda: http_v2(base64_body=True), {"statusCode", "headers", "cookies", "body", "isBase64Encoded"}),
    "function-url": (lambda: http_v2(name="lambda_function_url_request.json"), {"statusCode", "headers", "cookies", "body", "isBase64Encoded"}),
    "alb": (lambda: alb(), {"statusCode", "statusDescription", "headers", "body", "isBase64Encoded"}),
    "alb-multi-value": (lambda: alb(multi=True), {"statusCode", "statusDescription", "multiValueHeaders", "body", "isBase64Encoded"}),
    "alb-base64-multi-value": (lambda: fixture("own-alb-multi-value-post.json"), {"statusCode", "statusDescription", "multiValueHeaders", "body", "isBase64Encoded"}),
}


@pytest.mark.parametrize("shape", SUCCESS_SHAPES)
def test_every_event_shape_round_trips(function, standin, shape):
    make_event, keys = SUCCESS_SHAPES[shape]
    response = invoke_json(function, make_event())
    assert set(response) == keys
    assert response["isBase64Encoded"] is False
    answer = summaries(response)
    assert isinstance(answer, list) and answer and "summary_text" in answer[0]
    if "alb" in shape:
        assert response["statusDescription"] == "200 OK"
    assert standin.stats()["invocations"] == 1


def test_plain_text_body_is_the_article(function, standin):
    response = invoke_json(function, rest_v1(body=ARTICLE, headers={"Content-Type": "text/plain; charset=utf-8"}))
    assert summaries(response)[0]["summary_text"].startswith("Northwind Semiconductor raised")
    sent = standin.stats()["last_request"]
    assert sent["body_bytes"] > len(ARTICLE)


BAD_REQUESTS = {
    "get": (lambda: rest_v1(method="GET", body=None), 405, "MethodNotAllowed", "POST"),
    "put-v2": (lambda: http_v2(method="PUT"), 405, "MethodNotAllowed", "POST"),
    "xml": (lambda: rest_v1(headers={"Content-Type": "application/xml"}), 415, "UnsupportedMediaType", "application/xml"),
    "latin1": (lambda: http_v2(headers={"content-type": "text/plain; charset=ISO-8859-1"}), 415, "UnsupportedMediaType", "iso-8859-1"),
    "invalid-json": (lambda: rest_v1(body='{"inputs": '), 400, "InvalidJSON", "not valid JSON"),
    "missing-inputs": (lambda: http_v2(body='{"parameters": {}}'), 400, "InvalidRequest", '"inputs" is required'),
    "empty-inputs": (lambda: alb(body='{"inputs": ""}'), 400, "InvalidRequest", '"inputs" is empty'),
    "wrong-type": (lambda: rest_v1(body='{"inputs": 42}'), 400, "InvalidRequest", '"inputs" must be a string or a list of strings'),
    "wrong-parameter": (lambda: http_v2(body='{"inputs": "x", "parameters": {"top_k": "many"}}'), 400, "InvalidRequest", '"parameters.top_k"'),
    "empty-body": (lambda: rest_v1(body=None, headers={"Content-Type": "text/plain"}), 400, "InvalidRequest", "empty"),
    "invalid-base64": (lambda: dict(http_v2(), body="%%%not-base64%%%", isBase64Encoded=True), 400, "InvalidBase64", "base64"),
    "invalid-utf8": (lambda: rest_v1(body=b"\xff\xfe\xfa article", headers={"Content-Type": "text/plain"}), 400, "InvalidRequest", "UTF-8"),
    # Cost caps (MAX_NUM_BEAMS, MAX_BATCH_ARTICLES, ... at their defaults): refused before SageMaker.
    "over-beam-limit": (lambda: http_v2(body='{"inputs": "x", "parameters": {"num_beams": 64, "max_length": 100000}}'), 400, "InvalidRequest", '"parameters.num_beams" must be at most 8'),
    "over-batch-limit": (lambda: rest_v1(body=json.dumps({"inputs": ["An article."] * 33})), 400, "InvalidRequest", "at most 32 per request (MAX_BATCH_ARTICLES)"),
    # Lambda itself refuses events over 6 MB, but a 3.3 MB article of quotes becomes 6.6 MB of JSON.
    "too-large": (lambda: http_v2(body=b'"' * 3_300_000, headers={"content-type": "text/plain"}), 413, "PayloadTooLarge", "6291456"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_requests_get_4xx_with_a_json_error_and_never_reach_sagemaker(function, standin, case):
    make_event, status, error_type, fragment = BAD_REQUESTS[case]
    response = invoke_json(function, make_event())
    assert response["statusCode"] == status, response
    error = error_of(response)
    assert error["type"] == error_type
    assert fragment in error["message"], error
    headers = response.get("headers") or {}
    assert headers.get("Content-Type") == "application/json"
    if status == 405:
        assert headers["Allow"] == "OPTIONS, POST"
    assert standin.stats()["invocations"] == 0


def test_preflight_and_cors_headers(function, standin):
    origin = {"Origin": "https://news.example.com", "Access-Control-Request-Method": "POST",
              "Access-Control-Request-Headers": "content-type"}
    response = invoke_json(function, rest_v1(method="OPTIONS", body=None, headers=origin))
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://news.example.com"
    assert "POST" in response["headers"]["Access-Control-Allow-Methods"]
    assert "content-type" in response["headers"]["Access-Control-Allow-Headers"]

    response = invoke_json(function, http_v2(headers={"content-type": "application/json", "origin": "https://news.example.com"}))
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://news.example.com"
    response = invoke_json(function, http_v2(headers={"content-type": "application/json", "origin": "https://evil.example"}))
    assert "Access-Control-Allow-Origin" not in response["headers"]
    assert standin.stats()["invocations"] == 2


UPSTREAM_FAILURES = {
    "throttled": (dict(mode="throttle"), 429, "Throttled", "1"),
    "model-not-ready": (dict(mode="model_not_ready"), 503, "ModelNotReady", "10"),
    "service-unavailable": (dict(mode="service_unavailable"), 503, "UpstreamUnavailable", "2"),
    "internal-failure": (dict(mode="internal_failure"), 502, "UpstreamUnavailable", None),
    "slow": (dict(mode="slow", delay_ms=3000), 504, "Timeout", None),
    "garbage": (dict(mode="garbage"), 502, "InvalidModelResponse", None),
}


@pytest.mark.parametrize("case", UPSTREAM_FAILURES)
def test_upstream_failures_map_to_http(function, standin, case):
    plan, status, error_type, retry_after = UPSTREAM_FAILURES[case]
    standin.faults(**plan)
    response = invoke_json(function, http_v2())
    assert response["statusCode"] == status, response
    assert error_of(response)["type"] == error_type
    assert response["headers"].get("Retry-After") == retry_after


def test_unknown_endpoint_is_502_with_sagemakers_words(make_lambda):
    function = make_lambda(ENDPOINT_NAME="summarizer-typo")
    response = invoke_json(function, http_v2())
    assert response["statusCode"] == 502
    error = error_of(response)
    assert error["type"] == "EndpointValidationError"
    assert "summarizer-typo" in error["message"]
    error = invoke_json(function, {"inputs": "Anything."})  # direct: a function error
    assert error["errorType"] == "EndpointValidationError"
    assert "Endpoint summarizer-typo of account" in error["errorMessage"]


def test_cost_caps_come_from_the_environment(make_lambda, standin):
    """The template's MaxGenerationTokens etc. reach the function as MAX_*; direct invocations are capped too."""
    function = make_lambda(MAX_GENERATION_TOKENS="100", MAX_RETURN_SEQUENCES="1")
    response = invoke_json(function, http_v2(body='{"inputs": "x", "parameters": {"max_new_tokens": 101}}'))
    assert response["statusCode"] == 400
    assert error_of(response)["message"] == (
        '"parameters.max_new_tokens" must be at most 100 on this API (MAX_GENERATION_TOKENS), got 101')
    status, _, body = function.invoke({"inputs": "x", "parameters": {"num_return_sequences": 2}})
    error = json.loads(body)
    assert error["errorType"] == "InvalidPayload", error
    assert '"parameters.num_return_sequences" must be at most 1' in error["errorMessage"]
    assert "MAX_RETURN_SEQUENCES" in error["errorMessage"]
    assert standin.stats()["invocations"] == 0
    # Within the caps, the request goes through.
    assert summaries(invoke_json(function, http_v2(body='{"inputs": "x", "parameters": {"max_new_tokens": 100}}')))
    assert standin.stats()["invocations"] == 1


def test_curl_d_json_labelled_as_a_form_is_read_as_json(function, standin):
    """`curl -d '{"inputs": ...}'` labels its JSON application/x-www-form-urlencoded."""
    body = json.dumps({"inputs": "Copper hit a record high. Miners rallied."})
    response = invoke_json(function, http_v2(body, headers={"content-type": "application/x-www-form-urlencoded"}))
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"]) == [{"summary_text": "Copper hit a record high."}]
    # An article file sent the same way (`curl -d @article.txt`) is still the article.
    response = invoke_json(function, rest_v1("Shares rose {sharply} today. Then fell.",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert json.loads(response["body"]) == [{"summary_text": "Shares rose {sharply} today."}]


def test_hugging_face_inference_api_options_are_accepted_and_not_sent_on(function, standin):
    body = json.dumps({"inputs": "Copper hit a record high. Miners rallied.",
                       "options": {"wait_for_model": True, "use_cache": False}})
    response = invoke_json(function, http_v2(body))
    assert response["statusCode"] == 200, response["body"]
    assert standin.stats()["last_request"]["body_bytes"] == len(json.dumps({"inputs": "Copper hit a record high. Miners rallied."}, separators=(",", ":")))
    response = invoke_json(function, http_v2(json.dumps({"inputs": "x", "options": 1})))
    assert response["statusCode"] == 400
    assert error_of(response)["message"] == '"options" must be an object, got a number'
