"""Fixtures for the end-to-end tests: the real bootstrap under AWS's Runtime Interface Emulator
(or a scriptable Runtime API), talking to the SageMaker stand-in.  Every test has a 60 s limit
(SIGALRM; pytest-timeout is not installed), ``@pytest.mark.time_limit(S)`` changes it.  How the
RIE answers errors, crashes and timeouts: docs/emulator.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

import harness
import pytest
from runtime_api import running_bootstrap

BOOTSTRAP = Path(os.environ.get("BOOTSTRAP", harness.DEFAULT_BOOTSTRAP)).resolve()
# Bounds today's binary, which reads an endless answer until its SageMaker timeout.
FAKE_SAGEMAKER_TIMEOUT_MS = 5_000


def pytest_configure(config):
    config.addinivalue_line("markers", "time_limit(seconds): per-test time limit instead of 60 s")


@pytest.fixture(autouse=True)
def _time_limit(request):
    # Autouse, so it is set up before (and torn down after) the test's other function fixtures.
    marker = request.node.get_closest_marker("time_limit")
    with harness.time_limit(int(marker.args[0]) if marker else 60):
        yield


@pytest.fixture(scope="module")
def standin():
    """Requires the fake session token, as real temporary credentials need theirs."""
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_standin(standin):
    # Control calls share one connection, so after this the stand-in's
    # "connections" counter sees only the function's connections.
    standin.reset()


@pytest.fixture(scope="module")
def function(standin):
    """One warm bootstrap under the RIE for a whole module (CORS for https://news.example.com,
    a 1.5 s SageMaker timeout); it must not restart meanwhile."""
    env = harness.function_env(standin.url) | {"CORS_ALLOWED_ORIGINS": "https://news.example.com",
                                               "SAGEMAKER_TIMEOUT_MS": "1500"}
    with harness.Lambda(BOOTSTRAP, env, timeout=10) as fn:
        fn.invoke({"inputs": "Warm-up. Second."})
        pids = fn.bootstrap_pids()
        yield fn
        assert fn.bootstrap_pids() == pids, "the bootstrap restarted during the module"


@pytest.fixture
def fake(standin):
    """(runtime, process): the bootstrap against a fresh tools/runtime_api.RuntimeAPI, with
    FAKE_SAGEMAKER_TIMEOUT_MS."""
    env = harness.function_env(standin.url) | {"SAGEMAKER_TIMEOUT_MS": str(FAKE_SAGEMAKER_TIMEOUT_MS)}
    with running_bootstrap(BOOTSTRAP, env) as started:
        yield started


def invoke_json(function: harness.Lambda, event):
    """The function's answer to EVENT, decoded; the RIE itself must have answered 200."""
    status, _, body = function.invoke(event)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture
def make_lambda(standin, request):
    """make_lambda(timeout=30, **env): a started harness.Lambda with function_env() updated with
    ENV (None removes a name), stopped after the test; a missing RIE is Lambda.start's error."""
    def build(*, timeout: int = 30, **env_overrides):
        return harness.Lambda(BOOTSTRAP, harness.function_env(standin.url) | env_overrides, timeout=timeout)

    yield from started_functions(request, build)


def started_functions(request, build):
    """For a fixture to yield from: make(...) starts build(...) and returns it; every function made is
    stopped after the test, and its output added to a failed test's report."""
    if not (BOOTSTRAP.is_file() and os.access(BOOTSTRAP, os.X_OK)):
        pytest.fail(f"no bootstrap at {BOOTSTRAP}: run `make build` (or set BOOTSTRAP=path)", pytrace=False)
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
            report.sections.append((f"RIE + bootstrap output ({function.bootstrap})", function.output()))
    return report
