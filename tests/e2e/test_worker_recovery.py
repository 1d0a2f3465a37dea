"""Many at once, for days (issue 22): the release bootstrap under tools/runtime_api.py with
Runtime API faults mixed in.  A failed /next (500, 429, reset) is retried and every worker polls
again; an invocation with a broken deadline is answered with an error; a Runtime API unusable
for good ends the process with one FATAL line; N workers that do not fit the open-file limit
fail init; a multi-megabyte upstream error is answered in time with no piece of the token."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
import urllib.parse

import pytest

import harness
from conftest import BOOTSTRAP
from runtime_api import running_bootstrap

PAYLOAD = {"inputs": "Stocks rallied on Friday. Bonds fell."}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def drain(process: subprocess.Popen, into: list[str]) -> threading.Thread:
    """Read PROCESS's output as it comes (a pipe left full would block 100 workers' logging)."""
    thread = threading.Thread(target=lambda: into.extend(process.stdout), daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def polling(standin, workers: int, **options):
    """(api, process, output, reader): the bootstrap with WORKERS workers under a RuntimeAPI
    (running_bootstrap's OPTIONS), once every worker polls /next; its output read as it comes."""
    env = harness.function_env(standin.url) | {"AWS_LAMBDA_MAX_CONCURRENCY": str(workers)}
    with running_bootstrap(BOOTSTRAP, env, **options) as (api, process):
        output: list[str] = []
        reader = drain(process, output)
        wait_for(lambda: api.snapshot()["next_waiting"] == workers, 20, f"{workers} workers polling")
        yield api, process, output, reader


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("workers", [1, 4])
def test_next_faults_leave_every_worker_polling(standin, workers):
    with polling(standin, workers) as (api, process, output, _):
        # A reset or close on a kept-alive connection is first absorbed by sending /next again on a
        # new one; twice in a row it reaches the worker's own retry.
        api.add_next_faults(["500", "reset", "reset", "429", "close", "close", "deadline:soon", "deadline:-5"])
        invocations = [api.enqueue(PAYLOAD) for _ in range(3 * workers + 2)]
        answers = [json.loads(api.wait(invocation)[1]) for invocation in invocations]

        # The first two delivered carry the broken deadlines: answered with an error.
        refused = [answer for answer in answers if isinstance(answer, dict)]
        assert len(refused) == 2, answers
        for answer in refused:
            assert answer["errorType"] == "InvalidRuntimeHeaders", answer
            assert "Lambda-Runtime-Deadline-Ms" in answer["errorMessage"]
        assert sum(isinstance(answer, list) for answer in answers) == len(invocations) - 2
        stats = api.snapshot()
        assert stats["next_faults"] == 8
        wait_for(lambda: api.snapshot()["next_waiting"] == workers, 10, f"all {workers} workers polling again")
        assert process.poll() is None
    log = "".join(output)
    assert "[FATAL]" not in log
    retried = [line for line in log.splitlines() if "retrying /next on a fresh connection" in line]
    assert any("answered 500" in line for line in retried) and any("answered 429" in line for line in retried), log
    assert log.count("invocation not handled") == 2, log


@pytest.mark.time_limit(30)
@pytest.mark.parametrize("workers", [1, 8])
def test_a_runtime_api_that_keeps_failing_ends_the_process_with_one_fatal_line(standin, workers):
    with polling(standin, workers) as (api, process, output, reader):
        api.add_next_faults(["500"] * 10_000)
        # Held polls end with the next event; from then on every /next is a 500.
        for _ in range(workers):
            api.enqueue(PAYLOAD)
        started = time.monotonic()
        status = process.wait(20)
        elapsed = time.monotonic() - started
        reader.join(5)
    log = "".join(output)
    assert status == 1
    assert log.count("[FATAL]") == 1, log
    fatal = next(line for line in log.splitlines() if "[FATAL]" in line)
    assert "answered 500" in fatal and re.search(r"/next failed \d+ times in a row over \d+ ms", fatal), fatal
    assert 4 <= elapsed < 12, f"gave up after {elapsed:.1f} s"


@pytest.mark.time_limit(60)
def test_workers_that_do_not_fit_the_open_file_limit_fail_init(standin):
    env = harness.function_env(standin.url) | {"AWS_LAMBDA_MAX_CONCURRENCY": "100"}
    with running_bootstrap(BOOTSTRAP, env, nofile=(128, 128)) as (api, process):
        assert process.wait(10) == 1
        log = process.stdout.read()
        assert api.init_error is not None
        error = json.loads(api.init_error)
    assert error["errorType"] == "InvalidConfiguration"
    message = error["errorMessage"]
    assert "100 workers" in message and "is 128" in message and "at most 13 workers fit" in message, message
    assert log.count("[FATAL]") == 1 and "at most 13 workers fit" in log, log


@pytest.mark.time_limit(90)
@pytest.mark.parametrize("workers, nofile", [(100, (128, 4096)), (13, (128, 128))],
                         ids=["soft-limit-raised", "largest-that-fits"])
def test_workers_that_fit_serve_a_burst(standin, workers, nofile):
    standin.service_time(200)
    with polling(standin, workers, nofile=nofile) as (api, process, output, _):
        invocations = [api.enqueue({"inputs": f"Article {i} moved markets. More text."}) for i in range(workers)]
        answers = [api.wait(invocation) for invocation in invocations]
        for i, (status, body) in enumerate(answers):
            # generated_text or summary_text, as the stand-in's task has it
            assert status == 200 and list(json.loads(body)[0].values()) == [f"Article {i} moved markets."], body[:300]
        assert api.snapshot()["peak_in_flight"] > workers // 2
        assert process.poll() is None
    assert "[FATAL]" not in "".join(output)


def token_pieces(token: str, length: int = 16) -> set[str]:
    return {token[i:i + length] for i in range(len(token) - length + 1)}


@pytest.mark.time_limit(60)
def test_a_4_mb_upstream_error_is_answered_in_time_and_keeps_the_token_out(make_lambda, standin):
    token = harness.SESSION_TOKEN
    quoted = "".join(f"%{ord(character):02X}" for character in token)  # every character encoded
    unit = (f"model said: the input {quoted} was refused; wrapped {token[:12]}\n{token[12:]}; "
            f"x-amz-security-token: {token} Signature=0123abc; ")
    message = unit * (4 * 1024 * 1024 // len(unit))
    function = make_lambda(timeout=8)
    standin.faults(mode="validation_error", message=message)
    started = time.monotonic()
    status, _, body = function.invoke(PAYLOAD)
    elapsed = time.monotonic() - started
    assert status == 200, body[:300]
    answer = json.loads(body)
    assert answer["errorType"] == "EndpointValidationError", answer
    assert elapsed < 4, f"answered after {elapsed:.1f} s"
    function.wait_for_output(harness.INVOCATION_LINE)
    output = function.output()
    readings = [output, urllib.parse.unquote(output), output.replace("\\n", "").replace("\n", ""),
                body.decode(), urllib.parse.unquote(body.decode())]
    for piece in token_pieces(token):
        assert not any(piece in reading for reading in readings), f"{piece!r} of the token reached the answer or the log"
