"""tools/runtime_api.py's RuntimeAPI: each rule of its contract driven by hand over HTTP.

Its command line (the bootstrap under it, many invocations at once, SIGTERM, the stats) is
harness.ConcurrentLambda's, which tests/e2e/test_concurrency.py runs with the real bootstrap."""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import runtime_api

NEXT = "/2018-06-01/runtime/invocation/next"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"


def call(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def post(port: int, request_id: str, what: str, body: bytes = b"{}"):
    status, _, answer = call(port, "POST", f"/2018-06-01/runtime/invocation/{request_id}/{what}", body)
    return status, json.loads(answer)


@pytest.fixture
def api():
    with runtime_api.RuntimeAPI(timeout_s=3) as server:
        yield server


def delivered(api, event=b"{}"):
    """Queue EVENT and take it through /next, as a runtime would: (invocation, request id)."""
    invocation = api.enqueue(event)
    return invocation, call(api.port, "GET", NEXT)[1]["lambda-runtime-aws-request-id"]


def test_many_next_requests_are_held_open_until_events_come(api):
    count = 8
    with ThreadPoolExecutor(count) as pool:
        pollers = [pool.submit(call, api.port, "GET", NEXT) for _ in range(count)]
        deadline = time.monotonic() + 5
        while api.snapshot()["next_waiting"] < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert api.snapshot()["next_waiting"] == count  # all held, none answered yet
        assert not any(poller.done() for poller in pollers)
        invocations = [api.enqueue({"n": i}, trace_id=TRACE if i == 0 else None) for i in range(count)]
        got = [poller.result(5) for poller in pollers]
    ids = set()
    for status, headers, body in got:
        assert status == 200
        ids.add(headers["lambda-runtime-aws-request-id"])
        assert headers["lambda-runtime-invoked-function-arn"] == runtime_api.FUNCTION_ARN
        deadline_ms = int(headers["lambda-runtime-deadline-ms"])
        assert 0 < deadline_ms - time.time() * 1000 <= 3000
    assert len(ids) == count
    traces = [headers.get("lambda-runtime-trace-id") for _, headers, _ in got]
    assert traces.count(TRACE) == 1 and traces.count(None) == count - 1  # only when the caller gave one
    assert api.snapshot()["peak_in_flight"] == count

    # Each answer goes to its own caller, in whatever order they come back.
    for status, headers, body in reversed(got):
        assert post(api.port, headers["lambda-runtime-aws-request-id"], "response", b"echo " + body)[0] == 202
    for i, invocation in enumerate(invocations):
        assert api.wait(invocation) == (200, b'echo {"n": %d}' % i)


def test_unknown_undelivered_and_already_answered_ids_are_refused(api):
    assert post(api.port, "no-such-id", "response") == (400, runtime_api.INVALID_ID)
    invocation = api.enqueue(b"{}")
    assert post(api.port, invocation.request_id, "response") == (400, runtime_api.INVALID_ID)  # not yet
    request_id = call(api.port, "GET", NEXT)[1]["lambda-runtime-aws-request-id"]
    assert post(api.port, request_id, "response", b'"first"') == (202, {"status": "OK"})
    assert post(api.port, request_id, "response", b'"second"') == (400, runtime_api.INVALID_ID)
    assert post(api.port, request_id, "error", b'{"errorType":"X"}') == (400, runtime_api.INVALID_ID)
    assert api.wait(invocation) == (200, b'"first"')


def test_oversized_response_gets_lambdas_413_and_the_error_document_reaches_the_caller(api):
    invocation, request_id = delivered(api)
    status, document = post(api.port, request_id, "response", b"x" * (runtime_api.MAX_RESPONSE_BYTES + 1))
    assert status == 413
    assert document == {"errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                        "errorType": "RequestEntityTooLarge"}
    # Still open, for the runtime to report the failure through /error.
    error = b'{"errorType":"Function.ResponseTooLarge","errorMessage":"too large"}'
    assert post(api.port, request_id, "error", error)[0] == 202
    assert api.wait(invocation) == (200, error)


@pytest.mark.parametrize("picked_up", [True, False])
def test_timeout_answers_the_caller_and_refuses_the_late_answer(api, picked_up):
    started = time.monotonic()
    invocation, request_id = delivered(api) if picked_up else (api.enqueue(b"{}"), None)
    assert api.wait(invocation) == (200, b"Task timed out after 3.00 seconds")
    assert 2.9 <= time.monotonic() - started < 5
    if picked_up:
        assert post(api.port, request_id, "response") == (410, runtime_api.INVOKE_TIMEOUT)
    assert (api.snapshot()["timed_out"], api.snapshot()["queued"]) == (1, 0)


def test_init_error_fails_callers_and_a_second_one_is_refused(api):
    document = b'{"errorType":"Runtime.InitError","errorMessage":"ENDPOINT_NAME is not set"}'
    pending = api.enqueue(b"{}")
    status, _, answer = call(api.port, "POST", "/2018-06-01/runtime/init/error", document)
    assert status == 202
    assert api.wait(pending) == (502, document)
    status, _, answer = call(api.port, "POST", "/2018-06-01/runtime/init/error", document)
    assert (status, json.loads(answer)) == (403, runtime_api.INIT_REFUSED)
    assert api.wait(api.enqueue(b"{}")) == (502, document)


def test_front_door_refuses_an_event_over_lambdas_request_limit(api):
    status, _, body = call(api.port, "POST", runtime_api.INVOKE_PATH, b"x" * (runtime_api.MAX_EVENT_BYTES + 1))
    assert status == 413 and b"6291456" in body
    assert api.snapshot()["queued"] == 0


def test_chunked_response_body_is_read_and_limited(api):
    invocation, request_id = delivered(api)
    path = f"/2018-06-01/runtime/invocation/{request_id}/response"
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        # Over the limit in 1 MiB chunks: 413, and the same connection still works afterwards.
        chunk = b"z" * (1 << 20)
        connection.request("POST", path, body=iter([chunk] * 7), encode_chunked=True)
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (413, runtime_api.TOO_LARGE)
        # Exactly at the limit is accepted.
        connection.request("POST", path, body=iter([b"y" * (1 << 20)] * 6 + [b"y" * 100]), encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 202, response.read()
        response.read()
    finally:
        connection.close()
    assert api.wait(invocation) == (200, b"y" * runtime_api.MAX_RESPONSE_BYTES)


def test_next_faults_answer_polls_in_order_then_events_flow_again(api):
    status, _, answer = call(api.port, "POST", runtime_api.NEXT_FAULTS_PATH,
                             json.dumps({"faults": ["500", "429", "reset", "close"]}).encode())
    assert status == 202, answer
    assert call(api.port, "GET", NEXT)[0] == 500
    assert call(api.port, "GET", NEXT)[0] == 429
    with pytest.raises(ConnectionResetError):
        call(api.port, "GET", NEXT)
    with pytest.raises(http.client.RemoteDisconnected):
        call(api.port, "GET", NEXT)
    invocation, request_id = delivered(api)
    assert request_id == invocation.request_id  # the faults are used up
    assert api.snapshot()["next_faults"] == 4


@pytest.mark.parametrize("fault, header, value", [
    ("deadline:soon", "lambda-runtime-deadline-ms", "soon"),
    ("deadline:-5", "lambda-runtime-deadline-ms", "-5"),
    ("no-request-id", "lambda-runtime-aws-request-id", None),
])
def test_header_faults_break_one_delivered_invocation(api, fault, header, value):
    api.add_next_faults([fault])
    invocation = api.enqueue(b"{}")
    _, headers, body = call(api.port, "GET", NEXT)
    assert body == b"{}" and headers.get(header) == value
    if value is not None:  # still answerable by its id
        assert post(api.port, invocation.request_id, "error")[0] == 202
    _, request_id = delivered(api)
    assert request_id  # the next one is whole again


@pytest.mark.parametrize("document", [{"faults": ["502"]}, {"faults": "500"}, {}])
def test_unknown_next_faults_are_refused(api, document):
    status, _, answer = call(api.port, "POST", runtime_api.NEXT_FAULTS_PATH, json.dumps(document).encode())
    assert status == 400, answer
    assert not api.poll_faults and not api.header_faults
