#!/usr/bin/env python3
"""Run the Lambda function locally: the command behind `make run`/`make invoke`.

Starts the SageMaker stand-in and AWS's Runtime Interface Emulator with the
bootstrap, invokes each event file in order, prints the answers, and stops
everything again (also on Ctrl-C, SIGTERM or an error).  Exits non-zero if an
invocation failed at the HTTP level.  Note that the RIE answers function
errors and timeouts with HTTP 200 (docs/emulator.md); those are labelled
in the output but do not change the exit status.

    python3 tools/run_local.py [--bootstrap PATH] [--event FILE ...] [--raw]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
from pathlib import Path
from typing import Any

import harness

DEFAULT_EVENT = harness.REPO_ROOT / "events" / "console-test.json"
SUMMARY_KEYS = ("generated_text", "summary_text")  # text2text vs summarization


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap", type=Path, default=harness.DEFAULT_BOOTSTRAP,
        help="the function binary (default: %(default)s)",
    )
    parser.add_argument(
        "--event", type=Path, action="append", metavar="FILE",
        help=f"event file to invoke with; repeatable (default: {DEFAULT_EVENT})",
    )
    parser.add_argument(
        "--raw", action="store_true", help="print answers as received, not re-indented"
    )
    parser.add_argument(
        "--logs", action="store_true",
        help="also print the function's log for every invocation (always on failure)",
    )
    parser.add_argument(
        "--timeout", type=int, default=30, help="function timeout in seconds (default: 30)"
    )
    return parser.parse_args(argv)


def summaries(answer: Any) -> list[str]:
    """The summaries in a model-style answer, [{"generated_text": ...}, ...]
    (nested per input when each has several), possibly wrapped as API Gateway proxy output."""
    if isinstance(answer, dict) and isinstance(answer.get("body"), str) and "statusCode" in answer:
        try:
            answer = json.loads(answer["body"])
        except ValueError:
            return []
    if not isinstance(answer, list):
        return []
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for element in item:
                walk(element)
        elif isinstance(item, dict):
            found.extend(item[k] for k in SUMMARY_KEYS if isinstance(item.get(k), str))

    walk(answer)
    return found


def show(name: str, status: int, body: bytes, raw: bool) -> None:
    print(f"== {name}")
    print(f"HTTP {status}")
    text = body.decode("utf-8", "replace")
    try:
        answer = json.loads(body)
    except ValueError:  # e.g. "Task timed out after 30.00 seconds"
        print(text)
        return
    print(text if raw else json.dumps(answer, indent=2, ensure_ascii=False))
    if isinstance(answer, dict) and "errorType" in answer:
        # The RIE gives function errors HTTP 200; only the body tells.
        print(f"(function error: {answer.get('errorType')})")
    for number, summary in enumerate(summaries(answer), 1):
        print(f"Summary {number}: {summary}")


def run(args: argparse.Namespace) -> int:
    events = args.event or [DEFAULT_EVENT]
    for event in events:
        if not event.is_file():
            print(f"run_local: error: no event file {event}", file=sys.stderr)
            return 2
    ok = True
    # The stand-in requires the session token, so a function that drops
    # AWS_SESSION_TOKEN fails here as it would with real temporary credentials.
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin, harness.Lambda(
        args.bootstrap, harness.function_env(standin.url), timeout=args.timeout
    ) as function:
        for event in events:
            log_start = len(function.output())
            status, _, body = function.invoke(event.read_bytes())
            show(str(event), status, body, args.raw)
            if args.logs or status != 200:
                print(f"-- function log\n{function.output()[log_start:].rstrip()}")
            ok = ok and status == 200
            sys.stdout.flush()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.exit_on_termination()
    try:
        return run(args)
    except KeyboardInterrupt:
        print("run_local: interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, http.client.HTTPException) as exc:
        print(f"run_local: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
