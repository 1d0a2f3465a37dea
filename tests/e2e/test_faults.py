"""Never hang, never crash: a slow, throttled, failing or vanishing SageMaker endpoint and a lost
Runtime API, end to end. Through the RIE where it can show the behaviour, against a scriptable
Runtime API (tools/runtime_api.py, the `fake` fixture) where the RIE cannot."""

from __future__ import annotations

import json
import signal
import socket
import time

import pytest

import harness
from conftest import invoke_json
from proxy_events import http_v2

PAYLOAD = {"inputs": "Copper hit a record high. Miners rallied.", "parameters": {"num_return_sequences": 1}}


def invoke_proxy(function):
    started = time.monotonic()
    response = invoke_json(function, http_v2(json.dumps(PAYLOAD)))
    return response, time.monotonic() - started


@pytest.mark.parametrize("shape", ["http", "direct"])
def test_throttled_twice_then_ok_after_three_attempts(make_lambda, standin, shape):
    function = make_lambda()
    standin.faults(mode="throttle", count=2)
    if shape == "http":
        assert invoke_proxy(function)[0]["statusCode"] == 200
    else:
        assert invoke_json(function, PAYLOAD)[0]["summary_text"] == "Copper hit a record high."
    assert standin.stats()["invocations"] == 3
    function.wait_for_output("attempts=3")


@pytest.mark.parametrize("env, mode, status, attempts", [
    ({}, "throttle", 429, 3),  # AWS_MAX_ATTEMPTS default
    ({"AWS_MAX_ATTEMPTS": "1"}, "service_unavailable", 503, 1),
], ids=["default", "configured"])
def test_always_failing_answers_after_max_attempts_well_before_the_deadline(make_lambda, standin, env, mode,
                                                                            status, attempts):
    function = make_lambda(timeout=10, **env)
    standin.faults(mode=mode)
    response, elapsed = invoke_proxy(function)
    assert response["statusCode"] == status
    assert standin.stats()["invocations"] == attempts
    if mode == "throttle":
        assert response["headers"]["Retry-After"] == "1"
        assert elapsed < 2


def test_slower_than_the_timeout_is_504_within_the_timeout_plus_200ms(make_lambda, standin):
    function = make_lambda(SAGEMAKER_TIMEOUT_MS="1000")
    invoke_proxy(function)  # warm: the cold start is not what is measured
    standin.faults(mode="slow", delay_ms=5000)
    response, elapsed = invoke_proxy(function)
    assert response["statusCode"] == 504
    assert json.loads(response["body"])["error"]["type"] == "Timeout"
    assert 1.0 <= elapsed < 1.2, elapsed


@pytest.mark.time_limit(30)
def test_slower_than_the_lambda_deadline_answers_in_time_without_a_restart(make_lambda, standin):
    function = make_lambda(timeout=3)  # SAGEMAKER_TIMEOUT_MS stays at its 60 s default
    invoke_proxy(function)
    pids = function.bootstrap_pids()
    standin.faults(mode="hang", delay_ms=20_000)
    response, elapsed = invoke_proxy(function)
    assert response["statusCode"] == 504
    assert elapsed < 3, elapsed  # answered before Lambda's own timeout
    standin.reset()
    response, _ = invoke_proxy(function)
    assert response["statusCode"] == 200
    assert function.bootstrap_pids() == pids
    assert "Task timed out" not in function.output()


def test_one_kept_alive_connection_serves_a_hundred_invocations(make_lambda, standin):
    function = make_lambda()
    for _ in range(100):
        response, _ = invoke_proxy(function)
        assert response["statusCode"] == 200
    stats = standin.stats()
    assert stats["succeeded"] == 100
    assert stats["connections"] == 1


def test_connection_dropped_while_idle_is_reopened_transparently(make_lambda):
    with harness.StandIn("--session-token", harness.SESSION_TOKEN, "--idle-timeout-ms", "200") as dropping:
        function = make_lambda(AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=dropping.url)
        for _ in range(3):
            response, _ = invoke_proxy(function)
            assert response["statusCode"] == 200
            time.sleep(0.5)  # the stand-in closes the idle connection meanwhile
        stats = dropping.stats()
        assert stats["succeeded"] == 3 and stats["invocations"] == 3
        assert stats["connections"] >= 3  # a new connection each time, and no failed invocation


@pytest.mark.parametrize("listening", [False, True], ids=["refused", "never-accepts"])
def test_unreachable_endpoint_is_502_after_three_attempts(make_lambda, listening):
    with socket.socket() as endpoint:
        endpoint.bind(("127.0.0.1", 0))
        if listening:  # never accepts: the TCP handshake completes in the kernel, TLS's never does
            endpoint.listen(16)
        function = make_lambda(AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=f"https://127.0.0.1:{endpoint.getsockname()[1]}",
                               SAGEMAKER_CONNECT_TIMEOUT_MS="300")
        response, elapsed = invoke_proxy(function)
    assert response["statusCode"] == 502, response
    error = json.loads(response["body"])["error"]
    assert error["type"] == "UpstreamUnreachable"
    function.wait_for_output("attempts=3")
    if listening:
        assert "timed out connecting" in error["message"]
        assert 0.9 <= elapsed < 3, elapsed


# --- Against the scriptable Runtime API --------------------------------------------------------


def test_lost_runtime_api_ends_the_process_non_zero_with_one_clear_line(fake):
    runtime, process = fake
    runtime.enqueue(PAYLOAD)
    assert runtime.wait_for_posts(1)[0]["path"].endswith("/response")
    time.sleep(0.3)  # the runtime is back in /next
    runtime.stop()
    assert process.wait(timeout=10) == 1
    output = process.stdout.read()
    assert output.count("[FATAL]") == 1
    assert "stopping: Runtime API unreachable" in output


def test_rejected_response_is_reported_through_error_and_the_loop_goes_on(fake):
    runtime, process = fake
    runtime.response_status = 413
    first = runtime.enqueue(PAYLOAD).request_id
    posts = runtime.wait_for_posts(2)
    assert posts[0]["path"] == f"/2018-06-01/runtime/invocation/{first}/response"
    assert posts[1]["path"] == f"/2018-06-01/runtime/invocation/{first}/error"
    assert posts[1]["headers"]["Lambda-Runtime-Function-Error-Type"] == "Runtime.ResponseTooLarge"
    error = json.loads(posts[1]["body"])
    assert error["errorType"] == "ResponseTooLarge" and "413" in error["errorMessage"]

    runtime.response_status = 202
    second = runtime.enqueue(PAYLOAD).request_id
    assert runtime.wait_for_posts(3)[2]["path"] == f"/2018-06-01/runtime/invocation/{second}/response"
    assert process.poll() is None


def test_trace_id_reaches_sagemaker(fake, standin):
    runtime, _ = fake
    trace = "Root=1-6744b1c0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
    request_id = runtime.enqueue(PAYLOAD, trace_id=trace).request_id
    runtime.wait_for_posts(1)
    headers = standin.stats()["last_request"]["headers"]
    assert headers["X-Amzn-Trace-Id"] == trace
    assert headers["X-Amzn-SageMaker-Inference-Id"] == request_id
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert "x-amzn-trace-id" not in signed  # X-Ray may rewrite it, so it is not signed


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_idle_exits_zero_with_a_last_line(fake, signum):
    runtime, process = fake
    runtime.enqueue(PAYLOAD)
    runtime.wait_for_posts(1)
    time.sleep(0.3)  # waiting in /next
    process.send_signal(signum)
    assert process.wait(timeout=10) == 0
    last = process.stdout.read().strip().splitlines()[-1]
    assert last.endswith(f"shutting down: received {signal.Signals(signum).name}")


def test_sigterm_during_an_invocation_finishes_it_first(fake, standin):
    runtime, process = fake
    standin.faults(mode="slow", delay_ms=1000)
    request_id = runtime.enqueue(PAYLOAD).request_id
    time.sleep(0.4)  # mid-invocation: SageMaker is slow
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert [post["path"] for post in runtime.posts] == [f"/2018-06-01/runtime/invocation/{request_id}/response"]
    assert json.loads(runtime.posts[0]["body"])[0]["summary_text"] == "Copper hit a record high."
