"""Never hang, never crash: a slow, throttled, failing or vanishing SageMaker endpoint and a lost
Runtime API, end to end. Through the RIE where it can show the behaviour, against a scriptable
Runtime API (fake_runtime.py) where the RIE cannot."""

from __future__ import annotations

import json
import signal
import time

import pytest

import harness
from conftest import BOOTSTRAP, invoke_json
from fake_runtime import FakeRuntimeAPI, start_bootstrap
from proxy_events import http_v2

PAYLOAD = {"inputs": "Copper hit a record high. Miners rallied.", "parameters": {"num_return_sequences": 1}}


def invoke_proxy(function):
    started = time.monotonic()
    response = invoke_json(function, http_v2(json.dumps(PAYLOAD)))
    return response, time.monotonic() - started


def test_throttled_twice_then_ok_after_three_attempts(make_lambda, standin):
    function = make_lambda()
    standin.faults(mode="throttle", count=2)
    response, _ = invoke_proxy(function)
    assert response["statusCode"] == 200
    assert standin.stats()["invocations"] == 3
    function.wait_for_output("attempts=3")


def test_always_throttled_answers_429_well_before_the_deadline(make_lambda, standin):
    function = make_lambda(timeout=10)
    standin.faults(mode="throttle")
    response, elapsed = invoke_proxy(function)
    assert response["statusCode"] == 429
    assert response["headers"]["Retry-After"] == "1"
    assert standin.stats()["invocations"] == 3  # AWS_MAX_ATTEMPTS default
    assert elapsed < 2


def test_max_attempts_is_configurable(make_lambda, standin):
    function = make_lambda(AWS_MAX_ATTEMPTS="1")
    standin.faults(mode="service_unavailable")
    response, _ = invoke_proxy(function)
    assert response["statusCode"] == 503
    assert standin.stats()["invocations"] == 1


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


def test_model_error_is_never_retried(make_lambda, standin):
    function = make_lambda()
    standin.faults(mode="model_error", status=500, message="CUDA out of memory")
    response, _ = invoke_proxy(function)
    assert response["statusCode"] == 502
    assert "CUDA out of memory" in json.loads(response["body"])["error"]["message"]
    assert standin.stats()["invocations"] == 1


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


def test_unreachable_endpoint_is_502_after_retries(make_lambda, standin):
    function = make_lambda(AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=f"http://127.0.0.1:{harness.free_port()}")
    response, elapsed = invoke_proxy(function)
    assert response["statusCode"] == 502
    assert json.loads(response["body"])["error"]["type"] == "UpstreamUnreachable"
    function.wait_for_output("attempts=3")


# --- Against the scriptable Runtime API --------------------------------------------------------


def function_env(standin):
    return harness.function_env(standin.url)


def wait_exit(process, timeout=10):
    try:
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()


def test_lost_runtime_api_ends_the_process_non_zero_with_one_clear_line(standin):
    with FakeRuntimeAPI() as runtime:
        process = start_bootstrap(BOOTSTRAP, runtime, function_env(standin))
        runtime.enqueue(PAYLOAD)
        posts = runtime.wait_for_posts(1)
        assert posts[0]["path"].endswith("/response")
        time.sleep(0.3)  # the runtime is back in /next
        runtime.stop()
        status = wait_exit(process)
        output = process.stdout.read()
    assert status == 1
    assert output.count("[FATAL]") == 1
    assert "stopping: Runtime API unreachable" in output


def test_rejected_response_is_reported_through_error_and_the_loop_goes_on(standin):
    with FakeRuntimeAPI() as runtime:
        process = start_bootstrap(BOOTSTRAP, runtime, function_env(standin))
        try:
            runtime.response_status = 413
            first = runtime.enqueue(PAYLOAD)
            posts = runtime.wait_for_posts(2)
            assert posts[0]["path"] == f"/2018-06-01/runtime/invocation/{first}/response"
            assert posts[1]["path"] == f"/2018-06-01/runtime/invocation/{first}/error"
            assert posts[1]["headers"]["Lambda-Runtime-Function-Error-Type"] == "Runtime.ResponseTooLarge"
            error = json.loads(posts[1]["body"])
            assert error["errorType"] == "ResponseTooLarge" and "413" in error["errorMessage"]

            runtime.response_status = 202
            second = runtime.enqueue(PAYLOAD)
            posts = runtime.wait_for_posts(3)
            assert posts[2]["path"] == f"/2018-06-01/runtime/invocation/{second}/response"
            assert process.poll() is None
        finally:
            process.kill()


def test_trace_id_reaches_sagemaker(standin):
    trace = "Root=1-6744b1c0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
    with FakeRuntimeAPI() as runtime:
        process = start_bootstrap(BOOTSTRAP, runtime, function_env(standin))
        try:
            request_id = runtime.enqueue(PAYLOAD, trace_id=trace)
            runtime.wait_for_posts(1)
            headers = standin.stats()["last_request"]["headers"]
            assert headers["X-Amzn-Trace-Id"] == trace
            assert headers["X-Amzn-SageMaker-Inference-Id"] == request_id
            signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
            assert "x-amzn-trace-id" not in signed  # X-Ray may rewrite it, so it is not signed
        finally:
            process.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_idle_exits_zero_with_a_last_line(standin, signum):
    with FakeRuntimeAPI() as runtime:
        process = start_bootstrap(BOOTSTRAP, runtime, function_env(standin))
        runtime.enqueue(PAYLOAD)
        runtime.wait_for_posts(1)
        time.sleep(0.3)  # waiting in /next
        process.send_signal(signum)
        status = wait_exit(process)
        output = process.stdout.read()
    assert status == 0
    assert output.strip().splitlines()[-1].endswith(f"shutting down: received {signal.Signals(signum).name}")


def test_sigterm_during_an_invocation_finishes_it_first(standin):
    standin.faults(mode="slow", delay_ms=1000)
    with FakeRuntimeAPI() as runtime:
        process = start_bootstrap(BOOTSTRAP, runtime, function_env(standin))
        request_id = runtime.enqueue(PAYLOAD)
        time.sleep(0.4)  # mid-invocation: SageMaker is slow
        process.send_signal(signal.SIGTERM)
        status = wait_exit(process)
        posts = runtime.posts
    assert status == 0
    assert [post["path"] for post in posts] == [f"/2018-06-01/runtime/invocation/{request_id}/response"]
    assert json.loads(posts[0]["body"])[0]["generated_text"] == "Copper hit a record high."
