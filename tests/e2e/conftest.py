"""Fixtures for the end-to-end tests: the real bootstrap under AWS's Runtime
Interface Emulator, talking to the SageMaker stand-in.

* ``standin`` -- module-scoped tools/sagemaker_standin.py requiring the fake
  session token; reset (faults and counters) before every test.
* ``make_lambda(*, timeout=30, memory_size=128, bootstrap=BOOTSTRAP,
  **env_overrides)`` -- starts a ``harness.Lambda`` with the default function
  environment (``harness.function_env(standin.url)``) updated with
  ``env_overrides`` (a value of None removes that variable); stopped after
  the test.  When a test fails, the RIE + bootstrap output is added to the
  report.
* ``invoke_json(function, event)`` -- the function's answer, decoded (imported by tests).
* Every test has a 60 s limit (SIGALRM; pytest-timeout is not installed);
  ``@pytest.mark.time_limit(S)`` changes it.

How the RIE answers errors, crashes and timeouts: docs/emulator.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import harness
import pytest

BOOTSTRAP = Path(os.environ.get("BOOTSTRAP", harness.DEFAULT_BOOTSTRAP)).resolve()
TEST_TIME_LIMIT_S = 60


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "time_limit(seconds): per-test time limit instead of 60 s"
    )


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Fail a test that hangs instead of hanging the run.  Autouse, so it is
    set up before (and torn down after) the test's other function fixtures."""
    marker = request.node.get_closest_marker("time_limit")
    with harness.time_limit(int(marker.args[0]) if marker else TEST_TIME_LIMIT_S):
        yield


@pytest.fixture(scope="module")
def standin():
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_standin(standin):
    # Control calls share one connection, so after this the stand-in's
    # "connections" counter sees only the function's connections.
    standin.reset()


def invoke_json(function: harness.Lambda, event):
    """The function's answer to EVENT, decoded; the RIE itself must have answered 200."""
    status, _, body = function.invoke(event)
    assert status == 200, body
    return json.loads(body)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


@pytest.fixture
def make_lambda(standin, request):
    missing = []
    if not _executable(harness.RIE_PATH):
        missing.append(f"no RIE at {harness.RIE_PATH}: run tools/fetch-rie.sh")
    if not _executable(BOOTSTRAP):
        missing.append(f"no bootstrap at {BOOTSTRAP}: run `make build` (or set BOOTSTRAP=path)")
    if missing:
        pytest.fail("\n".join(missing), pytrace=False)

    def build(*, timeout: int = 30, memory_size: int = 128, bootstrap=BOOTSTRAP, **env_overrides):
        env = harness.function_env(standin.url) | env_overrides
        return harness.Lambda(bootstrap, env, timeout=timeout, memory_size=memory_size)

    yield from started_functions(request, build)


def started_functions(request, build):
    """For a fixture to yield from: make(...) starts build(...) and returns it; every function made is
    stopped after the test, and its output added to a failed test's report."""
    started: list = []
    request.node._e2e_lambdas = started  # for pytest_runtest_makereport

    def make(*args, **kwargs):
        function = build(*args, **kwargs)
        started.append(function)  # before start(): a failed start is cleaned up too
        function.start()
        return function

    yield make
    for function in started:
        function.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for function in getattr(item, "_e2e_lambdas", []):
            report.sections.append(
                (f"RIE + bootstrap output ({function.bootstrap})", function.output())
            )
    return report
