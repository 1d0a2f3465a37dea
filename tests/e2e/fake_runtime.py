"""A scriptable Lambda Runtime API for the cases the RIE cannot produce: a Runtime API that goes
away, a `/response` answered 413, a trace id on `/next`, a signal while the runtime waits.

It is tools/runtime_api.py's RuntimeAPI driven from the test: `enqueue` returns the request id,
`posts` records what the runtime posted, `response_status` scripts the status every `/response`
gets, and `stop()` goes away like a dead Runtime API (held `/next` requests dropped unanswered).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from runtime_api import RuntimeAPI  # noqa: E402


class FakeRuntimeAPI(RuntimeAPI):
    def enqueue(self, event, deadline_ms=30_000, trace_id=None) -> str:
        """Queue EVENT to run within DEADLINE_MS; its request id."""
        return super().enqueue(event, trace_id, timeout_s=deadline_ms / 1000).request_id

    @property
    def next_calls(self) -> int:
        return self.snapshot()["next_calls"]


@contextlib.contextmanager
def running_bootstrap(bootstrap, env: dict[str, str]):
    """(runtime, process): a FakeRuntimeAPI and the bootstrap as Lambda starts it, against that;
    the process's output in process.stdout, the process killed at the end if it still runs."""
    with FakeRuntimeAPI() as runtime:
        env = {"PATH": "/usr/bin:/bin", **env, "AWS_LAMBDA_RUNTIME_API": runtime.address}
        process = subprocess.Popen([str(bootstrap)], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            yield runtime, process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
