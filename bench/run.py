#!/usr/bin/env python3
"""`make bench`: the packaged Swift bootstrap against the Python handler it replaces and a C
floor, all under AWS's Runtime Interface Emulator (RIE) on loopback, calling the SageMaker stand-in.

Needs `make package` (dist/) and bench/setup.sh.  Prints the figures with a PASS/FAIL per target
and rewrites bench/RESULTS.md and its charts (bench/METHOD.md says how each figure is measured);
--quick writes them under .build-bench/quick/ instead.  Raw figures go to
.build-bench/last-run.json.  Exit status 0 when the benchmark ran, whatever the targets say, 1
when it could not.  Every phase interleaves the functions, everything binds 127.0.0.1, every wait
is bounded, and every process started is stopped on the way out, also on an error, Ctrl-C,
SIGTERM or the time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import filecmp
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402  (tools/ on the path above)
import cgprofile  # noqa: E402
import report  # noqa: E402
from netutil import KeepAliveInvoker, RecordingProxy  # noqa: E402

BUILD = REPO / ".build-bench"
PACKAGE = REPO / "dist" / "package"
PACKAGE_ZIP = REPO / "dist" / "summarizer-lambda.zip"
SWIFT_UNSTRIPPED = REPO / ".build" / "release" / "bootstrap"
VENV = BUILD / "venv"
PYTHON_DEPS = BUILD / "python-deps"
BASELINE = BENCH / "baseline"
EVENT_FILE = REPO / "events" / "console-test.json"
ARTICLE_FILE = REPO / "events" / "article.txt"

FUNCTION_TIMEOUT_S = 60  # the RIE's function (and init) timeout
INVOKE_TIMEOUT_S = 90  # client-side bound on any one invocation
FIRST_NEXT_WAIT_S = 10  # after the first answer, the proxy must have seen /next
TOOL_TIMEOUT_S = 120  # cc, strip, callgrind_control, swift --version
TIME_LIMIT_S = 1200  # the whole run

# The counts of a full run and of --quick: cold starts and measured warm invocations per function,
# warm invocations under callgrind, 5 MB batches per function; AWS_LAMBDA_MAX_CONCURRENCY values
# (issue 15, Lambda Managed Instances) and bursts of N at each.
FULL = {"starts": 20, "invocations": 5000, "callgrind_invocations": 200, "large_reps": 3,
        "concurrency_levels": (1, 8, 64), "concurrency_rounds": 4, "arm64_starts": 5, "arm64_invocations": 200}
QUICK = {"starts": 2, "invocations": 50, "callgrind_invocations": 10, "large_reps": 1,
         "concurrency_levels": (1, 4), "concurrency_rounds": 1, "arm64_starts": 1, "arm64_invocations": 10}

# Warm invocations run in this many blocks per function, in rotating order: this machine's speed
# drifts within seconds, and short blocks spread a slow spell over all the functions alike.
WARM_BLOCKS = 50

# The batch case: 5 MB of JSON (MB = 10^6 bytes throughout, see report.py).
LARGE_BATCH_BYTES = 5_000_000

# Many at once: the SageMaker stand-in answers every call in this time.
CONCURRENCY_SERVICE_MS = 200
# Python's workers each import boto3 (awslambdaric forks one process per slot before the handler
# is imported): 64 of them on 2 cores take a while to all hold a /next.
WORKERS_READY_TIMEOUT_S = 240
WORKERS_SETTLED_S = 1  # the window in which a runtime with fewer workers shows it is idle


class BenchError(RuntimeError):
    """The benchmark could not run (as opposed to: a target was missed)."""


@dataclass
class Function:
    key: str
    label: str
    bootstrap: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, standin_url: str) -> dict[str, str]:
        return {**harness.function_env(standin_url), **self.extra_env}


# The 5 MB batch has thousands of articles, far over the deployed cost cap (MAX_BATCH_ARTICLES, 32
# by default): the benchmark measures large payloads, so the cap is raised for it.
SWIFT = Function("swift", "Swift", PACKAGE / "bootstrap", {"MAX_BATCH_ARTICLES": "10000"})
# The arm64 package (make package ARCH=arm64) through its own bootstrap, every aarch64 executable
# under qemu-aarch64-static (tests/package/arm64-bootstrap): emulated, so its times show that it
# starts and serves, not how fast it is on Graviton.
ARM64_PACKAGE = REPO / "dist" / "package-arm64"
ARM64_ZIP = REPO / "dist" / "summarizer-lambda-arm64.zip"
SWIFT_ARM64 = Function("swift_arm64", "Swift arm64 (emulated)", REPO / "tests" / "package" / "arm64-bootstrap",
                       {"MAX_BATCH_ARTICLES": "10000"})
# The venv first on the PATH: `python3` in the bootstrap is then the venv's interpreter.
PYTHON = Function("python", "Python", BASELINE / "bootstrap",
                  {"PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"})


def run_tool(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, **kwargs)


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def rotated(items: list, shift: int) -> list:
    """ITEMS starting from index SHIFT (modulo their number): who goes first rotates."""
    shift %= len(items)
    return items[shift:] + items[:shift]


# --------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------


def check_prerequisites() -> None:
    missing = []
    if not (PACKAGE / "bootstrap").is_file() or not PACKAGE_ZIP.is_file():
        missing.append("dist/package and dist/summarizer-lambda.zip: run `make package`")
    if not (ARM64_PACKAGE / "bootstrap").is_file() or not ARM64_ZIP.is_file():
        missing.append("dist/package-arm64 and dist/summarizer-lambda-arm64.zip: run `make package ARCH=arm64`")
    if not os.access(harness.RIE_PATH, os.X_OK):
        missing.append(f"{harness.RIE_PATH}: run bench/setup.sh")
    if not (VENV / "bin" / "python3").exists() or not PYTHON_DEPS.is_dir():
        missing.append(".build-bench/venv and python-deps: run bench/setup.sh")
    if missing:
        raise BenchError("missing:\n  " + "\n  ".join(missing))


def build_native() -> dict[str, Path]:
    """Compile the floor and the exec-stamping wrapper (cheap; always fresh)."""
    out = BUILD / "bin"
    out.mkdir(parents=True, exist_ok=True)
    built = {}
    # The floor is fully static (see floor.c): no loader work at start, a true floor.
    # floor-libcurl is the same floor posting to the stand-in through libcurl (warm phase only).
    for name, source, flags in (("floor", BENCH / "floor" / "floor.c", ["-static", "-lcrypto"]),
                                ("floor-libcurl", BENCH / "floor" / "floor.c", ["-DFLOOR_LIBCURL", "-lcurl", "-lcrypto"]),
                                ("stamp_exec", BENCH / "stamp_exec.c", [])):
        target = out / name
        result = run_tool(["cc", "-O2", "-Wall", "-o", str(target), str(source), *flags])
        if result.returncode != 0:
            raise BenchError(f"cc {name}.c failed (run bench/setup.sh?):\n{result.stderr}")
        built[name] = target
    # floor-libcurl loads the package's libcurl.so.4 (the one the bootstrap uses) but nothing
    # else of the package: a directory holding only that library goes on its LD_LIBRARY_PATH.
    libcurl_dir = out / "package-libcurl"
    libcurl_dir.mkdir(exist_ok=True)
    link = libcurl_dir / "libcurl.so.4"
    link.unlink(missing_ok=True)
    link.symlink_to(PACKAGE / "lib" / "libcurl.so.4")
    built["package_libcurl_dir"] = libcurl_dir
    return built


def large_event(target_bytes: int) -> tuple[bytes, int]:
    """A batch of distinct articles (the sample article with a numbered lead sentence: nothing
    to deduplicate, each a realistic ~1.1 kB of prose) just under TARGET_BYTES of JSON, and
    how many."""
    article = ARTICLE_FILE.read_text().strip()
    head = b'{"inputs":['
    tail = b'],"parameters":{"num_return_sequences":3,"max_length":96}}'
    items: list[bytes] = []
    size = len(head) + len(tail)
    while True:
        item = json.dumps(f"Report {len(items) + 1} of the day. {article}").encode()
        if size + len(item) + 1 > target_bytes:
            return head + b",".join(items) + tail, len(items)
        items.append(item)
        size += len(item) + 1


def evict_from_page_cache(floor_binary: Path) -> None:
    """Drop every file the functions map from the page cache (dirty pages are flushed first), so
    that peak RSS does not depend on how the files were last written (METHOD.md, "Peak RSS")."""
    interpreter = (VENV / "bin" / "python3").resolve()
    base = interpreter.parent.parent
    for root in (PACKAGE, floor_binary, BASELINE, VENV / "lib", interpreter,
                 *base.glob("lib/libpython3*.so*"), *base.glob("lib/python3*/lib-dynload")):
        for path in [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else [root]:
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fdatasync(fd)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)


def machine_info() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def first_line(argv: list[str]) -> str:
        try:
            result = run_tool(argv)
            return (result.stdout or result.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "unavailable"

    commit = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = first_line(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "swift": first_line(["swift", "--version"]),
        "python": first_line([str(VENV / "bin" / "python3"), "--version"]),
        "valgrind": first_line(["valgrind", "--version"]),
        "cc": first_line(["cc", "--version"]),
        "commit": commit + (" (with uncommitted changes)" if dirty not in ("", "unavailable") else ""),
        "load_before": os.getloadavg(),
    }


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def vm_hwm_bytes(pid: int) -> int:
    """Peak resident set size of PID (VmHWM, kB in /proc) in bytes."""
    return harness.proc_status(pid)["VmHWM"] * 1024


def memory_breakdown(pid: int, count: int = 8) -> dict:
    """Where PID's resident memory is now: VmRSS, RssAnon, RssFile, RssShmem, and the COUNT
    largest mappings by Rss from /proc/PID/smaps, by file name ([anon], [heap], [stack], ...)."""
    status = {name: kib * 1024 for name, kib in harness.proc_status(pid).items()
              if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem")}
    by_mapping: dict[str, int] = defaultdict(int)
    current = "[anon]"
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                current = Path(fields[5]).name if len(fields) >= 6 else "[anon]"
            elif fields and fields[0] == "Rss:":
                by_mapping[current] += int(fields[1]) * 1024
    return {"status": status, "mappings": sorted(by_mapping.items(), key=lambda item: -item[1])[:count]}


def read_stamp(path: Path) -> tuple[int, int]:
    """(CLOCK_MONOTONIC ns just before exec, pid) from stamp_exec."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            ns, pid = path.read_text().split()
            return int(ns), int(pid)
        time.sleep(0.01)
    raise BenchError(f"stamp_exec wrote no stamp to {path}")


def check_answer(function: Function, status: int, body: bytes) -> None:
    # The RIE answers 200 for function errors too: only the body tells them apart.
    if status != 200 or not body.startswith(b"[") or b'"errorType"' in body[:300]:
        raise BenchError(f"{function.label} answered {status}: {body[:500]!r}")


def cold_start(function: Function, standin: harness.StandIn, stamp_exec: Path, event: bytes, scratch: Path) -> dict:
    """One cold start in a fresh RIE: exec stamp -> first /next seen by the proxy."""
    stamp = scratch / f"{function.key}.stamp"
    stamp.unlink(missing_ok=True)
    proxy = RecordingProxy()
    env = function.env(standin.url)
    env.update(BENCH_TARGET=str(function.bootstrap), BENCH_STAMP_FILE=str(stamp),
               BENCH_RUNTIME_API=f"127.0.0.1:{proxy.port}")
    try:
        with harness.Lambda(stamp_exec, env, timeout=FUNCTION_TIMEOUT_S) as fn:
            proxy.upstream_port = fn.runtime_api_port
            started = time.perf_counter()
            status, _, body = fn.invoke(event, timeout=INVOKE_TIMEOUT_S)
            first_invoke_s = time.perf_counter() - started
            check_answer(function, status, body)
            first_next_ns = proxy.wait_first_next(FIRST_NEXT_WAIT_S)
            exec_ns, pid = read_stamp(stamp)
            rie_init = re.search(r"Init Duration: ([\d.]+) ms", fn.output())
    finally:
        proxy.close()
    if first_next_ns is None:
        raise BenchError(f"{function.label}: the proxy never saw GET /next")
    return {
        "cold_ms": (first_next_ns - exec_ns) / 1e6,
        "first_invoke_ms": first_invoke_s * 1e3,
        "rie_init_ms": float(rie_init.group(1)) if rie_init else None,
    }


STANDIN_LINE = re.compile(r"^POST /endpoints/[^/ ]+/invocations 200 ([\d.]+)ms$", re.M)


def standin_times_ms(standin: harness.StandIn, offset: int, expected: int) -> list[float]:
    """The service times (its own clock: request dispatch to last byte written) the stand-in
    logged for InvokeEndpoint calls after OFFSET in its log, waiting up to 2 s for EXPECTED of
    them: it writes the line just after the answer's last byte, so it can trail the answer."""
    deadline = time.monotonic() + 2
    while True:
        times = [float(m) for m in STANDIN_LINE.findall(standin.output(), offset)]
        if len(times) >= expected or time.monotonic() > deadline:
            return times
        time.sleep(0.01)


def callgrind(event: bytes, standin: harness.StandIn, invocations: int, scratch: Path) -> dict:
    """Instructions per warm invocation of the Swift function as packaged (bundled loader and
    libraries) under callgrind: dumped once after the first invocation and once after N more
    (METHOD.md, "Instructions per warm invocation")."""
    out_dir = scratch / "callgrind"
    out_dir.mkdir()
    loaders = sorted((PACKAGE / "lib").glob("ld-linux-*.so.*"))
    if not loaders:
        raise BenchError("cannot find the loader in dist/package/lib")
    # The unstripped build gives symbol names: used when, stripped, it is the packaged binary.
    binary, symbols = PACKAGE / "bin" / "summarizer", False
    stripped = out_dir / "stripped"
    if (SWIFT_UNSTRIPPED.is_file()
            and run_tool(["strip", "--strip-all", "-o", str(stripped), str(SWIFT_UNSTRIPPED)]).returncode == 0
            and filecmp.cmp(stripped, binary, shallow=False)):
        binary, symbols = SWIFT_UNSTRIPPED, True
    bootstrap = out_dir / "bootstrap"
    bootstrap.write_text(
        "#!/bin/sh\n"
        "# The packaged bootstrap's exec line, under callgrind.\n"
        f'exec valgrind --tool=callgrind --callgrind-out-file="{out_dir}/callgrind.out.%p" '
        f'"{loaders[0]}" --library-path "{PACKAGE}/lib" "{binary}"\n'
    )
    bootstrap.chmod(0o755)

    def dump(pid: int, label: str) -> None:
        result = run_tool(["callgrind_control", "--dump=" + label, str(pid)])
        if result.returncode != 0 or "OK" not in result.stdout:
            raise BenchError(f"callgrind_control --dump failed: {result.stdout}{result.stderr}")

    with harness.Lambda(bootstrap, SWIFT.env(standin.url), timeout=300) as fn:
        status, _, body = fn.invoke(event, timeout=300)
        check_answer(SWIFT, status, body)
        pids = fn.bootstrap_pids()
        if len(pids) != 1:
            raise BenchError(f"expected one function process under the RIE, found {pids}")
        dump(pids[0], "init-and-first")
        invoker = KeepAliveInvoker(fn.invoke_port, timeout=INVOKE_TIMEOUT_S)
        try:
            for _ in range(invocations):
                status, body, _ = invoker.invoke(event)
                check_answer(SWIFT, status, body)
        finally:
            invoker.close()
        dump(pids[0], "warm")
        # callgrind writes the dump asynchronously to the request: wait for both files.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            dumps = sorted(out_dir.glob(f"callgrind.out.{pids[0]}.*"), key=lambda p: int(p.suffix[1:]))
            if len(dumps) >= 2 and all(total_ir(p) is not None for p in dumps[:2]):
                break
            time.sleep(0.1)
        else:
            raise BenchError(f"callgrind dumps missing in {out_dir}")
    init_ir, warm_ir = total_ir(dumps[0]), total_ir(dumps[1])
    return {
        "invocations": invocations,
        "init_and_first_ir": init_ir,
        "warm_total_ir": warm_ir,
        "ir_per_invocation": warm_ir / invocations,
        "symbols": symbols,
        "profile": cgprofile.profile(dumps[1], invocations),
    }


def total_ir(path: Path) -> int | None:
    with contextlib.suppress(OSError):
        if match := re.search(r"^totals: (\d+)", path.read_text(errors="replace"), re.M):
            return int(match.group(1))
    return None


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def package_sizes(scratch: Path) -> dict:
    """Deployable sizes (METHOD.md, "Package size"): the Swift release zip and folder; the
    Python handler, bootstrap and `pip install --target` of bench/requirements.txt, zipped as
    package.sh zips (deflate, level 9); and handler.py alone, for the managed Python runtime."""
    python_zip, handler_only = scratch / "python-package.zip", scratch / "handler-only.zip"
    with zipfile.ZipFile(python_zip, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in ("handler.py", "bootstrap"):
            archive.write(BASELINE / name, name)
        for path in sorted(PYTHON_DEPS.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(PYTHON_DEPS).as_posix())
    with zipfile.ZipFile(handler_only, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(BASELINE / "handler.py", "handler.py")
    return {
        "swift_zip": PACKAGE_ZIP.stat().st_size,
        "swift_unpacked": tree_bytes(PACKAGE),
        "python_zip": python_zip.stat().st_size,
        "python_unpacked": tree_bytes(PYTHON_DEPS) + sum((BASELINE / n).stat().st_size for n in ("handler.py", "bootstrap")),
        "python_handler_only_zip": handler_only.stat().st_size,
        "floor_unpacked": (BUILD / "bin" / "floor").stat().st_size,
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a real sample)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarize(values: list[float]) -> dict:
    stats = {"n": len(values), "min": min(values), "max": max(values), "mean": statistics.fmean(values)}
    stats.update({f"p{q}": percentile(values, q) for q in (50, 90, 99)})
    return stats


def emulated_arm64(event: bytes, starts: int, invocations: int, stamp_exec: Path, scratch: Path) -> dict:
    """The arm64 package's size, and its cold start and warm latency under qemu (METHOD.md,
    "arm64, emulated"): STARTS cold starts, then INVOCATIONS warm ones after a short warm-up."""
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin:
        cold = []
        for index in range(starts):
            cold.append(cold_start(SWIFT_ARM64, standin, stamp_exec, event, scratch)["cold_ms"])
            progress(f"arm64 (emulated): cold start {index + 1}/{starts}")
        latencies = []
        with harness.Lambda(SWIFT_ARM64.bootstrap, SWIFT_ARM64.env(standin.url), timeout=FUNCTION_TIMEOUT_S) as fn:
            invoker = KeepAliveInvoker(fn.invoke_port, timeout=INVOKE_TIMEOUT_S)
            try:
                for index in range(5 + invocations):
                    status, body, seconds = invoker.invoke(event)
                    check_answer(SWIFT_ARM64, status, body)
                    if index >= 5:
                        latencies.append(seconds * 1e3)
            finally:
                invoker.close()
        progress(f"arm64 (emulated): {invocations} warm invocations")
    return {"zip": ARM64_ZIP.stat().st_size, "unpacked": tree_bytes(ARM64_PACKAGE),
            "cold_ms": summarize(cold), "warm_ms": summarize(latencies)}


# --------------------------------------------------------------------------
# Many at once: AWS_LAMBDA_MAX_CONCURRENCY (issue 15, Lambda Managed Instances)
# --------------------------------------------------------------------------


def family(fn: harness.ConcurrentLambda) -> list[int]:
    """The function's process and its descendants (awslambdaric's workers are forked children)."""
    roots = fn.bootstrap_pids()
    return sorted(harness.family(roots[0])) if roots else []


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by PIDS (those still alive)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def wait_workers(fn: harness.ConcurrentLambda, workers: int) -> int:
    """Wait until WORKERS /next requests are held, or at least one is and the function's
    processes have gone quiet (a runtime with fewer workers: nothing left initialising); bounded.
    Returns how many /next requests are held.  (Python's workers all import boto3 at once: none
    polls for a while, then one after another do, each after seconds of CPU.)"""
    deadline = time.monotonic() + WORKERS_READY_TIMEOUT_S
    last = (-1, 0.0)
    while True:
        waiting = fn.stats()["next_waiting"]
        used = cpu_seconds(family(fn))
        if waiting >= workers:
            return waiting
        # Quiet: the same count as a window ago and under 2% of a core used meanwhile.
        if waiting and waiting == last[0] and used - last[1] < 0.02 * WORKERS_SETTLED_S:
            return waiting
        if time.monotonic() > deadline:
            raise BenchError(f"only {waiting} of {workers} workers polled /next within {WORKERS_READY_TIMEOUT_S} s")
        last = (waiting, used)
        time.sleep(WORKERS_SETTLED_S)


def concurrency(functions: list[Function], levels: tuple[int, ...], rounds: int) -> dict:
    """For each N in LEVELS, each function under the concurrent Runtime API stand-in with
    AWS_LAMBDA_MAX_CONCURRENCY=N: a warm-up burst of N, then ROUNDS bursts of N distinct
    articles sent at once (METHOD.md, "Many at once")."""
    out: dict = {"service_ms": CONCURRENCY_SERVICE_MS, "levels": list(levels), "rounds": rounds, "runs": {}}
    article = ARTICLE_FILE.read_text().strip()
    with harness.StandIn("--session-token", harness.SESSION_TOKEN,
                         "--service-ms", str(CONCURRENCY_SERVICE_MS)) as standin:
        for level_index, n in enumerate(levels):
            events = [json.dumps({"inputs": f"Report {i + 1} of {n} leads the day. {article}"}).encode()
                      for i in range(n)]
            for function in rotated(functions, level_index):
                with harness.ConcurrentLambda(function.bootstrap, function.env(standin.url),
                                              timeout=FUNCTION_TIMEOUT_S, max_concurrency=n) as fn:
                    workers = wait_workers(fn, n)
                    harness.burst(fn, events, INVOKE_TIMEOUT_S)  # warm-up: connections, lazy init
                    latencies, walls, inside = [], [], []
                    for _ in range(rounds):
                        answers, seconds, wall = harness.burst(fn, events, INVOKE_TIMEOUT_S)
                        # The same burst inside the Runtime API: first event queued to last answer
                        # posted, without the bench client's own HTTP round trips.
                        spans = fn.stats()["spans"][-n:]
                        inside.append(max(done for _, done in spans) - min(queued for queued, _ in spans))
                        for answer in answers:
                            if isinstance(answer, Exception):
                                raise BenchError(f"{function.label}, N={n}: {answer}")
                            check_answer(function, answer[0], answer[2])
                        latencies += [x * 1e3 for x in seconds]
                        walls.append(wall)
                    if not (pids := family(fn)):
                        raise BenchError(f"{function.label}, N={n}: the function process is gone")
                    hwm = [vm_hwm_bytes(pid) for pid in pids]
                    stats = fn.stats()
                out["runs"].setdefault(function.key, {})[str(n)] = {
                    "workers_polling": workers,
                    "peak_in_flight": stats["peak_in_flight"],
                    "processes": len(pids),
                    "rss_total": sum(hwm),
                    "latency_ms": summarize(latencies),
                    "burst_wall_ms": summarize([w * 1e3 for w in walls]),
                    "burst_runtime_ms": summarize([w * 1e3 for w in inside]),
                    "throughput": len(latencies) / sum(walls),
                }
                progress(f"concurrency: {function.label} N={n}: {len(latencies) / sum(walls):.1f}/s, "
                         f"{len(pids)} process(es), {sum(hwm) / 1e6:.1f} MB")
    return out


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    check_prerequisites()
    native = build_native()
    event = EVENT_FILE.read_bytes()
    big_event, big_count = large_event(LARGE_BATCH_BYTES)
    floor = Function("floor", "floor", native["floor"], {"FLOOR_EVENT_FILE": str(EVENT_FILE)})
    functions = [SWIFT, PYTHON, floor]
    # A reference, warm latency only: how much of the gap to the floor is libcurl's.
    floor_libcurl = Function("floor_libcurl", "floor + libcurl", native["floor-libcurl"], {
        "FLOOR_EVENT_FILE": str(EVENT_FILE), "LD_LIBRARY_PATH": str(native["package_libcurl_dir"])})
    warm_functions = [*functions, floor_libcurl]
    command = " ".join(["python3", "bench/run.py", *sys.argv[1:]])
    results: dict = {"machine": machine_info(), "args": {**vars(args), "command": command, "warm_blocks": WARM_BLOCKS}}

    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        # One stand-in per function: its log then holds that function's calls only.
        standins = {f.key: stack.enter_context(harness.StandIn("--session-token", harness.SESSION_TOKEN))
                    for f in warm_functions}

        # ---- cold starts: a fresh RIE per start, round-robin, rotating the order.
        # Evict the functions' files, then one unrecorded round reads them back in: the same
        # page-cache state for every run, and every recorded start finds its files cached.
        evict_from_page_cache(native["floor"])
        cold = {f.key: defaultdict(list) for f in functions}
        for round_index in range(args.starts + 1):
            for function in rotated(functions, round_index):
                sample = cold_start(function, standins[function.key], native["stamp_exec"], event, scratch)
                for name, value in sample.items():
                    if round_index > 0 and value is not None:
                        cold[function.key][name].append(value)
            progress(f"cold starts: round {round_index}/{args.starts}"
                     + ("" if round_index else " (warm-up, not recorded)"))
        results["cold"] = {key: {name: summarize(samples[name] or [0.0])
                                 for name in ("cold_ms", "first_invoke_ms", "rie_init_ms")}
                           for key, samples in cold.items()}

        # ---- warm: one RIE per function, kept for the warm and large phases.
        warmup = max(20, min(500, args.invocations // 10))
        live = {}
        for function in warm_functions:
            standin = standins[function.key]
            standin.reset()  # counters only; the log goes on, so note where this phase starts
            log_start = len(standin.output())
            stamp = scratch / f"{function.key}-warm.stamp"
            env = {**function.env(standin.url), "BENCH_TARGET": str(function.bootstrap), "BENCH_STAMP_FILE": str(stamp)}
            fn = stack.enter_context(harness.Lambda(native["stamp_exec"], env, timeout=FUNCTION_TIMEOUT_S))
            invoker = KeepAliveInvoker(fn.invoke_port, timeout=INVOKE_TIMEOUT_S)
            stack.callback(invoker.close)
            status, body, _ = invoker.invoke(event)
            check_answer(function, status, body)
            _, pid = read_stamp(stamp)
            hwm_after_first = vm_hwm_bytes(pid)
            for _ in range(warmup):
                status, warm_body, _ = invoker.invoke(event)
                check_answer(function, status, warm_body)
            # Only the recorded invocations' service times count: wait for the warm-up's
            # last log line, then note the offset.
            standin_times_ms(standin, log_start, 1 + warmup)
            live[function.key] = {"fn": fn, "invoker": invoker, "pid": pid, "first_answer": body,
                                  "hwm_after_first": hwm_after_first, "calls": 1 + warmup,
                                  "log_offset": len(standin.output())}

        # All must answer the same document (Python re-serialises it, so compare parsed).
        answers = {key: json.loads(v["first_answer"]) for key, v in live.items()}
        if not answers["swift"] == answers["python"] == answers["floor"] == answers["floor_libcurl"]:
            raise BenchError(f"the functions disagree on the answer: {answers}")

        latencies = {f.key: [] for f in warm_functions}
        blocks = max(1, min(WARM_BLOCKS, args.invocations))
        for round_index in range(blocks):
            block = args.invocations // blocks + (1 if round_index < args.invocations % blocks else 0)
            for function in rotated(warm_functions, round_index):
                invoker, samples = live[function.key]["invoker"], latencies[function.key]
                for _ in range(block):
                    status, body, seconds = invoker.invoke(event)
                    check_answer(function, status, body)
                    samples.append(seconds * 1e3)
                live[function.key]["calls"] += block
            if (round_index + 1) % 10 == 0 or round_index + 1 == blocks:
                progress(f"warm: block {round_index + 1}/{blocks}")

        results["warm"] = {}
        for function in warm_functions:
            entry, standin = live[function.key], standins[function.key]
            service = standin_times_ms(standin, entry["log_offset"], args.invocations)
            succeeded = standin.stats()["succeeded"]
            # Every invocation must have reached the stand-in and passed its signature check:
            # this is also what shows boto3 honoured AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.
            if succeeded != entry["calls"]:
                raise BenchError(f"{function.label}: {entry['calls']} invocations but the stand-in "
                                 f"answered {succeeded} successfully")
            results["warm"][function.key] = {
                "latency_ms": summarize(latencies[function.key]),
                "standin_ms": summarize(service) if service else None,
                "hwm_after_first": entry["hwm_after_first"],
                "peak_rss": vm_hwm_bytes(entry["pid"]),
                "memory": memory_breakdown(entry["pid"]),
                # What the measured process is, once exec is done (for the report).
                "cmdline": Path(f"/proc/{entry['pid']}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip(),
                "warmup": warmup,
            }

        # ---- the 5 MB batch, in the warm processes: its latency, and what it adds to the peak.
        pair = functions[:2]  # the floor serves the warm event only
        batch = results["large_batch"] = {"bytes": len(big_event), "articles": big_count, "reps": args.large_reps}
        for function in pair:
            batch[function.key] = {"hwm_before": vm_hwm_bytes(live[function.key]["pid"]),
                                   "latency_ms": [], "standin_ms": []}
        for round_index in range(args.large_reps):
            for function in rotated(pair, round_index):
                entry, record = live[function.key], batch[function.key]
                offset = len(standins[function.key].output())
                status, body, seconds = entry["invoker"].invoke(big_event)
                check_answer(function, status, body)
                if round_index == 0 and len(json.loads(body)) != big_count:
                    raise BenchError(f"{function.label}: the batch answer does not have {big_count} entries")
                record["latency_ms"].append(seconds * 1e3)
                record["standin_ms"] += standin_times_ms(standins[function.key], offset, 1)
                record["answer_bytes"] = len(body)
            progress(f"5 MB batch: {round_index + 1}/{args.large_reps}")
        for function in pair:
            record = batch[function.key]
            record["hwm_after"] = vm_hwm_bytes(live[function.key]["pid"])
            record["added"] = record["hwm_after"] - record["hwm_before"]

        # The warm RIEs are no longer needed; stop them before callgrind.
        for entry in live.values():
            entry["invoker"].close()
            entry["fn"].stop()

        progress(f"callgrind: {args.callgrind_invocations} warm invocations")
        results["callgrind"] = callgrind(event, standins["swift"], args.callgrind_invocations, scratch)

        results["sizes"] = package_sizes(scratch)
        results["arm64_emulated"] = emulated_arm64(event, args.arm64_starts, args.arm64_invocations,
                                                   native["stamp_exec"], scratch)

        # ---- many at once (AWS_LAMBDA_MAX_CONCURRENCY), Swift and Python side by side.
        results["concurrency"] = concurrency(pair, args.concurrency_levels, args.concurrency_rounds)
    results["machine"]["load_after"] = os.getloadavg()
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke (make bench-smoke): 2 cold starts, 50 warm invocations, 10 under "
                             "callgrind, one batch, N = 1 and 4 at once; results under .build-bench/quick/, "
                             "never bench/")
    parser.add_argument("--from-last-run", action="store_true",
                        help="measure nothing: print and write the report again from "
                             ".build-bench/last-run.json (after editing bench/IMPROVEMENTS.md)")
    args = parser.parse_args(argv)
    vars(args).update(QUICK if args.quick else FULL)
    return args


class Interrupted(BaseException):
    """SIGTERM or the time limit: unwinds like Ctrl-C, through every cleanup."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A --quick run's counts are too small to publish: its report never goes into bench/.
    out_dir = BUILD / "quick" if args.quick else BENCH

    def interrupt(signum, frame):
        raise Interrupted("time limit reached" if signum == signal.SIGALRM else f"signal {signum}")

    if args.from_last_run:
        try:
            results = json.loads((BUILD / "last-run.json").read_text())
        except (OSError, ValueError) as error:
            print(f"bench: error: no usable .build-bench/last-run.json ({error}): run make bench", file=sys.stderr)
            return 1
        if results["args"]["quick"] and not args.quick:
            print("bench: error: the last run was a --quick one: its counts are too small to publish", file=sys.stderr)
            return 1
    else:
        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGALRM, interrupt)
        signal.alarm(TIME_LIMIT_S)
        started = time.monotonic()
        try:
            results = run(args)
        except BenchError as error:
            print(f"bench: error: {error}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, Interrupted) as error:
            print(f"bench: interrupted ({str(error) or 'Ctrl-C'}); every process stopped", file=sys.stderr)
            return 130
        finally:
            signal.alarm(0)
        results["elapsed_s"] = time.monotonic() - started
        BUILD.mkdir(exist_ok=True)
        (BUILD / "last-run.json").write_text(json.dumps(results, indent=2, default=str))
    print(report.summary_text(results))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in report.files(results).items():
        (out_dir / name).write_text(content)
    print(f"\nbench: wrote {os.path.relpath(out_dir / 'RESULTS.md')} and its charts in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
