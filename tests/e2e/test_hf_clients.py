"""huggingface_hub's InferenceClient, the current major version and 0.27, against `make serve`
(tools/serve_local.py, REST v1 events; a second one with HF_TASK=text2text-generation for
text_generation()): every answer parses, and a refusal raises the client's own HTTP error carrying
the function's message. Each version runs tests/e2e/hf_client_checks.py in its own venv
(.tools/hf-hub-*, tools/install-deps.sh); the test judges what that printed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from test_serve import Serve

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
VENVS = {"2.5.0": REPO_ROOT / ".tools" / "hf-hub-2", "0.27.1": REPO_ROOT / ".tools" / "hf-hub-0.27"}
CHECKS_TIMEOUT_S = 180  # eight calls, each with the client's own 20 s time-out
FIRST, SECOND = "Copper hit a record high on Tuesday.", "Miners rallied across Asia."  # hf_client_checks.ARTICLE
HTTP_ERROR = "HfHubHTTPError"


@pytest.fixture(autouse=True)
def _fresh_standin():
    """Replaces conftest's: serve_local starts its own stand-in."""
    yield


@pytest.fixture(scope="module")
def served():
    """URLs of the function in front of a summarization endpoint and of a text2text-generation one."""
    with Serve() as summarizer, Serve(env={"HF_TASK": "text2text-generation"}) as generator:
        yield f"{summarizer.url}/summarize", f"{generator.url}/summarize"


@pytest.fixture(scope="module", params=list(VENVS))
def outcomes(request, served) -> dict:
    """What each check of hf_client_checks.py returned or raised, with this huggingface_hub version."""
    python = VENVS[request.param] / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run tools/install-deps.sh", pytrace=False)
    done = subprocess.run([str(python), str(HERE / "hf_client_checks.py"), *served],
                          capture_output=True, text=True, timeout=CHECKS_TIMEOUT_S, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results.pop("version") == request.param
    return results


def returned(outcomes: dict, check: str):
    assert "returned" in outcomes[check], f"{check} raised: {json.dumps(outcomes[check], indent=1)[:3000]}"
    return outcomes[check]["returned"]


@pytest.mark.parametrize("check", ["summarization", "summarization-generate-parameters", "text-generation"])
def test_task_methods_return_the_summary(outcomes, check):
    assert returned(outcomes, check) == FIRST


def test_raw_post_with_options_parses(outcomes):
    assert returned(outcomes, "raw-post-options") == [{"summary_text": FIRST}]


def test_generate_parameters_reach_the_model_flattened(outcomes):
    # num_return_sequences nested under generate_parameters: the stand-in answers two summaries
    # only when it arrives as a pipeline argument.
    assert returned(outcomes, "raw-post-nested-sequences") == [{"summary_text": FIRST},
                                                               {"summary_text": f"{FIRST} {SECOND}"}]


def http_error(outcome: dict) -> dict:
    """The client's HfHubHTTPError: what was raised, or (text_generation's own error types, built
    from the error body) its cause."""
    for error in (outcome, outcome.get("cause") or {}):
        if any(base.endswith(f".{HTTP_ERROR}") for base in error.get("bases", [])):
            return error
    raise AssertionError(f"no {HTTP_ERROR}: {json.dumps(outcome, indent=1)[:3000]}")


@pytest.mark.parametrize("check, names", [
    ("refused-summarization-beams", ("num_beams", "max_length", "num_return_sequences")),  # one of them
    ("refused-raw-post-remote-code", ("custom_generate", "trust_remote_code")),
    ("refused-text-generation-stream", ("stream",)),
])
def test_refusals_raise_the_clients_http_error_with_our_message(outcomes, check, names):
    assert "raised" in outcomes[check], f"{check} was not refused: {outcomes[check]}"
    raised = outcomes[check]["raised"]
    error = http_error(raised)
    body = error["body"]
    assert error["status"] == 400 and set(body) == {"error", "error_type", "requestId"}, body
    assert body["error_type"] == "InvalidRequest" and re.search(rf'[".]({"|".join(names)})"', body["error"]), body
    assert error["server_message"] == body["error"]  # what the client read as the server's words
    assert body["error"] in raised["message"]  # and what its message says
