"""Start and stop the local stand-ins: SageMaker, the Lambda RIE, the concurrent Runtime API.

Standard library only; everything binds 127.0.0.1 and every wait is bounded.

    with StandIn("--session-token", SESSION_TOKEN) as sm, \\
         Lambda(bootstrap, function_env(sm.url)) as fn:
        status, headers, body = fn.invoke({"text": "..."})

How the RIE behaves (answers, process lifetime, environment, log): docs/emulator.md.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import ssl
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
STANDIN_SCRIPT = REPO_ROOT / "tools" / "sagemaker_standin.py"
RUNTIME_API_SCRIPT = REPO_ROOT / "tools" / "runtime_api.py"
RIE_PATH = REPO_ROOT / ".tools" / "aws-lambda-rie"
DEFAULT_BOOTSTRAP = REPO_ROOT / ".build" / "release" / "bootstrap"

# The function's credentials, the only ones the stand-in accepts (AWS's documentation examples).
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FAKE-SESSION-TOKEN-for-local-runs-only"
REGION = "us-east-1"
ENDPOINT_NAME = "financial-summarizer"

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
STARTUP_TIMEOUT_S = 15.0
STOP_GRACE_S = 5.0
POLL_S = 0.05
PORT_ATTEMPTS = 3  # RIE starts tried when a picked port was taken meanwhile

# Every invocation ends with this text log line, written just after its answer is posted.
INVOCATION_LINE = "\tinvocation kind="

# What the function tells its caller when SageMaker refuses its credentials or permissions
# (any 403 family error): SageMaker's own text quotes signed headers, so it goes to the log only.
ACCESS_DENIED_MESSAGE = (
    "SageMaker refused the function's credentials or permissions: "
    "the function's log has the details under this request id"
)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """COUNT distinct loopback ports, free now.  All are held open until all are picked: one at
    a time, the kernel may hand out the same port twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def function_env(standin_url: str) -> dict[str, str]:
    """Our function's environment against the stand-in (AWS_REGION and AWS_DEFAULT_REGION, as
    Lambda sets both)."""
    return {
        "ENDPOINT_NAME": ENDPOINT_NAME,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": standin_url,
    }


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the main thread after SECONDS (SIGALRM): a test that would hang fails."""

    def expired(signum, frame):
        raise TimeoutError(f"test exceeded its time limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def exit_on_termination() -> None:
    """Make SIGTERM and SIGHUP raise SystemExit(128 + signal), so that the with-blocks of a
    command unwind and stop the RIE and the stand-in; one ignored (nohup) stays ignored."""

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, terminate)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def proc_status(pid: int) -> dict[str, int]:
    """The numeric fields of /proc/PID/status by name (VmRSS, VmHWM, Threads, ...; sizes in KiB)."""
    with open(f"/proc/{pid}/status") as handle:
        pairs = [(name, value.split()) for name, _, value in (line.partition(":") for line in handle)]
    return {name: int(words[0]) for name, words in pairs if words and words[0].isdigit()}


def live_processes() -> list[tuple[int, int, int]]:
    """(pid, ppid, session id) of every live (non-zombie) process."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                text = handle.read()
        except OSError:  # gone meanwhile
            continue
        # The command name is in parentheses and may itself contain ") ".
        state, ppid, _, sid = text[text.rindex(")") + 2 :].split()[:4]
        if state not in ("Z", "X"):
            found.append((int(entry), int(ppid), int(sid)))
    return found


def family(leader: int) -> set[int]:
    """Every process in LEADER's session, plus its descendants: the bootstrap gets its own process
    group (killpg misses it), and whatever calls setsid is still a descendant."""
    processes = live_processes()
    found = {pid for pid, _, sid in processes if sid == leader} | {leader}
    while children := {pid for pid, ppid, _ in processes if ppid in found} - found:
        found |= children
    return found


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, wait a bounded time, then SIGKILL every process left behind."""
    before = family(proc.pid)  # now: once the leader is gone, orphans' ppid is 1
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_GRACE_S)
    leftovers = before | family(proc.pid)
    if proc.poll() is not None:
        leftovers.discard(proc.pid)  # reaped: its pid may belong to someone else
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(STOP_GRACE_S)


class _Process:
    """A child in its own session (the terminal's Ctrl-C reaches us only, and we stop the children
    in order), its stdout+stderr in a file (nobody has to drain it, and it outlives the process)."""

    def __init__(self, name: str):
        self.name = name
        self.proc: subprocess.Popen | None = None
        self._dir: str | None = None
        self._final_output: str | None = None

    def _spawn(self, argv: list[str], **kwargs) -> None:
        self._dir = tempfile.mkdtemp(prefix=f"{self.name}-")
        with open(os.path.join(self._dir, "output.log"), "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, **kwargs)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        """Everything the process (and its children) printed so far."""
        if self._final_output is not None:
            return self._final_output
        if self._dir is None:
            return ""
        with open(os.path.join(self._dir, "output.log"), "rb") as log:
            return log.read().decode("utf-8", "replace")

    def wait_for_output(self, text: str, count: int = 1, timeout: float = 5.0) -> str:
        """The output once TEXT occurs COUNT times in it (a function logs an invocation just after
        posting its answer)."""
        deadline = time.monotonic() + timeout
        while (output := self.output()).count(text) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not {count} times in the output within {timeout} s:\n{output}")
            time.sleep(0.01)
        return output

    def _listening_line(self) -> re.Match | None:
        # What our servers print once they accept connections (they bind port 0: no race for it).
        return re.search(r"^LISTENING 127\.0\.0\.1:(\d+)( TLS)?$", self.output(), re.M)

    def _check_alive(self, what: str) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {self.proc.returncode} during startup; "
                               f"its output:\n{self.output()}")

    def _wait_until(self, what: str, ready: Callable[[], Any]) -> Any:
        """READY()'s first true value, polled for at most STARTUP_TIMEOUT_S while the process lives."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not (result := ready()):
            self._check_alive(what)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not listen within {STARTUP_TIMEOUT_S} s; output:\n{self.output()}")
            time.sleep(POLL_S)
        return result

    def stop(self) -> None:
        """Stop the process and whatever it started; idempotent.  output() still works."""
        if self._final_output is not None:
            return
        if self.proc is not None:
            _stop(self.proc)
        self._final_output = self.output()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class StandIn(_Process):
    """tools/sagemaker_standin.py with extra ARGS on a free loopback port: ``.url``, ``.port``,
    and its control API (docs/emulator.md).  A control answer other than 200 raises RuntimeError."""

    def __init__(self, *args: str):
        super().__init__("sagemaker-standin")
        self.args = list(args)
        self.port: int | None = None
        self.url: str | None = None
        self._control_lock = threading.Lock()
        self._control_conn: http.client.HTTPConnection | None = None

    def start(self) -> None:
        self._spawn([sys.executable, str(STANDIN_SCRIPT), "--port", "0", *self.args])
        match = self._wait_until("the SageMaker stand-in", self._listening_line)
        self.port = int(match.group(1))
        self.tls = match.group(2) is not None
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _control(self, method: str, path: str, document: Any = None) -> Any:
        """One control call over a single kept-alive connection, so that after reset()
        stats()["connections"] counts the function's connections only."""
        body = None if document is None else json.dumps(document).encode()
        with self._control_lock:
            for attempt in (1, 2):
                if self._control_conn is None:
                    # The certificate is the test's own: not verified on this channel.
                    self._control_conn = (
                        http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                                    context=ssl._create_unverified_context())
                        if self.tls else http.client.HTTPConnection("127.0.0.1", self.port, timeout=10))
                try:
                    self._control_conn.request(method, f"/_control/{path}", body=body,
                                               headers={"Content-Type": "application/json"})
                    response = self._control_conn.getresponse()
                    answer = response.read()
                    break
                except TimeoutError:
                    raise
                except (OSError, http.client.HTTPException):
                    # The stand-in closes connections idle for 60 s; retry once on a new one.
                    self._control_conn.close()
                    self._control_conn = None
                    if attempt == 2:
                        raise
        if response.status != 200:
            raise RuntimeError(f"stand-in {method} /_control/{path}: {response.status} {answer!r}")
        return json.loads(answer)

    def faults(self, **plan: Any) -> Any:
        return self._control("POST", "faults", plan)

    def service_time(self, ms: int) -> Any:
        return self._control("POST", "service_time", {"ms": ms})

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def reset(self) -> None:
        self._control("POST", "reset", {})

    def stop(self) -> None:
        if self._control_conn is not None:
            self._control_conn.close()
            self._control_conn = None
        super().stop()


class _FunctionProcess(_Process):
    """What Lambda and ConcurrentLambda share.  ENV goes over a minimal base (PATH, HOME, the
    timeout and memory size); None removes a name.  The caller's environment is not inherited:
    the RIE passes its own on to the bootstrap, and stray AWS_* variables would change what we test."""

    _what: str  # what the emulator is called in errors
    # Whether a timed-out request raises TimeoutError even once the emulator has exited (Lambda:
    # its caller must learn that the RIE is abandoned).
    _timeout_wins = False
    invoke_port: int | None = None

    def __init__(self, name: str, bootstrap: str | os.PathLike, env: Mapping[str, str | None] | None, timeout: int):
        super().__init__(name)
        self.bootstrap = Path(bootstrap).resolve()
        self.timeout = timeout
        base = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        }
        self.env = {k: v for k, v in (base | dict(env or {})).items() if v is not None}

    def _request(self, method: str, path: str, body: bytes | None, timeout: float) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body); a failure once the emulator has exited is
        a RuntimeError with the end of its output (megabytes after a soak)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.invoke_port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, {n.lower(): v for n, v in response.getheaders()}, response.read()
        except (OSError, http.client.HTTPException) as exc:
            if self.proc.poll() is not None and not (self._timeout_wins and isinstance(exc, TimeoutError)):
                raise RuntimeError(
                    f"{self._what} exited (status {self.proc.returncode}); its output ends:\n{self.output()[-8192:]}"
                ) from exc
            raise
        finally:
            connection.close()

    def invoke(self, event: bytes | str | Any, timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
        """POST EVENT (bytes, str, or anything else as JSON): (status, lower-cased headers, body)."""
        if not isinstance(event, bytes):
            event = (event if isinstance(event, str) else json.dumps(event)).encode()
        return self._request("POST", INVOKE_PATH, event, self.timeout + 15 if timeout is None else timeout)

    def bootstrap_pids(self) -> list[int]:
        """The live processes the emulator started (under the RIE a new PID after a crash or a
        timeout means it was restarted)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return sorted(pid for pid, ppid, _ in live_processes() if ppid == self.proc.pid)


class Lambda(_FunctionProcess):
    """The Runtime Interface Emulator serving BOOTSTRAP on loopback ports."""

    _what, _timeout_wins = "the RIE", True

    def __init__(self, bootstrap: str | os.PathLike, env: Mapping[str, str | None] | None = None, *,
                 timeout: int = 30):
        super().__init__("lambda-rie", bootstrap, env, timeout)
        self.runtime_api_port: int | None = None
        self._invoke_lock = threading.Lock()
        self._abandoned = False

    def start(self) -> None:
        for path, hint in ((RIE_PATH, "tools/fetch-rie.sh"), (self.bootstrap, "make build")):
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise FileNotFoundError(f"{path} is missing or not executable: run {hint}")
        # A port we picked can be taken before the RIE binds it (as some connection's ephemeral
        # port); the RIE then exits with "address already in use", and new ports are tried.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.runtime_api_port, self.invoke_port = free_ports(2)
            self._spawn([str(RIE_PATH), "--runtime-api-address", f"127.0.0.1:{self.runtime_api_port}",
                         "--runtime-interface-emulator-address", f"127.0.0.1:{self.invoke_port}",
                         str(self.bootstrap)], env=self.env, cwd=self.bootstrap.parent)
            try:
                self._wait_until("the RIE", lambda: _port_open(self.invoke_port) and _port_open(self.runtime_api_port))
                # Someone else may have been listening on a port we picked: is the RIE still up?
                self._check_alive("the RIE")
                return
            except RuntimeError:
                if attempt == PORT_ATTEMPTS or "address already in use" not in self.output():
                    raise
                shutil.rmtree(self._dir, ignore_errors=True)

    def invoke(self, event: bytes | str | Any, timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
        """Calls are serialized, and none follows a client-side timeout: the RIE crashes on
        overlapping invocations."""
        with self._invoke_lock:
            if self._abandoned:
                raise RuntimeError("an earlier invocation timed out on the client side; the RIE "
                                   "would crash on another one, so this Lambda is unusable")
            try:
                return super().invoke(event, timeout)
            except TimeoutError:
                self._abandoned = True
                raise


class ConcurrentLambda(_FunctionProcess):
    """tools/runtime_api.py serving BOOTSTRAP as Lambda Managed Instances do: ``Lambda``'s
    surface, but ``invoke`` may be called from many threads at once, and answers carry
    ``x-amzn-requestid``.  ``max_concurrency`` sets AWS_LAMBDA_MAX_CONCURRENCY (None: unset);
    ``stats()`` is the stand-in's counters (``peak_in_flight``, ``next_waiting``, ``bootstrap_exit``).
    The bootstrap starts with the stand-in, as Managed Instances initialise ahead of traffic."""

    _what = "the Runtime API stand-in"

    def __init__(self, bootstrap: str | os.PathLike, env: Mapping[str, str | None] | None = None, *,
                 timeout: int = 30, max_concurrency: int | None = None):
        super().__init__("runtime-api", bootstrap, env, timeout)
        self.max_concurrency = max_concurrency

    def start(self) -> None:
        if not (self.bootstrap.is_file() and os.access(self.bootstrap, os.X_OK)):
            raise FileNotFoundError(f"{self.bootstrap} is missing or not executable: run make build")
        argv = [sys.executable, str(RUNTIME_API_SCRIPT), "--bootstrap", str(self.bootstrap),
                "--timeout", str(self.timeout)]
        if self.max_concurrency is not None:
            argv += ["--max-concurrency", str(self.max_concurrency)]
        self._spawn(argv, env=self.env, cwd=self.bootstrap.parent)
        self.invoke_port = int(self._wait_until(self._what, self._listening_line).group(1))

    def stats(self) -> dict[str, Any]:
        status, _, body = self._request("GET", "/_stand-in/stats", None, 10)
        if status != 200:
            raise RuntimeError(f"stand-in stats: {status} {body!r}")
        return json.loads(body)


def burst(function: Lambda | ConcurrentLambda, events: list, timeout: float | None = None) -> tuple[list, list[float], float]:
    """Invoke FUNCTION with all EVENTS at once, one thread each, released together by a barrier.
    Returns (answers, seconds, wall): invoke()'s answer or exception per event, each call's
    duration, and the time from the release until the last answer."""
    answers: list = [None] * len(events)
    seconds = [0.0] * len(events)
    limit = (function.timeout + 15) if timeout is None else timeout
    gate = threading.Barrier(len(events) + 1)

    def one(index: int) -> None:
        gate.wait(STARTUP_TIMEOUT_S)
        started = time.monotonic()
        try:
            answers[index] = function.invoke(events[index], timeout=limit)
        except Exception as exc:  # noqa: BLE001 -- handed to the caller with the answers
            answers[index] = exc
        seconds[index] = time.monotonic() - started

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(events))]
    for thread in threads:
        thread.start()
    gate.wait(STARTUP_TIMEOUT_S)
    started = time.monotonic()
    for thread in threads:
        thread.join(limit + 5)
    return answers, seconds, time.monotonic() - started
