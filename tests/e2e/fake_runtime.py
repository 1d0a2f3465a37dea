"""A scriptable Lambda Runtime API for the cases the RIE cannot produce: a Runtime API that goes
away, a `/response` answered 413, a trace id on `/next`, a signal while the runtime waits.

It is tools/runtime_api.py's RuntimeAPI (the documented contract, many invocations at once; see
there) driven from the test: `enqueue` returns the request id, `posts` records what the runtime
posted, `response_status` scripts the status every `/response` gets, and `stop()` goes away like a
dead Runtime API (held `/next` requests dropped unanswered).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from runtime_api import RuntimeAPI  # noqa: E402


class FakeRuntimeAPI(RuntimeAPI):
    def enqueue(self, event, deadline_ms=30_000, trace_id=None) -> str:
        """Queue EVENT (bytes as they are, anything else as JSON) with DEADLINE_MS to run in;
        returns its request id."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        return super().enqueue(body, trace_id, timeout_s=deadline_ms / 1000).request_id

    @property
    def next_calls(self) -> int:
        return self.snapshot()["next_calls"]


def start_bootstrap(bootstrap, runtime: FakeRuntimeAPI, env: dict[str, str]) -> subprocess.Popen:
    """The bootstrap as Lambda starts it, but against the fake Runtime API."""
    full_env = {"PATH": "/usr/bin:/bin", **env, "AWS_LAMBDA_RUNTIME_API": runtime.address}
    return subprocess.Popen(
        [str(bootstrap)], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
