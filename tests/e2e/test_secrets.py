"""Credentials, session tokens, signatures and Authorization headers never reach a log, at any
level, in either log format, whatever happens."""

from __future__ import annotations

import json
import re

import pytest

import harness
from proxy_events import rest_v1

ARTICLE = "Regulators fined Fabrikam Bank $40 million. The bank said it would not appeal."


@pytest.mark.parametrize("level, log_format", [("TRACE", "Text"), ("TRACE", "JSON"), (None, "Text")])
def test_no_secret_reaches_the_logs(make_lambda, standin, level, log_format):
    function = make_lambda(AWS_LAMBDA_LOG_LEVEL=level, AWS_LAMBDA_LOG_FORMAT=log_format)
    signatures = []

    def invoke(event):
        function.invoke(event)
        last = standin.stats()["last_request"]
        if last:
            signatures.append(last["headers"]["Authorization"].split("Signature=")[1])

    invoke({"inputs": ARTICLE})
    invoke({"inputs": [ARTICLE, ARTICLE]})
    invoke({"nonsense": True})
    standin.faults(mode="model_error", count=1)
    invoke({"inputs": ARTICLE})
    standin.faults(mode="throttle", count=5)
    invoke({"inputs": ARTICLE})
    invoke({"version": "2.0", "requestContext": {"http": {"method": "POST"}},
            "headers": {"content-type": "application/json", "authorization": "Bearer caller-token-123"},
            "body": json.dumps({"inputs": ARTICLE})})

    # Every invocation's log line is in (each is written just after its answer).
    output = function.wait_for_output(harness.INVOCATION_LINE if log_format == "Text" else '"message":"invocation"', count=6)
    # TRACE shows a preview of the article, as documented; the default level no article text.
    assert ARTICLE[:40] in output if level == "TRACE" else "Regulators fined" not in output
    for secret in [harness.SECRET_KEY, harness.SESSION_TOKEN, *signatures]:
        assert secret not in output
    assert "Authorization" not in output and "AWS4-HMAC-SHA256" not in output
    assert "caller-token-123" not in output
    if log_format == "JSON":
        for line in output.splitlines():
            if line.startswith("{"):
                json.loads(line)


def test_wrong_secret_is_access_denied_and_echoed_nowhere(make_lambda):
    secret = "AnotherWrongSecret/+/0123456789abcdefghij"
    function = make_lambda(AWS_SECRET_ACCESS_KEY=secret, AWS_LAMBDA_LOG_LEVEL="TRACE")
    _, _, direct = function.invoke({"inputs": ARTICLE})
    error = json.loads(direct)
    assert error["errorType"] == "UpstreamAccessDenied"
    # The invoker gets a fixed sentence and the request id; SageMaker's answer quotes the signed
    # request (session token included), so its words go to the log only, redacted.
    request_id = re.search(r"\[INFO\]\t(\S+)\tinvocation kind=", function.wait_for_output(harness.INVOCATION_LINE))[1]
    assert error["errorMessage"] == f"{harness.ACCESS_DENIED_MESSAGE} ({request_id})"
    _, _, http = function.invoke(rest_v1(json.dumps({"inputs": ARTICLE})))
    response = json.loads(http)
    assert response["statusCode"] == 500
    document = json.loads(response["body"])
    assert (document["error_type"], document["error"]) == ("UpstreamAccessDenied", harness.ACCESS_DENIED_MESSAGE)
    output = function.wait_for_output(harness.INVOCATION_LINE, count=2)
    assert "InvalidSignatureException" in output and "sagemaker:InvokeEndpoint" in output
    for text in (direct.decode(), http.decode(), output):
        assert secret not in text and harness.SESSION_TOKEN not in text
