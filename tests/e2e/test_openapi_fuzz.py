"""schemathesis, from docs/openapi.json, against `make serve` (tools/serve_local.py) in both event
formats: requests valid and invalid by the document, about 2 x MAX_EXAMPLES in all, each format
within RUN_TIMEOUT_S. No generated request may get a 5xx, and every answer must be one the document
describes (status, Content-Type, headers, body schema). schemathesis runs from its own venv
(.tools/schemathesis, tools/install-deps.sh); a fixed seed makes a failure reproducible.

Its coverage phase is left out: it makes every case the document defines (over 500 for this one,
about 40 s a format), past the budget of 300 requests and 2 minutes for `make test`."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from test_serve import Serve

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
SCHEMATHESIS = REPO_ROOT / ".tools" / "schemathesis" / "bin" / "schemathesis"
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
PHASES = "examples,fuzzing"
MAX_EXAMPLES = 140  # per operation and format; the document's examples and OPTIONS add a few
RUN_TIMEOUT_S = 55  # per format: both within 2 minutes
SEED = 19


@pytest.fixture(autouse=True)
def _fresh_standin():
    """Replaces conftest's: serve_local starts its own stand-in."""
    yield


@pytest.mark.time_limit(RUN_TIMEOUT_S + 30)
@pytest.mark.parametrize("api_format", ["v1", "v2"])
def test_generated_requests_get_documented_answers_and_no_5xx(api_format, tmp_path):
    if not SCHEMATHESIS.exists():
        pytest.fail(f"{SCHEMATHESIS} is missing: run tools/install-deps.sh", pytrace=False)
    assert DOCUMENT.is_file(), f"{DOCUMENT} is missing"
    with Serve("--format", api_format) as server:
        done = subprocess.run(
            [str(SCHEMATHESIS), "run", str(DOCUMENT), "--url", server.url, "--checks", ",".join(CHECKS),
             "--phases", PHASES, "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
             "--generation-database", "none", "--request-timeout", "20", "--no-color",
             "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path)
        log = server.output()
    assert done.returncode == 0, f"{done.stdout[-20000:]}\n{done.stderr[-4000:]}\nserve_local's log ends:\n{log[-4000:]}"
    requests = len(re.findall(r'^serve_local: 127\.0\.0\.1 "', log, re.M))
    assert MAX_EXAMPLES // 2 < requests <= MAX_EXAMPLES + 10, f"{requests} requests reached make serve"
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    print(f"{api_format}: {requests} requests; junit {json.dumps(suite.attrib)}")
