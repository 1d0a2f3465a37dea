"""Direct invocations (the Lambda console's Test tab, non-proxy integrations) end to end:
RIE -> bootstrap -> signed InvokeEndpoint -> stand-in endpoint (which checks the signature
with botocore). Invalid direct events: test_adversarial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness
from conftest import invoke_json

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize("name, count, index, summary", [
    ("console-test.json", 3, 0, "Northwind Semiconductor raised its full-year revenue forecast"),
    ("batch.json", 2, 1, "Brent crude fell 2.4%"),  # one summary per article
])
def test_event_files_get_the_models_summaries_signed_with_the_session_token(make_lambda, standin, name, count,
                                                                               index, summary):
    function = make_lambda()
    answer = invoke_json(function, json.loads((EVENTS / name).read_text()))
    assert isinstance(answer, list) and len(answer) == count
    assert answer[index]["summary_text"].startswith(summary)
    stats = standin.stats()
    assert stats["invocations"] == 1 and stats["succeeded"] == 1
    sent = stats["last_request"]
    assert sent["path"] == "/endpoints/financial-summarizer/invocations"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["X-Amz-Security-Token"] == harness.SESSION_TOKEN
    signed = sent["headers"]["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amz-security-token" in signed and "host" in signed and "x-amz-date" in signed


@pytest.mark.parametrize("missing, error_type, message", [
    (["ENDPOINT_NAME"], "InvalidConfiguration", "ENDPOINT_NAME is not set"),
    (["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"], None, "no AWS credentials"),
], ids=["endpoint-name", "credentials"])
def test_missing_configuration_is_an_init_error(make_lambda, standin, missing, error_type, message):
    function = make_lambda(**dict.fromkeys(missing))
    status, _, body = function.invoke({"inputs": "Anything."})
    assert status == 502
    error = json.loads(body)
    assert message in error["errorMessage"]
    assert error_type in (None, error["errorType"])
    assert standin.stats()["invocations"] == 0
    assert message in function.output()
