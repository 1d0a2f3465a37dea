"""Many invocations at once (issue 15), as Lambda Managed Instances hand them to one execution
environment: under tools/runtime_api.py (harness.ConcurrentLambda; the RIE serves one at a time)
against the SageMaker stand-in, each successful InvokeEndpoint taking SERVICE_MS.  With
AWS_LAMBDA_MAX_CONCURRENCY=N >= 2 the bootstrap runs N workers in one process, so N invocations
overlap; each answer and log line belongs to its own invocation; SIGTERM lets the invocations in
flight finish, then the process exits 0.  Without the variable, one at a time.  The stand-in's
model echoes each article's first sentence, which names the article: a misdelivered answer shows.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

import harness
from conftest import BOOTSTRAP, started_functions

SERVICE_MS = 200
# What the harness itself costs for a burst of 64 (measured with a threaded Python runtime that
# sleeps instead of calling SageMaker: 0.34-0.37 s for 64 x 200 ms on this 2-core machine), plus
# room for the stand-in checking 64 signatures with botocore.
SLACK_S = 0.5
LIMIT_S = 2 * SERVICE_MS / 1000 + SLACK_S  # what one invocation of a burst may take
ARTICLE = (Path(__file__).resolve().parents[2] / "events" / "article.txt").read_text().strip()


def first_sentence(number: int, of: int) -> str:
    return f"Article {number} of {of} reports the day's results."


def article(number: int, of: int, marker: str = "") -> str:
    return f"{first_sentence(number, of)} {ARTICLE} {marker}".strip()


@pytest.fixture
def make_concurrent(standin, request):
    def build(max_concurrency: int | None, *, timeout: int = 30, **env_overrides):
        env = harness.function_env(standin.url) | env_overrides
        return harness.ConcurrentLambda(BOOTSTRAP, env, timeout=timeout, max_concurrency=max_concurrency)

    yield from started_functions(request, build)


def wait_ready(function, workers: int) -> None:
    """Wait (bounded) until WORKERS /next requests are held, i.e. every worker is polling.  Not an
    assertion: a runtime with fewer workers is caught by the timing."""
    deadline = time.monotonic() + 5
    while function.stats()["next_waiting"] < workers and time.monotonic() < deadline:
        time.sleep(0.02)


def wait_invocations(standin, count: int, timeout: float) -> int:
    """How many invocations reached SageMaker once COUNT did, or TIMEOUT passed."""
    deadline = time.monotonic() + timeout
    while (reached := standin.stats()["invocations"]) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return reached


def assert_own_summary(answer, number: int, of: int) -> None:
    assert not isinstance(answer, Exception), answer
    status, _, body = answer
    assert status == 200 and body.startswith(b"["), f"not a summary: {status} {body[:300]!r}"
    assert json.loads(body)[0]["summary_text"] == first_sentence(number, of)


def log_line(output: str, request_id: str) -> str:
    match = re.search(rf"^\[INFO\]\t{re.escape(request_id)}\tinvocation kind=.*$", output, re.M)
    assert match, f"no invocation log line for {request_id}"
    return match[0]


FAULTS = {
    # marker: what the function answers (direct invocation: a function error document)
    "[[fault:throttle]]": "Throttled",
    "[[fault:model_error]]": "ModelError",
    "[[fault:slow:5000]]": "Timeout",  # SAGEMAKER_TIMEOUT_MS is 1000 below
    "[[fault:oversized:7000000]]": "ResponseTooLarge",
}


@pytest.mark.parametrize("count, faulted", [
    (64, {}),
    (16, {i * 4 + 1: marker for i, marker in enumerate(FAULTS)}),  # 1, 5, 9, 13
], ids=["64-at-once", "16-some-faulted"])
def test_each_gets_its_own_answer_within_two_service_times(make_concurrent, standin, count, faulted):
    standin.service_time(SERVICE_MS)
    function = make_concurrent(count, SAGEMAKER_TIMEOUT_MS="1000")
    wait_ready(function, count)
    events = [{"inputs": article(i, count, faulted.get(i, ""))} for i in range(count)]
    answers, seconds, elapsed = harness.burst(function, events)

    output = function.wait_for_output(harness.INVOCATION_LINE, count=count)
    for i, answer in enumerate(answers):
        assert not isinstance(answer, Exception), answer
        line = log_line(output, answer[1]["x-amzn-requestid"])
        if i in faulted:
            status, _, body = answer
            error = json.loads(body)
            assert status == 200 and error["errorType"] == FAULTS[faulted[i]], (faulted[i], error)
            assert f"status={error['errorType']}" in line
        else:
            assert_own_summary(answer, i, count)
            assert "status=ok" in line
    assert len({answer[1]["x-amzn-requestid"] for answer in answers}) == count
    assert len(function.bootstrap_pids()) == 1  # one process, not one per worker
    healthy = [seconds[i] for i in range(count) if i not in faulted]
    stats = function.stats()
    assert max(healthy) < LIMIT_S, (
        f"invocations took up to {max(healthy):.2f} s (limit {LIMIT_S:.2f} s); the runtime held at most "
        f"{stats['peak_in_flight']} at once and had {stats['peak_next_waiting']} /next requests open"
    )
    # The slowest fault is the 1 s SageMaker time-out: the whole burst ends soon after it.
    assert elapsed < (1.0 if faulted else 0) + LIMIT_S, f"the burst took {elapsed:.2f} s"
    if not faulted:
        assert standin.stats()["succeeded"] == count
        assert stats["peak_in_flight"] > count // 2


@pytest.mark.time_limit(30)
def test_a_deadline_expiring_in_one_invocation_does_not_delay_the_others(make_concurrent, standin):
    count = 8
    standin.service_time(SERVICE_MS)
    function = make_concurrent(count, timeout=3)  # SageMaker hangs for one: its deadline expires
    wait_ready(function, count)
    hung: dict = {}
    started = time.monotonic()
    hanging = threading.Thread(
        target=lambda: hung.update(answer=function.invoke({"inputs": article(0, count, "[[fault:hang:20000]]")})),
        daemon=True,
    )
    hanging.start()
    wait_invocations(standin, 1, 5)
    events = [{"inputs": article(i, count)} for i in range(1, count)]
    answers, seconds, _ = harness.burst(function, events)
    assert max(seconds) < LIMIT_S, (
        f"the others took up to {max(seconds):.2f} s behind the hanging invocation (limit {LIMIT_S:.2f} s)"
    )
    for i, answer in enumerate(answers, 1):
        assert_own_summary(answer, i, count)
    hanging.join(10)
    status, _, body = hung["answer"]
    # The function answers its own Timeout before Lambda's deadline, as with one at a time.
    assert status == 200 and json.loads(body)["errorType"] == "Timeout", body
    assert time.monotonic() - started < 3.5
    assert function.stats()["timed_out"] == 0


def test_sigterm_lets_invocations_in_flight_finish_then_exits_0(make_concurrent, standin):
    count = 8
    service_ms = 1000  # long enough for the signal to land while all of them are in flight
    standin.service_time(service_ms)
    function = make_concurrent(count, timeout=5)
    wait_ready(function, count)
    (pid,) = function.bootstrap_pids()
    results: dict = {}

    def run():
        results["burst"] = harness.burst(function, [{"inputs": article(i, count)} for i in range(count)], timeout=15)

    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    reached = wait_invocations(standin, count, 3)
    os.kill(pid, signal.SIGTERM)
    signalled = time.monotonic()
    function.wait_for_output("BOOTSTRAP EXITED", timeout=10)
    exited_after = time.monotonic() - signalled
    sender.join(20)

    answers, _, _ = results["burst"]
    finished = [i for i, answer in enumerate(answers)
                if not isinstance(answer, Exception) and answer[0] == 200 and answer[2].startswith(b"[")]
    for i in finished:
        assert_own_summary(answers[i], i, count)
    assert reached == count, f"only {reached} of {count} invocations reached SageMaker before SIGTERM"
    assert finished == list(range(count)), (
        f"answered: {finished}; the others got: "
        f"{[answers[i] for i in range(count) if i not in finished][:3]}"
    )
    assert function.stats()["bootstrap_exit"] == 0
    assert exited_after < service_ms / 1000 + 1.5, f"exited {exited_after:.2f} s after SIGTERM"


@pytest.mark.parametrize("setting", [None, "1"], ids=["unset", "1"])
def test_without_concurrency_invocations_are_served_one_at_a_time(make_concurrent, standin, setting):
    count = 4
    standin.service_time(SERVICE_MS)
    function = make_concurrent(None, AWS_LAMBDA_MAX_CONCURRENCY=setting)
    wait_ready(function, 1)
    answers, _, elapsed = harness.burst(function, [{"inputs": article(i, count)} for i in range(count)])
    for i, answer in enumerate(answers):
        assert_own_summary(answer, i, count)
    stats = function.stats()
    assert stats["peak_in_flight"] == 1
    assert stats["peak_next_waiting"] == 1
    assert elapsed >= count * SERVICE_MS / 1000 * 0.95
    assert len(function.bootstrap_pids()) == 1
