"""API Gateway and ALB proxy events built from AWS's sample events
(Tests/LambdaEventsTests/Fixtures), with the method, headers and body a test wants. Shared by
the end-to-end tests and the soak (tools/soak.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "Tests" / "LambdaEventsTests" / "Fixtures"

# An ALB trace header after a hop (Self= then Root=; AWS's documented example), 80 characters:
# too long for X-Amzn-SageMaker-Inference-Id (1-64), which the stand-in checks as SageMaker does.
ALB_TRACE_ID = "Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _set_body(event: dict, body: str | bytes | None, base64_body: bool, *, flag_when_plain: bool) -> None:
    """Bytes, or base64_body, go base64-encoded as API Gateway sends binary bodies."""
    if isinstance(body, bytes) or base64_body:
        raw = body if isinstance(body, bytes) else body.encode()
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    elif flag_when_plain:
        event["body"], event["isBase64Encoded"] = body, False
    else:
        event["body"] = body
        event.pop("isBase64Encoded", None)  # may be missing in v2 events


def rest_v1(body: str | bytes | None, method="POST", headers=None, base64_body=False, multi=True) -> dict:
    """A REST API (payload 1.0) proxy event; `multi` also fills multiValueHeaders."""
    event = fixture("example-apigw-request.json")
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    headers = {"Content-Type": "application/json"} if headers is None else headers
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()} if multi else None
    _set_body(event, body, base64_body, flag_when_plain=True)
    return event


def http_v2(body: str | bytes | None, method="POST", headers=None, base64_body=False,
            name="example-apigw-v2-request-no-authorizer.json") -> dict:
    """An HTTP API / function URL (payload 2.0) event; `name` picks the sample."""
    event = fixture(name)
    event["requestContext"]["http"]["method"] = method
    event["headers"] = {"content-type": "application/json"} if headers is None else headers
    _set_body(event, body, base64_body, flag_when_plain=False)
    return event


def alb(body: str | None, multi=False) -> dict:
    """An ALB target event, with multiValueHeaders when the target group enables them."""
    event = fixture("example-alb-lambda-target-request-headers-only.json")
    event["httpMethod"] = "POST"
    headers = dict(event["headers"], **{"content-type": "application/json"})
    if multi:
        del event["headers"]
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        event["headers"] = headers
    event["body"] = body
    return event
