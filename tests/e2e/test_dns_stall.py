"""DNS that never answers must not eat the invocation: the bootstrap answers 502
UpstreamUnreachable (or 504 Timeout) well inside the deadline, and lives on to serve the next one.

Each test runs tests/e2e/blackhole_dns.py under `unshare --mount --net` (see there): a lookup
would block ~10 s, SAGEMAKER_CONNECT_TIMEOUT_MS=1000, and the event deadline is 10 s.  The connect
timeout covers name resolution, so the answer must come within a few seconds.  Both the dev binary
(Debian's libcurl) and the packaged one (the libcurl that ships) are run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BOOTSTRAP
from test_chroot import ZIP, make_root  # the packaged bootstrap's empty root

SCENARIO = Path(__file__).resolve().parent / "blackhole_dns.py"
ANSWER_WITHIN_S = 5  # connect timeout + retries + slack; far below the 10 s deadline
DEBIAN_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root for `unshare --mount --net` (CI runs as root)"
)


def run_scenario(scratch: Path, *extra: str) -> dict:
    # Two events, each waited for up to deadline + 10 s, plus start-up: bounded well inside 60 s.
    completed = subprocess.run(
        ["unshare", "--mount", "--net", "--", sys.executable, str(SCENARIO),
         "--bootstrap", str(BOOTSTRAP), "--scratch", str(scratch), *extra],
        capture_output=True, text=True, timeout=75)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def assert_fast_failure_and_survival(result: dict) -> None:
    report = json.dumps({k: v for k, v in result.items() if k != "output"}, indent=1)
    report += "\n--- bootstrap output ---\n" + result["output"]
    # The stall was real: the function's lookups reached the black hole.
    assert any(q.startswith("runtime.sagemaker.us-east-1.amazonaws.com/") for q in result["dns_queries"]), report
    assert len(result["events"]) == 2 and all(e["body"] for e in result["events"]), report
    for event in result["events"]:
        assert event["elapsed_s"] < ANSWER_WITHIN_S, report
        assert event["path"].endswith("/response"), report
        answer = json.loads(event["body"])
        error = json.loads(answer["body"])
        assert (answer["statusCode"], error["error_type"]) in {(502, "UpstreamUnreachable"), (504, "Timeout")}, report
    assert result["alive"], report


@pytest.mark.time_limit(90)
def test_dev_binary_answers_fast_and_survives(tmp_path):
    assert_fast_failure_and_survival(run_scenario(tmp_path))


@pytest.mark.time_limit(120)
def test_packaged_binary_answers_fast_and_survives(tmp_path):
    assert ZIP.is_file(), f"{ZIP} is missing: run `make package`"
    root = make_root(tmp_path, ca_bundle=DEBIAN_CA_BUNDLE)
    assert_fast_failure_and_survival(run_scenario(tmp_path, "--chroot", str(root)))
