"""DNS that never answers, for the bootstrap: a scenario run inside fresh mount + network namespaces.

    unshare --mount --net -- python3 tests/e2e/blackhole_dns.py --bootstrap PATH [--chroot ROOT]

Inside the namespaces it brings up loopback (the only interface), points the resolver at a UDP
listener on 127.0.0.1:53 that reads queries and never answers (/etc/resolv.conf bind-mounted,
`options timeout:5 attempts:2`, so one lookup blocks glibc for ~10 s), hides every name from
/etc/hosts, and runs the fake Runtime API and the bootstrap with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME
on a real AWS host name, which can only be looked up through that resolver. It then sends HTTP
API v2 events one at a time (each with a --deadline-ms deadline), waits (bounded) for each
answer, and prints one JSON document: per event the seconds to the answer and what was posted,
whether the bootstrap is still the same live process, and the DNS queries the listener saw
(proof that the lookup, not something else, was what stalled).

With --chroot ROOT (the unpacked deployment zip, as tests/package/test_chroot.py builds it) the
packaged bootstrap runs with its bundled libc and libcurl, and ROOT/etc gets the same files.

Everything here lives and dies with the namespace: nothing outside it can reach the listener,
and the bind mounts vanish with the process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from fake_runtime import FakeRuntimeAPI, start_bootstrap  # noqa: E402
from proxy_events import http_v2  # noqa: E402

# A name only DNS can answer; the real service's, so no test can pass by reaching AWS.
ENDPOINT_URL = "https://runtime.sagemaker.us-east-1.amazonaws.com"
RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n"
HOSTS = "127.0.0.1 localhost\n"  # nothing else: the endpoint's name must go to DNS
DEBIAN_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ANSWER_MARGIN_S = 10  # how long past its deadline an answer is still waited for


class BlackHole:
    """UDP 127.0.0.1:53 that takes every query and answers none."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 53))
        self.socket.settimeout(0.2)  # so the thread notices stop()
        self.queries: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._swallow, daemon=True)
        self.thread.start()

    def _swallow(self):
        while not self.stopping.is_set():
            try:
                packet, _ = self.socket.recvfrom(4096)
            except socket.timeout:
                continue
            self.queries.append(query_name(packet))

    def stop(self):
        self.stopping.set()
        self.thread.join(2)
        self.socket.close()


def query_name(packet: bytes) -> str:
    """The first question's name and type (A=1, AAAA=28) of a DNS query, e.g. "example.com/28"."""
    labels, offset = [], 12  # after the fixed header
    while offset < len(packet) and packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    qtype = int.from_bytes(packet[offset + 1 : offset + 3], "big") if offset + 3 <= len(packet) else 0
    return f"{'.'.join(labels)}/{qtype}"


def isolate_resolver(chroot: Path | None, scratch: Path) -> None:
    """Loopback up; resolv.conf -> the black hole; hosts without the endpoint's name."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    if chroot is not None:
        etc = chroot / "etc"
        etc.mkdir(exist_ok=True)
        (etc / "resolv.conf").write_text(RESOLV_CONF)
        (etc / "hosts").write_text(HOSTS)
        return
    for name, text in (("resolv.conf", RESOLV_CONF), ("hosts", HOSTS)):
        (scratch / name).write_text(text)
        # unshare --mount made every mount private: this one is seen by this namespace only.
        subprocess.run(["mount", "--bind", str(scratch / name), f"/etc/{name}"], check=True, timeout=10)


def bootstrap_command(bootstrap: Path, chroot: Path | None, scratch: Path) -> Path:
    if chroot is None:
        return bootstrap
    wrapper = scratch / "enter-root"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("chroot")} "{chroot}" /var/task/bootstrap\n')
    wrapper.chmod(0o755)
    return wrapper


def function_env(chroot: Path | None, connect_timeout_ms: int) -> dict[str, str]:
    env = harness.function_env(ENDPOINT_URL)
    env["SAGEMAKER_CONNECT_TIMEOUT_MS"] = str(connect_timeout_ms)
    if chroot is not None:
        env["LAMBDA_TASK_ROOT"] = "/var/task"  # the zip's CA bundle lookup is in the root
    elif DEBIAN_CA_BUNDLE.is_file():
        env["SSL_CERT_FILE"] = str(DEBIAN_CA_BUNDLE)
    return env


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run(args: argparse.Namespace) -> dict:
    scratch = Path(args.scratch)
    chroot = Path(args.chroot) if args.chroot else None
    isolate_resolver(chroot, scratch)
    hole = BlackHole()
    result: dict = {"events": [], "dns_queries": [], "alive": False}
    with FakeRuntimeAPI() as runtime:
        process = start_bootstrap(
            bootstrap_command(Path(args.bootstrap), chroot, scratch), runtime,
            function_env(chroot, args.connect_timeout_ms))
        try:
            if not wait_until(lambda: runtime.next_calls >= 1 or process.poll() is not None, 15):
                result["error"] = "the bootstrap never asked for an event"
            for number in range(args.events):
                if process.poll() is not None:
                    break
                event = http_v2('{"inputs": "Gold rose. The dollar slipped."}')
                started = time.monotonic()
                runtime.enqueue(event, deadline_ms=args.deadline_ms)
                timeout_s = args.deadline_ms / 1000 + ANSWER_MARGIN_S
                try:
                    post = runtime.wait_for_posts(number + 1, timeout=timeout_s)[number]
                except TimeoutError:
                    result["events"].append({"elapsed_s": None, "path": None, "body": None})
                    break
                result["events"].append({
                    "elapsed_s": round(time.monotonic() - started, 3),
                    "path": post["path"],
                    "body": post["body"].decode("utf-8", "replace"),
                })
                # Back in /next: the process took the next step of its loop, and is alive.
                wait_until(lambda: runtime.next_calls >= number + 2 or process.poll() is not None, 5)
            result["alive"] = process.poll() is None
            result["next_calls"] = runtime.next_calls
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            try:
                output, _ = process.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                output = ""
            result["exit_status"] = process.returncode
            result["output"] = output[-20_000:]
            hole.stop()
            result["dns_queries"] = hole.queries
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="the dev bootstrap (or, with --chroot, unused)")
    parser.add_argument("--chroot", help="unpacked deployment zip: run ROOT/var/task/bootstrap chrooted")
    parser.add_argument("--scratch", required=True, help="a directory for the files this writes")
    parser.add_argument("--events", type=int, default=2)
    parser.add_argument("--deadline-ms", type=int, default=10_000)
    parser.add_argument("--connect-timeout-ms", type=int, default=1_000)
    args = parser.parse_args(argv)
    # Bind-mounting over the machine's own /etc/resolv.conf would break every program on it.
    # unshare execs this script in place, so the parent (whoever ran unshare) is outside.
    for kind in ("mnt", "net"):
        if os.readlink(f"/proc/self/ns/{kind}") == os.readlink(f"/proc/{os.getppid()}/ns/{kind}"):
            parser.error(f"not in a private {kind} namespace: run me under `unshare --mount --net`")
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
