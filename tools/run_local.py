#!/usr/bin/env python3
"""Run the Lambda function locally: the command behind `make run`/`make invoke`.

Starts the SageMaker stand-in and AWS's Runtime Interface Emulator with the
bootstrap, invokes each event file in order, prints the answers, and stops
everything again (also on Ctrl-C, SIGTERM or an error).  Exits non-zero if an
invocation failed at the HTTP level.  Note that the RIE answers function
errors and timeouts with HTTP 200 (docs/emulator.md); those are labelled
in the output but do not change the exit status.

    python3 tools/run_local.py [--bootstrap PATH] [--event FILE ...] [--raw]
    python3 tools/run_local.py --concurrency N [--bootstrap PATH] [--event FILE]

With --concurrency N (N >= 2) the function runs as on Lambda Managed Instances instead: under
tools/runtime_api.py (the RIE serves one invocation at a time) with AWS_LAMBDA_MAX_CONCURRENCY=N,
and N distinct articles made from the event are sent at once; each summary is printed with its
request id and time, then the wall time of the whole burst.
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
    parser.add_argument(
        "--concurrency", type=int, default=1, metavar="N",
        help="N >= 2: AWS_LAMBDA_MAX_CONCURRENCY=N and N articles at once (default: 1, the RIE)",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.concurrency > 1 and args.event and len(args.event) > 1:
        parser.error("--concurrency takes one --event (its articles are varied N ways)")
    return args


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


ARTICLE_FILE = harness.REPO_ROOT / "events" / "article.txt"


def distinct_events(event_file: Path, count: int) -> list[bytes]:
    """COUNT direct events, each a different article: the event's own text (a direct event with
    one "inputs" string; otherwise events/article.txt), its first sentence numbered, so every
    summary shows which request it answers."""
    try:
        document = json.loads(event_file.read_bytes())
    except ValueError:
        document = None
    text = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(text, str):
        document, text = {}, ARTICLE_FILE.read_text().strip()
    return [
        json.dumps({**document, "inputs": f"Sample {number} of {count} leads the news. {text}"}).encode()
        for number in range(1, count + 1)
    ]


def run_concurrent(args: argparse.Namespace) -> int:
    """N distinct articles at once through the concurrent Runtime API stand-in."""
    event_file = (args.event or [DEFAULT_EVENT])[0]
    if not event_file.is_file():
        print(f"run_local: error: no event file {event_file}", file=sys.stderr)
        return 2
    events = distinct_events(event_file, args.concurrency)
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin, harness.ConcurrentLambda(
        args.bootstrap, harness.function_env(standin.url), timeout=args.timeout,
        max_concurrency=args.concurrency,
    ) as function:
        answers, seconds, wall = harness.burst(function, events)
        answers = [(0, {}, str(answer).encode()) if isinstance(answer, Exception) else answer
                   for answer in answers]
        for number, ((status, headers, body), took) in enumerate(zip(answers, seconds), 1):
            print(f"== article {number} of {len(events)}: request {headers.get('x-amzn-requestid', '?')}, "
                  f"HTTP {status}, {took * 1000:.0f} ms")
            try:
                found = summaries(json.loads(body))
            except ValueError:
                found = []
            # Just the summaries (N full answers would bury them); anything else as received.
            for index, summary in enumerate(found, 1):
                print(f"Summary {index}: {summary}")
            if not found or args.raw:
                print(body.decode("utf-8", "replace"))
        if args.logs or any(answer[0] != 200 for answer in answers):
            print(f"-- function log\n{function.output().rstrip()}")
        stats = function.stats()
    print(f"== {len(events)} invocations in {wall * 1000:.0f} ms wall time; at most "
          f"{stats['peak_in_flight']} in flight at once (AWS_LAMBDA_MAX_CONCURRENCY={args.concurrency})")
    return 0 if all(answer[0] == 200 for answer in answers) else 1


def run(args: argparse.Namespace) -> int:
    if args.concurrency > 1:
        return run_concurrent(args)
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
