"""DNS that never answers, for the bootstrap: a scenario run inside fresh mount + network namespaces.

    unshare --mount --net -- python3 tests/e2e/blackhole_dns.py --bootstrap PATH --scratch DIR [--chroot ROOT]

It brings up loopback, points the resolver at a UDP listener on 127.0.0.1:53 that never answers
(resolv.conf `options timeout:5 attempts:2`: one lookup blocks glibc for ~10 s), hides every name
from /etc/hosts, and runs the bootstrap against the fake Runtime API with
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME on a real AWS host name.  It sends EVENTS HTTP API v2 events,
one at a time, and prints one JSON document: per event the seconds to the answer and what was
posted, whether the bootstrap is still alive, and the DNS queries the listener saw (proof that
the lookup was what stalled).  With --chroot ROOT (the unpacked deployment zip, as
tests/package/test_chroot.py builds it) the packaged bootstrap runs with its bundled libc and
libcurl.  The listener and the bind mounts live and die with the namespaces.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tools"))

import harness  # noqa: E402
from proxy_events import http_v2  # noqa: E402
from runtime_api import running_bootstrap  # noqa: E402

# A name only DNS can answer; the real service's, so no test can pass by reaching AWS.
ENDPOINT_URL = "https://runtime.sagemaker.us-east-1.amazonaws.com"
RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n"
HOSTS = "127.0.0.1 localhost\n"  # nothing else: the endpoint's name must go to DNS
DEBIAN_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
EVENTS = 2
DEADLINE_MS = 10_000
CONNECT_TIMEOUT_MS = 1_000
ANSWER_MARGIN_S = 10  # how long past its deadline an answer is still waited for


def swallow(sock: socket.socket, queries: list[str]) -> None:
    """Take every query on SOCK and answer none; record each one's first question as name/type
    (A=1, AAAA=28), e.g. "example.com/28"."""
    while True:
        try:
            packet = sock.recv(4096)
        except OSError:  # closed
            return
        labels, offset = [], 12  # after the fixed header
        while offset < len(packet) and packet[offset]:
            labels.append(packet[offset + 1 : offset + 1 + packet[offset]].decode("ascii", "replace"))
            offset += 1 + packet[offset]
        queries.append(f"{'.'.join(labels)}/{int.from_bytes(packet[offset + 1 : offset + 3], 'big')}")


def isolate_resolver(chroot: Path | None, scratch: Path) -> None:
    """Loopback up; resolv.conf -> the black hole; hosts without the endpoint's name."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    for name, text in (("resolv.conf", RESOLV_CONF), ("hosts", HOSTS)):
        if chroot is not None:
            (chroot / "etc").mkdir(exist_ok=True)
            (chroot / "etc" / name).write_text(text)
        else:
            (scratch / name).write_text(text)
            # unshare --mount made every mount private: this one is seen by this namespace only.
            subprocess.run(["mount", "--bind", str(scratch / name), f"/etc/{name}"], check=True, timeout=10)


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run(bootstrap: Path, chroot: Path | None, scratch: Path) -> dict:
    isolate_resolver(chroot, scratch)
    env = harness.function_env(ENDPOINT_URL) | {"SAGEMAKER_CONNECT_TIMEOUT_MS": str(CONNECT_TIMEOUT_MS)}
    if chroot is not None:
        env["LAMBDA_TASK_ROOT"] = "/var/task"  # the zip's CA bundle lookup is in the root
        bootstrap = scratch / "enter-root"
        bootstrap.write_text(f'#!/bin/sh\nexec {shutil.which("chroot")} "{chroot}" /var/task/bootstrap\n')
        bootstrap.chmod(0o755)
    elif DEBIAN_CA_BUNDLE.is_file():
        env["SSL_CERT_FILE"] = str(DEBIAN_CA_BUNDLE)
    result: dict = {"events": [], "dns_queries": [], "alive": False}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind(("127.0.0.1", 53))
        threading.Thread(target=swallow, args=(hole, result["dns_queries"]), daemon=True).start()
        with running_bootstrap(bootstrap, env) as (runtime, process):
            if not wait_until(lambda: runtime.snapshot()["next_calls"] >= 1 or process.poll() is not None, 15):
                result["error"] = "the bootstrap never asked for an event"
            for number in range(EVENTS):
                if process.poll() is not None:
                    break
                started = time.monotonic()
                runtime.enqueue(http_v2('{"inputs": "Gold rose. The dollar slipped."}'), timeout_s=DEADLINE_MS / 1000)
                try:
                    post = runtime.wait_for_posts(number + 1, timeout=DEADLINE_MS / 1000 + ANSWER_MARGIN_S)[number]
                except TimeoutError:
                    result["events"].append({"elapsed_s": None, "path": None, "body": None})
                    break
                result["events"].append({"elapsed_s": round(time.monotonic() - started, 3), "path": post["path"],
                                         "body": post["body"].decode("utf-8", "replace")})
                # Back in /next: the process took the next step of its loop, and is alive.
                wait_until(lambda: runtime.snapshot()["next_calls"] >= number + 2 or process.poll() is not None, 5)
            result["alive"] = process.poll() is None
        result["output"] = process.stdout.read()[-20_000:]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="the dev bootstrap (or, with --chroot, unused)")
    parser.add_argument("--chroot", type=Path, help="unpacked deployment zip: run ROOT/var/task/bootstrap chrooted")
    parser.add_argument("--scratch", type=Path, required=True, help="a directory for the files this writes")
    args = parser.parse_args()
    # Bind-mounting over the machine's own /etc/resolv.conf would break every program on it.
    # unshare execs this script in place, so the parent (whoever ran unshare) is outside.
    for kind in ("mnt", "net"):
        if os.readlink(f"/proc/self/ns/{kind}") == os.readlink(f"/proc/{os.getppid()}/ns/{kind}"):
            parser.error(f"not in a private {kind} namespace: run me under `unshare --mount --net`")
    print(json.dumps(run(Path(args.bootstrap), args.chroot, args.scratch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
