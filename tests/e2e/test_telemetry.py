"""What operators see besides the log lines: the EMF metrics record each invocation writes to the
log (read back through the RIE, as CloudWatch Logs would), and the SageMaker call as an X-Ray
subsegment sent over UDP to the daemon address (a loopback listener here), both checked against
the published formats (telemetry_specs)."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import harness
import pytest
from conftest import BOOTSTRAP
from runtime_api import running_bootstrap
from telemetry_specs import check_emf, check_subsegment, emf_records, parse_daemon_datagram

PAYLOAD = {"inputs": "Copper hit a record high. Miners rallied."}
NAMESPACE = "Test/Summarizer"
SERVICE = "summarizer-e2e"
TRACE_ROOT = "1-6744b1c0-0123456789abcdef01234567"
PARENT = "53995c3f42cd8ad8"
REST_EVENT = {"httpMethod": "POST", "path": "/summarize", "headers": {"Content-Type": "application/json"},
              "requestContext": {"httpMethod": "POST", "requestId": "r-1"}, "body": json.dumps(PAYLOAD)}


@pytest.fixture
def metered(make_lambda):
    return make_lambda(POWERTOOLS_METRICS_NAMESPACE=NAMESPACE, POWERTOOLS_SERVICE_NAME=SERVICE)


def records_after(function, count: int) -> list[dict]:
    function.wait_for_output('{"_aws"', count=count)
    return emf_records(function.output())


def test_each_invocation_writes_one_emf_record_with_its_figures(metered):
    assert json.loads(metered.invoke(PAYLOAD)[2])
    assert json.loads(metered.invoke({"inputs": ["One. Two.", "Three. Four."]})[2])
    first, second = records_after(metered, 2)
    for record in (first, second):
        check_emf(record)
        directive = record["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == NAMESPACE
        assert directive["Dimensions"] == [["service"]]
        assert record["service"] == SERVICE
        assert record["Succeeded"] == 1 and record["outcome"] == "Succeeded" and record["status"] == 200
        assert record["Throttled"] == record["ModelErrors"] == record["Timeouts"] == 0
        assert record["SageMakerAttempts"] == 1 and record["SageMakerLatency"] > 0
        assert record["Latency"] >= record["SageMakerLatency"]
        assert record["level"] == "INFO" and len(record["function_request_id"]) == 36
    assert (first["Articles"], second["Articles"]) == (1, 2)
    assert first["ResponseBytes"] > 0
    # The RIE starts the process for the first invocation: that one, and only that one, is cold.
    assert (first["ColdStart"], first["cold_start"]) == (1, True)
    assert (second["ColdStart"], second["cold_start"]) == (0, False)


@pytest.mark.parametrize(("fault", "metric", "status"), [
    ({"mode": "throttle", "count": 10}, "Throttled", 429),
    ({"mode": "model_error", "status": 500, "message": "CUDA out of memory"}, "ModelErrors", 502),
    ({"mode": "service_unavailable", "count": 10}, "UpstreamUnavailable", 503),
])
def test_a_failure_counts_under_its_type(make_lambda, standin, fault, metric, status):
    function = make_lambda(POWERTOOLS_METRICS_NAMESPACE=NAMESPACE, AWS_MAX_ATTEMPTS="2")
    standin.faults(**fault)
    function.invoke(REST_EVENT)
    (record,) = records_after(function, 1)
    check_emf(record)
    assert record[metric] == 1 and record["Succeeded"] == 0
    assert sum(record[name] for name in ("Succeeded", "InvalidRequests", "Throttled", "ModelErrors", "Timeouts",
                                         "UpstreamUnreachable", "UpstreamUnavailable", "EndpointValidationErrors",
                                         "UpstreamAccessDenied", "ResponseTooLarge")) == 1
    assert record["status"] == status and record["error_type"]


def test_an_invalid_request_is_counted_and_calls_nothing(metered):
    metered.invoke({"inputs": 42})
    (record,) = records_after(metered, 1)
    check_emf(record)
    assert record["InvalidRequests"] == 1 and record["status"] == 400
    assert record["SageMakerAttempts"] == 0 and "SageMakerLatency" not in record
    assert "SageMakerLatency" not in [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def test_metrics_can_be_turned_off(make_lambda):
    function = make_lambda(POWERTOOLS_METRICS_DISABLED="true")
    function.invoke(PAYLOAD)
    function.wait_for_output("invocation kind=direct")
    assert emf_records(function.output()) == []


@contextlib.contextmanager
def daemon():
    """A loopback UDP socket standing in for the X-Ray daemon: (socket, "127.0.0.1:port")."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        yield listener, f"127.0.0.1:{listener.getsockname()[1]}"


@contextlib.contextmanager
def traced_function(standin, address: str, **env):
    with running_bootstrap(BOOTSTRAP, harness.function_env(standin.url)
                           | {"AWS_XRAY_DAEMON_ADDRESS": address, "AWS_MAX_ATTEMPTS": "2", **env}) as started:
        yield started


def test_sampled_invocation_sends_the_sagemaker_call_as_a_subsegment(standin):
    with daemon() as (listener, address), traced_function(standin, address) as (runtime, _):
        before = time.time()
        runtime.enqueue(PAYLOAD, trace_id=f"Root={TRACE_ROOT};Parent={PARENT};Sampled=1")
        runtime.wait_for_posts(1)
        document = parse_daemon_datagram(listener.recv(65536))
    check_subsegment(document)
    assert (document["trace_id"], document["parent_id"]) == (TRACE_ROOT, PARENT)
    assert document["name"] == "SageMakerRuntime" and document["namespace"] == "aws"
    assert document["aws"]["operation"] == "InvokeEndpoint" and document["aws"]["retries"] == 0
    assert document["metadata"]["default"]["attempts"] == 1
    assert before - 1 < document["start_time"] <= document["end_time"] < time.time() + 1
    assert not {"error", "fault", "throttle"} & set(document)


@pytest.mark.parametrize(("fault", "flags", "retries"), [
    ({"mode": "throttle", "count": 10}, {"error": True, "throttle": True}, 1),
    ({"mode": "model_error", "status": 500, "message": "CUDA out of memory"}, {"error": True}, 0),
    ({"mode": "service_unavailable", "count": 10}, {"fault": True}, 1),
])
def test_a_failed_call_is_flagged_with_its_cause(standin, fault, flags, retries):
    standin.faults(**fault)
    with daemon() as (listener, address), traced_function(standin, address) as (runtime, _):
        runtime.enqueue(PAYLOAD, trace_id=f"Root={TRACE_ROOT};Parent={PARENT};Sampled=1")
        runtime.wait_for_posts(1)
        document = parse_daemon_datagram(listener.recv(65536))
    check_subsegment(document)
    assert {key: document[key] for key in ("error", "fault", "throttle") if key in document} == flags
    assert document["aws"]["retries"] == retries
    (exception,) = document["cause"]["exceptions"]
    assert exception["type"] and exception["message"] and exception["remote"] is True


def test_unsampled_or_untraced_invocations_send_nothing(standin):
    with daemon() as (listener, address), traced_function(standin, address) as (runtime, _):
        runtime.enqueue(PAYLOAD, trace_id=f"Root={TRACE_ROOT};Parent={PARENT};Sampled=0")
        runtime.enqueue(PAYLOAD)
        runtime.wait_for_posts(2)
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.recv(65536)


def test_concurrent_invocations_keep_their_own_trace(standin):
    """Under Managed Instances each worker sends its own invocation's parent, never another's."""
    parents = [f"{index:016x}" for index in range(1, 9)]
    with daemon() as (listener, address), \
            traced_function(standin, address, AWS_LAMBDA_MAX_CONCURRENCY="4") as (runtime, _):
        for parent in parents:
            runtime.enqueue({"inputs": f"Article {parent}. More."}, trace_id=f"Root={TRACE_ROOT};Parent={parent};Sampled=1")
        runtime.wait_for_posts(len(parents))
        documents = [parse_daemon_datagram(listener.recv(65536)) for _ in parents]
    for document in documents:
        check_subsegment(document)
    assert sorted(document["parent_id"] for document in documents) == parents
