"""API Gateway and ALB proxy events built from AWS's sample events (Tests/LambdaEventsTests/Fixtures),
with the method, headers, path, query and body a caller wants: for the end-to-end tests, the soak
and `make serve`."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qsl

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


def _grouped(pairs) -> dict[str, list[str]]:
    """Repeated names (headers, query parameters) with all their values, in order."""
    groups: dict[str, list[str]] = {}
    for name, value in pairs:
        groups.setdefault(name, []).append(value)
    return groups


def rest_v1(body: str | bytes | None, method="POST", headers=None, base64_body=False, path=None, query=None) -> dict:
    """A REST API (payload 1.0) proxy event.  `headers` is a dict, or (name, value) pairs as
    received: a repeated name keeps its last value in headers, all of them in multiValueHeaders.
    `path` makes it an event of the /summarize resource or else of /{proxy+}; `query` is the raw
    query string."""
    event = fixture("example-apigw-request.json")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    headers = {"Content-Type": "application/json"} if headers is None else headers
    groups = _grouped(headers.items() if isinstance(headers, dict) else headers)
    event["headers"] = {name: values[-1] for name, values in groups.items()}
    event["multiValueHeaders"] = groups
    if path is not None:
        resource = path if path == "/summarize" else "/{proxy+}"
        event["path"] = event["requestContext"]["path"] = path
        event["resource"] = event["requestContext"]["resourcePath"] = resource
        event["pathParameters"] = {"proxy": path[1:]} if resource == "/{proxy+}" else None
    if query is not None:
        # API Gateway sends null, not {}, when there is nothing.
        parameters = _grouped(parse_qsl(query, keep_blank_values=True))
        event["queryStringParameters"] = {name: values[-1] for name, values in parameters.items()} or None
        event["multiValueQueryStringParameters"] = parameters or None
    _set_body(event, body, base64_body, flag_when_plain=True)
    return event


def http_v2(body: str | bytes | None, method="POST", headers=None, base64_body=False,
            name="example-apigw-v2-request-no-authorizer.json", path=None, query=None) -> dict:
    """An HTTP API / function URL (payload 2.0) event from the sample `name`.  `headers` is a dict,
    taken as it is, or (name, value) pairs as received, which get what an HTTP API makes of them:
    lower-case names, repeated values comma-joined, Cookie headers moved to `cookies`."""
    event = fixture(name)
    event["requestContext"]["http"]["method"] = method
    if headers is None:
        headers = {"content-type": "application/json"}
    elif not isinstance(headers, dict):
        groups = _grouped((name.lower(), value) for name, value in headers)
        cookies = [c.strip() for value in groups.pop("cookie", []) for c in value.split(";") if c.strip()]
        if cookies:
            event["cookies"] = cookies
        headers = {name: ",".join(values) for name, values in groups.items()}
    event["headers"] = headers
    if path is not None:
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if query is not None:
        event["rawQueryString"] = query
        parameters = _grouped(parse_qsl(query, keep_blank_values=True))
        event.pop("queryStringParameters", None)  # absent, not {}, when there is nothing
        if parameters:
            event["queryStringParameters"] = {name: ",".join(values) for name, values in parameters.items()}
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
