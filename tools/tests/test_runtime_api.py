"""tools/runtime_api.py: the concurrent Runtime API stand-in, and harness.ConcurrentLambda on it.

The runtime side is driven by hand over HTTP here, so each rule of the contract is checked on
its own; the last tests run a tiny threaded Python runtime under ConcurrentLambda."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness  # noqa: E402
import runtime_api  # noqa: E402

NEXT = "/2018-06-01/runtime/invocation/next"


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


def invoke_in_background(api, event):
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=api.invoke(event)), daemon=True)
    thread.start()
    return thread, result


def test_many_next_requests_are_held_open_until_events_come(api):
    count = 8
    got = [None] * count

    def poll(i):
        got[i] = call(api.port, "GET", NEXT)

    pollers = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(count)]
    for thread in pollers:
        thread.start()
    deadline = time.monotonic() + 5
    while api.snapshot()["next_waiting"] < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert api.snapshot()["next_waiting"] == count  # all held, none answered yet
    assert all(g is None for g in got)

    callers = [invoke_in_background(api, {"n": i}) for i in range(count)]
    for thread in pollers:
        thread.join(5)
    ids = set()
    for status, headers, body in got:
        assert status == 200
        ids.add(headers["lambda-runtime-aws-request-id"])
        assert headers["lambda-runtime-invoked-function-arn"] == runtime_api.FUNCTION_ARN
        deadline_ms = int(headers["lambda-runtime-deadline-ms"])
        assert 0 < deadline_ms - time.time() * 1000 <= 3000
        assert "lambda-runtime-trace-id" not in headers  # only when the caller gave one
    assert len(ids) == count
    assert api.snapshot()["peak_in_flight"] == count

    # Each answer goes to its own caller, in whatever order they come back.
    for status, headers, body in reversed(got):
        assert post(api.port, headers["lambda-runtime-aws-request-id"], "response", b"echo " + body)[0] == 202
    for (thread, result), i in zip(callers, range(count)):
        thread.join(5)
        assert result["answer"] == (200, b'echo {"n": %d}' % i)


def test_trace_id_is_passed_on(api):
    api.enqueue(b"{}")
    api.enqueue(b"{}", trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    first = call(api.port, "GET", NEXT)[1]
    second = call(api.port, "GET", NEXT)[1]
    assert "lambda-runtime-trace-id" not in first
    assert second["lambda-runtime-trace-id"] == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"


def test_unknown_and_already_answered_ids_are_refused(api):
    assert post(api.port, "no-such-id", "response") == (400, runtime_api.INVALID_ID)
    thread, result = invoke_in_background(api, b"{}")
    request_id = call(api.port, "GET", NEXT)[1]["lambda-runtime-aws-request-id"]
    assert post(api.port, request_id, "response", b'"first"') == (202, {"status": "OK"})
    assert post(api.port, request_id, "response", b'"second"') == (400, runtime_api.INVALID_ID)
    assert post(api.port, request_id, "error", b'{"errorType":"X"}') == (400, runtime_api.INVALID_ID)
    thread.join(5)
    assert result["answer"] == (200, b'"first"')


def test_an_id_not_yet_delivered_is_refused(api):
    invocation = api.enqueue(b"{}")
    assert post(api.port, invocation.request_id, "response") == (400, runtime_api.INVALID_ID)


def test_error_document_reaches_the_caller(api):
    thread, result = invoke_in_background(api, b"{}")
    request_id = call(api.port, "GET", NEXT)[1]["lambda-runtime-aws-request-id"]
    document = b'{"errorType":"Function.BadInput","errorMessage":"no text"}'
    assert post(api.port, request_id, "error", document)[0] == 202
    thread.join(5)
    assert result["answer"] == (200, document)


def test_oversized_response_gets_lambdas_413_and_the_invocation_stays_open(api):
    thread, result = invoke_in_background(api, b"{}")
    request_id = call(api.port, "GET", NEXT)[1]["lambda-runtime-aws-request-id"]
    status, document = post(api.port, request_id, "response", b"x" * (runtime_api.MAX_RESPONSE_BYTES + 1))
    assert status == 413
    assert document == {"errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                        "errorType": "RequestEntityTooLarge"}
    # Exactly at the limit is accepted.
    assert post(api.port, request_id, "response", b"y" * runtime_api.MAX_RESPONSE_BYTES)[0] == 202
    thread.join(5)
    assert result["answer"][1] == b"y" * runtime_api.MAX_RESPONSE_BYTES


def test_timeout_answers_the_caller_and_refuses_the_late_answer(api):
    started = time.monotonic()
    thread, result = invoke_in_background(api, b"{}")
    request_id = call(api.port, "GET", NEXT)[1]["lambda-runtime-aws-request-id"]
    thread.join(10)
    elapsed = time.monotonic() - started
    assert result["answer"] == (200, b"Task timed out after 3.00 seconds")
    assert 2.9 <= elapsed < 5
    assert post(api.port, request_id, "response") == (410, runtime_api.INVOKE_TIMEOUT)
    assert api.snapshot()["timed_out"] == 1


def test_an_event_nobody_picks_up_times_out_too(api):
    assert api.invoke(b"{}") == (200, b"Task timed out after 3.00 seconds")
    assert api.snapshot()["queued"] == 0


def test_init_error_fails_callers_and_a_second_one_is_refused(api):
    document = b'{"errorType":"Runtime.InitError","errorMessage":"ENDPOINT_NAME is not set"}'
    thread, result = invoke_in_background(api, b"{}")
    time.sleep(0.1)
    status, _, answer = call(api.port, "POST", "/2018-06-01/runtime/init/error", document)
    assert status == 202
    thread.join(5)
    assert result["answer"] == (502, document)
    status, _, answer = call(api.port, "POST", "/2018-06-01/runtime/init/error", document)
    assert (status, json.loads(answer)) == (403, runtime_api.INIT_REFUSED)
    assert api.invoke(b"{}") == (502, document)


def test_front_door_refuses_an_event_over_lambdas_request_limit(api):
    status, _, body = call(api.port, "POST", runtime_api.INVOKE_PATH, b"x" * (runtime_api.MAX_EVENT_BYTES + 1))
    assert status == 413 and b"6291456" in body
    assert api.snapshot()["queued"] == 0


# A runtime in a few lines: AWS_LAMBDA_MAX_CONCURRENCY threads (1 when unset), each with its own
# /next loop (a long poll: no client timeout), echoing the event after 0.3 s; on SIGTERM it exits
# 0 once no invocation is in flight.
THREADED_RUNTIME = textwrap.dedent('''\
    #!/usr/bin/env python3
    import http.client, os, signal, threading, time
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    workers = int(os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY") or 1)
    stopping = threading.Event()
    busy = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    def loop():
        c = http.client.HTTPConnection(host, int(port))
        while True:
            c.request("GET", "/2018-06-01/runtime/invocation/next")
            r = c.getresponse()
            body = r.read()
            busy.append(1)
            rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
            time.sleep(0.3)
            c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", body=b"echo " + body)
            c.getresponse().read()
            print(f"[INFO]\\t{rid}\\tinvocation kind=direct status=200", flush=True)
            busy.pop()
    for _ in range(workers):
        threading.Thread(target=loop, daemon=True).start()
    stopping.wait()
    while busy:
        time.sleep(0.01)
    os._exit(0)
''')


@pytest.fixture
def threaded_runtime(tmp_path):
    path = tmp_path / "bootstrap"
    path.write_text(THREADED_RUNTIME.replace("/usr/bin/env python3", sys.executable))
    path.chmod(0o755)
    return path


def burst(function, count):
    answers, _, wall = harness.burst(function, [{"n": i} for i in range(count)], timeout=20)
    return answers, wall


def test_concurrent_lambda_overlaps_invocations_and_passes_the_variable(threaded_runtime):
    with harness.ConcurrentLambda(threaded_runtime, max_concurrency=8, timeout=5) as function:
        answers, elapsed = burst(function, 8)
        assert [a[0] for a in answers] == [200] * 8
        assert [a[2] for a in answers] == [b'echo {"n": %d}' % i for i in range(8)]
        assert elapsed < 0.3 * 8 / 2, elapsed  # overlapped, not one after the other
        assert function.stats()["peak_in_flight"] == 8
        assert len(function.bootstrap_pids()) == 1
        output = function.wait_for_output("\tinvocation kind=", count=8)
        request_ids = {answer[1]["x-amzn-requestid"] for answer in answers}
        assert len(request_ids) == 8
        assert all(f"[INFO]\t{request_id}\t" in output for request_id in request_ids)
        (bootstrap_pid,) = function.bootstrap_pids()
    # Stopping the stand-in leaves no bootstrap behind.
    assert bootstrap_pid not in {pid for pid, _, _ in harness.live_processes()}


def test_concurrent_lambda_without_the_variable_is_serial(threaded_runtime):
    with harness.ConcurrentLambda(threaded_runtime, timeout=10) as function:
        answers, elapsed = burst(function, 4)
        assert [a[0] for a in answers] == [200] * 4
        assert elapsed >= 0.3 * 4 * 0.95
        assert function.stats()["peak_in_flight"] == 1


def test_sigterm_to_the_bootstrap_is_seen_by_the_stand_in(threaded_runtime):
    with harness.ConcurrentLambda(threaded_runtime, max_concurrency=2, timeout=5) as function:
        results = []
        thread = threading.Thread(target=lambda: results.append(function.invoke(b'"x"')))
        thread.start()
        deadline = time.monotonic() + 5
        while function.stats()["in_flight"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(function.bootstrap_pids()[0], signal.SIGTERM)
        thread.join(10)
        assert results == [(200, results[0][1], b'echo "x"')]
        function.wait_for_output("BOOTSTRAP EXITED status=0")
        assert function.stats()["bootstrap_exit"] == 0


def test_chunked_response_body_is_read_and_limited(api):
    thread, result = invoke_in_background(api, b"{}")
    request_id = call(api.port, "GET", NEXT)[1]["lambda-runtime-aws-request-id"]
    path = f"/2018-06-01/runtime/invocation/{request_id}/response"
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        # Over the limit in 1 MiB chunks: 413, and the same connection still works afterwards.
        chunk = b"z" * (1 << 20)
        connection.request("POST", path, body=iter([chunk] * 7), encode_chunked=True)
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (413, runtime_api.TOO_LARGE)
        connection.request("POST", path, body=iter([b'[{"generated_', b'text": "ok"}]']), encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 202, response.read()
        response.read()
    finally:
        connection.close()
    thread.join(5)
    assert result["answer"] == (200, b'[{"generated_text": "ok"}]')
