"""Start and stop the local stand-ins: SageMaker, the Lambda RIE, the concurrent Runtime API.

Used by the end-to-end tests (tests/e2e/conftest.py) and by
tools/run_local.py.  Standard library only.  Everything binds 127.0.0.1 and
every wait is bounded.

    with StandIn("--session-token", SESSION_TOKEN) as sm, \\
         Lambda(bootstrap, function_env(sm.url)) as fn:
        status, headers, body = fn.invoke({"text": "..."})

API
---
* ``free_port()`` -- a currently free loopback TCP port.
* ``StandIn(*args)`` -- tools/sagemaker_standin.py on a free port; ``.url``,
  ``.port``, ``.faults(**plan)``, ``.service_time(ms)``, ``.stats()``, ``.reset()``, ``.output()``.
  Control calls share one kept-alive connection, so right after ``.reset()``
  ``stats()["connections"]`` is 0 and then counts the function's
  connections only.  A control answer other than 200 raises RuntimeError.
* ``Lambda(bootstrap, env, timeout=30, memory_size=128)`` -- the RIE running
  BOOTSTRAP; ``.invoke(event, timeout=None)`` -> ``(status, headers, body)``
  with header names lower-cased; ``.output()`` (RIE + bootstrap stdout and
  stderr, interleaved); ``.log_path`` (that output's file, while it runs);
  ``.bootstrap_pids()``; ``.pid``.
* ``ConcurrentLambda(bootstrap, env, timeout=30, memory_size=128, max_concurrency=None)`` --
  the same surface as ``Lambda``, backed by tools/runtime_api.py (the Runtime API as Lambda
  Managed Instances serve it: many invocations at once, AWS_LAMBDA_MAX_CONCURRENCY set when
  ``max_concurrency`` is given); ``invoke`` is safe from many threads, answers carry
  ``x-amzn-requestid``; ``.stats()`` (in flight, /next held, bootstrap exit status).
* ``burst(function, events, timeout=None)`` -- every event at the same moment, one thread each:
  (answers or exceptions, per-call seconds, wall seconds).
* ``function_env(standin_url)`` -- the environment our function runs with
  locally (endpoint name, ``AWS_REGION`` and ``AWS_DEFAULT_REGION`` as Lambda
  sets both, the stand-in's fake credentials + session token,
  ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``).
* ``live_processes()`` -- (pid, ppid, session id) of every live process.

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
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
STANDIN_SCRIPT = REPO_ROOT / "tools" / "sagemaker_standin.py"
RUNTIME_API_SCRIPT = REPO_ROOT / "tools" / "runtime_api.py"
RIE_PATH = REPO_ROOT / ".tools" / "aws-lambda-rie"
DEFAULT_BOOTSTRAP = REPO_ROOT / ".build" / "release" / "bootstrap"

# The stand-in's defaults (see its --help); fake, never valid on AWS.
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
    """A loopback port that is free now (the usual small race applies)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """COUNT distinct loopback ports that are free now.  All are held open
    until all are picked: one at a time, the kernel may hand out the same
    port twice."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def function_env(standin_url: str) -> dict[str, str]:
    """Environment for our function when it talks to the stand-in."""
    return {
        "ENDPOINT_NAME": ENDPOINT_NAME,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": standin_url,
    }


def _event_bytes(event: bytes | str | Any) -> bytes:
    """An invocation's payload: bytes as they are, str UTF-8 encoded, anything else as JSON."""
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    return json.dumps(event).encode()


def _function_process_env(env: Mapping[str, str | None] | None, timeout: float, memory_size: int) -> dict[str, str]:
    """ENV over a minimal base (PATH, HOME, the timeout and memory size); None removes a name.
    The caller's environment is not inherited: stray AWS_* variables would change what we test."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_size),
    }
    base.update(env or {})
    return {k: v for k, v in base.items() if v is not None}


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


def _proc_stat(pid: str) -> tuple[str, int, int] | None:
    """(state, ppid, session id) of a process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:  # gone meanwhile
        return None
    # The command name is in parentheses and may itself contain ") ".
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[3])


def proc_status(pid: int) -> dict[str, int]:
    """The numeric fields of /proc/PID/status by name (VmRSS, VmHWM, RssAnon, Threads, ...; sizes in KiB)."""
    with open(f"/proc/{pid}/status") as handle:
        pairs = [(name, value.split()) for name, _, value in (line.partition(":") for line in handle)]
    return {name: int(words[0]) for name, words in pairs if words and words[0].isdigit()}


def live_processes() -> list[tuple[int, int, int]]:
    """(pid, ppid, session id) of every live (non-zombie) process."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(entry)
            if stat and stat[0] not in ("Z", "X"):
                found.append((int(entry), stat[1], stat[2]))
    return found


def _family(leader: int) -> set[int]:
    """Every process in the session LEADER leads, plus its descendants.

    Both, because the bootstrap gets its own process group (killpg misses
    it), and anything that calls setsid leaves the session but is still a
    descendant until its parent dies.
    """
    processes = live_processes()
    family = {pid for pid, _, sid in processes if sid == leader}
    family.add(leader)
    grew = True
    while grew:
        children = {pid for pid, ppid, _ in processes if ppid in family}
        grew = not children <= family
        family |= children
    return family


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, wait a bounded time, then SIGKILL every
    process the child left behind (it was started as a session leader)."""
    family = _family(proc.pid)  # now: once the leader is gone, orphans' ppid is 1
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
    leftovers = family | _family(proc.pid)
    if proc.poll() is not None:
        leftovers.discard(proc.pid)  # reaped: its pid may belong to someone else
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(STOP_GRACE_S)


class _Process:
    """A child in its own session with stdout+stderr captured in a file.

    A file rather than a pipe: nobody has to drain it, and the text is still
    there after the process died.  Own session: the terminal's Ctrl-C goes
    to us only, and we stop the children in order.
    """

    def __init__(self, name: str):
        self.name = name
        self.proc: subprocess.Popen | None = None
        self._dir: str | None = None
        self._final_output: str | None = None

    def _spawn(self, argv: list[str], **kwargs) -> None:
        self._dir = tempfile.mkdtemp(prefix=f"{self.name}-")
        with open(os.path.join(self._dir, "output.log"), "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> str | None:
        """The file the process's output goes to while it runs (for streaming a long log)."""
        path = self._dir and os.path.join(self._dir, "output.log")
        return path if path and os.path.exists(path) else None

    def output(self) -> str:
        """Everything the process (and its children) printed so far."""
        if self._final_output is not None:
            return self._final_output
        if self._dir is None:
            return ""
        with open(os.path.join(self._dir, "output.log"), "rb") as log:
            return log.read().decode("utf-8", "replace")

    def wait_for_output(self, text: str, count: int = 1, timeout: float = 5.0) -> str:
        """The output once TEXT occurs COUNT times in it.  A function writes its
        invocation's log line after posting the answer, so the line can trail
        the answer by a moment."""
        deadline = time.monotonic() + timeout
        while (output := self.output()).count(text) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not {count} times in the output within {timeout} s:\n{output}")
            time.sleep(0.01)
        return output

    def _check_alive(self, what: str) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with status {self.proc.returncode} during "
                f"startup; its output:\n{self.output()}"
            )

    def _wait_listening_line(self, what: str, timeout: float) -> re.Match:
        """Wait for the ``LISTENING 127.0.0.1:PORT`` line our servers print once they accept
        connections (binding port 0 themselves: no race for the port)."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(r"^LISTENING 127\.0\.0\.1:(\d+)( TLS)?$", self.output(), re.M)
            if match:
                return match
            self._check_alive(what)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{what} did not print LISTENING within {timeout} s; output:\n{self.output()}"
                )
            time.sleep(POLL_S)

    def stop(self) -> None:
        """Stop the process (and whatever it started); idempotent.  The
        output stays available through output()."""
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
    """tools/sagemaker_standin.py on a free loopback port.

    ``args`` are extra command-line arguments, e.g. ``"--session-token", T``.
    """

    def __init__(self, *args: str, startup_timeout: float = STARTUP_TIMEOUT_S):
        super().__init__("sagemaker-standin")
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.url: str | None = None
        self._control_lock = threading.Lock()
        self._control_conn: http.client.HTTPConnection | None = None

    def start(self) -> None:
        # --port 0: the stand-in binds and reports the port itself, no race.
        self._spawn(
            [sys.executable, str(STANDIN_SCRIPT), "--port", "0", *self.args]
        )
        match = self._wait_listening_line("the SageMaker stand-in", self.startup_timeout)
        self.port = int(match.group(1))
        self.tls = match.group(2) is not None
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _control(self, method: str, path: str, document: Any = None) -> Any:
        """One control call over a single kept-alive connection, so that
        after reset() stats()["connections"] counts the function's TCP
        connections only (each new control connection would count too)."""
        body = None if document is None else json.dumps(document).encode()
        with self._control_lock:
            for attempt in (1, 2):
                if self._control_conn is None and self.tls:
                    # The control channel only steers the test server: its certificate
                    # is the test's own, so it is not verified here.
                    self._control_conn = http.client.HTTPSConnection(
                        "127.0.0.1", self.port, timeout=10,
                        context=ssl._create_unverified_context(),
                    )
                elif self._control_conn is None:
                    self._control_conn = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=10
                    )
                try:
                    self._control_conn.request(
                        method, f"/_control/{path}", body=body,
                        headers={"Content-Type": "application/json"},
                    )
                    response = self._control_conn.getresponse()
                    answer = response.read()
                    break
                except TimeoutError:
                    raise
                except (OSError, http.client.HTTPException):
                    # The stand-in closes connections idle for 60 s; retry
                    # once on a new one (which then counts in "connections").
                    self._control_conn.close()
                    self._control_conn = None
                    if attempt == 2:
                        raise
        if response.status != 200:
            raise RuntimeError(
                f"stand-in {method} /_control/{path}: {response.status} {answer!r}"
            )
        return json.loads(answer)

    def faults(self, **plan: Any) -> Any:
        """Replace the fault plan: mode, count, delay_ms, status, message."""
        return self._control("POST", "faults", plan)

    def service_time(self, ms: int) -> Any:
        """Make every successful answer take at least MS milliseconds (reset() restores the
        --service-ms value)."""
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
    """What Lambda and ConcurrentLambda share: the bootstrap, its environment and timeouts, and
    the processes the emulator started."""

    def __init__(self, name: str, bootstrap: str | os.PathLike, env: Mapping[str, str | None] | None,
                 timeout: int, memory_size: int, startup_timeout: float):
        super().__init__(name)
        self.bootstrap = Path(bootstrap).resolve()
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.env = _function_process_env(env, timeout, memory_size)

    # What the emulator is called in errors; whether a timed-out request raises TimeoutError even
    # once the emulator has exited (Lambda: its caller must learn that the RIE is abandoned).
    _what: str
    _timeout_wins = False

    def _request(self, method: str, path: str, body: bytes | None, timeout: float) -> tuple[int, dict[str, str], bytes]:
        """One request to the emulator: (status, headers with lower-case names, body).  A failure
        once the emulator has exited is a RuntimeError with its output."""
        connection = http.client.HTTPConnection("127.0.0.1", self.invoke_port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return (
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
            )
        except (OSError, http.client.HTTPException) as exc:
            if self.proc.poll() is not None and not (self._timeout_wins and isinstance(exc, TimeoutError)):
                raise RuntimeError(
                    f"{self._what} exited (status {self.proc.returncode}); its output:\n{self.output()}"
                ) from exc
            raise
        finally:
            connection.close()

    def bootstrap_pids(self) -> list[int]:
        """PIDs of the live processes the emulator started (normally just one
        bootstrap; under the RIE a new PID after a crash/timeout means it was restarted)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return sorted(pid for pid, ppid, _ in live_processes() if ppid == self.proc.pid)


class Lambda(_FunctionProcess):
    """The Runtime Interface Emulator serving BOOTSTRAP on loopback ports.

    ``env`` is merged over a minimal base (PATH, HOME, the timeout and memory
    size); a value of None removes that variable.  The caller's environment
    is deliberately not inherited: the RIE passes its environment on to the
    bootstrap, and stray AWS_* variables would change what we test.
    """

    _what, _timeout_wins = "the RIE", True

    def __init__(
        self,
        bootstrap: str | os.PathLike,
        env: Mapping[str, str | None] | None = None,
        *,
        timeout: int = 30,
        memory_size: int = 128,
        rie: str | os.PathLike = RIE_PATH,
        startup_timeout: float = STARTUP_TIMEOUT_S,
    ):
        super().__init__("lambda-rie", bootstrap, env, timeout, memory_size, startup_timeout)
        self.rie = Path(rie)
        self.runtime_api_port: int | None = None
        self.invoke_port: int | None = None
        self._invoke_lock = threading.Lock()
        self._abandoned = False

    def start(self) -> None:
        for path, hint in ((self.rie, "tools/fetch-rie.sh"), (self.bootstrap, "make build")):
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise FileNotFoundError(f"{path} is missing or not executable: run {hint}")
        # A port we picked can be taken before the RIE binds it (any outgoing
        # connection may get it as its ephemeral port); the RIE then exits
        # with "address already in use", and new ports are tried.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.runtime_api_port, self.invoke_port = free_ports(2)
            self._spawn(
                [
                    str(self.rie),
                    "--runtime-api-address", f"127.0.0.1:{self.runtime_api_port}",
                    "--runtime-interface-emulator-address", f"127.0.0.1:{self.invoke_port}",
                    str(self.bootstrap),
                ],
                env=self.env,
                cwd=self.bootstrap.parent,
            )
            try:
                self._wait_listening()
                return
            except RuntimeError:
                if attempt == PORT_ATTEMPTS or "address already in use" not in self.output():
                    raise
                shutil.rmtree(self._dir, ignore_errors=True)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not (_port_open(self.invoke_port) and _port_open(self.runtime_api_port)):
            self._check_alive("the RIE")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the RIE did not listen on 127.0.0.1:{self.invoke_port} "
                    f"within {self.startup_timeout} s; output:\n{self.output()}"
                )
            time.sleep(POLL_S)
        # Another process could have been listening on a port we picked, and
        # the RIE failed to bind it after all.  Make sure the RIE is still up.
        self._check_alive("the RIE")

    def invoke(
        self, event: bytes | str | Any, timeout: float | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """POST EVENT (bytes, str, or anything else JSON-encoded) to the RIE.

        Returns (status, headers with lower-case names, body).  The default
        timeout leaves room for the function timeout plus init.  Calls are
        serialized: the RIE crashes on overlapping invocations.
        """
        body = _event_bytes(event)
        if timeout is None:
            timeout = self.timeout + 15
        with self._invoke_lock:
            if self._abandoned:
                raise RuntimeError(
                    "an earlier invocation timed out on the client side; the RIE "
                    "would crash on another one, so this Lambda is unusable"
                )
            try:
                return self._request("POST", INVOKE_PATH, body, timeout)
            except TimeoutError:
                self._abandoned = True
                raise


class ConcurrentLambda(_FunctionProcess):
    """tools/runtime_api.py serving BOOTSTRAP: ``Lambda``'s surface, but invocations may overlap.

    The RIE serves one invocation at a time; Lambda Managed Instances hand one environment up to
    AWS_LAMBDA_MAX_CONCURRENCY at once, and so does this.  ``max_concurrency`` sets that variable
    (None leaves it unset).  ``invoke`` may be called from many threads at once: each call has its
    own connection and gets its own invocation's answer.  ``stats()`` is the stand-in's counters
    (``peak_in_flight``: most invocations the runtime held at once; ``bootstrap_exit``).
    The bootstrap starts with the stand-in (as Managed Instances initialise ahead of traffic).
    """

    _what = "the Runtime API stand-in"

    def __init__(
        self,
        bootstrap: str | os.PathLike,
        env: Mapping[str, str | None] | None = None,
        *,
        timeout: int = 30,
        memory_size: int = 128,
        max_concurrency: int | None = None,
        shutdown_grace_ms: int = 2000,
        startup_timeout: float = STARTUP_TIMEOUT_S,
    ):
        super().__init__("runtime-api", bootstrap, env, timeout, memory_size, startup_timeout)
        self.max_concurrency = max_concurrency
        self.shutdown_grace_ms = shutdown_grace_ms
        self.port: int | None = None

    @property
    def invoke_port(self) -> int | None:
        return self.port

    @property
    def runtime_api_port(self) -> int | None:
        return self.port

    def start(self) -> None:
        if not (self.bootstrap.is_file() and os.access(self.bootstrap, os.X_OK)):
            raise FileNotFoundError(f"{self.bootstrap} is missing or not executable: run make build")
        argv = [sys.executable, str(RUNTIME_API_SCRIPT), "--bootstrap", str(self.bootstrap),
                "--timeout", str(self.timeout), "--shutdown-grace-ms", str(self.shutdown_grace_ms)]
        if self.max_concurrency is not None:
            argv += ["--max-concurrency", str(self.max_concurrency)]
        self._spawn(argv, env=self.env, cwd=self.bootstrap.parent)
        self.port = int(self._wait_listening_line("the Runtime API stand-in", self.startup_timeout).group(1))

    def invoke(
        self, event: bytes | str | Any, timeout: float | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """POST EVENT to the front door and wait for its own answer; see Lambda.invoke."""
        return self._request("POST", INVOKE_PATH, _event_bytes(event),
                             self.timeout + 15 if timeout is None else timeout)

    def stats(self) -> dict[str, Any]:
        status, _, body = self._request("GET", "/_stand-in/stats", None, 10)
        if status != 200:
            raise RuntimeError(f"stand-in stats: {status} {body!r}")
        return json.loads(body)



def burst(function: Lambda | ConcurrentLambda, events: list, timeout: float | None = None) -> tuple[list, list[float], float]:
    """Invoke FUNCTION with every one of EVENTS at the same moment, one thread each (released
    together by a barrier, so thread start-up does not spread them out).

    Returns (answers, seconds, wall): answers[i] is invoke()'s (status, headers, body) for
    events[i], or the exception it raised; seconds[i] that call's own duration; wall the time
    from the release until the last answer."""
    count = len(events)
    answers: list = [None] * count
    seconds = [0.0] * count
    limit = (function.timeout + 15) if timeout is None else timeout
    gate = threading.Barrier(count + 1)

    def one(index: int) -> None:
        gate.wait(STARTUP_TIMEOUT_S)
        started = time.monotonic()
        try:
            answers[index] = function.invoke(events[index], timeout=limit)
        except Exception as exc:  # noqa: BLE001 -- handed to the caller with the answers
            answers[index] = exc
        seconds[index] = time.monotonic() - started

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    gate.wait(STARTUP_TIMEOUT_S)
    started = time.monotonic()
    for thread in threads:
        thread.join(limit + 5)
    return answers, seconds, time.monotonic() - started
