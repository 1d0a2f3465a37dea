#!/usr/bin/env python3
"""Run the Lambda function locally: the command behind `make run`/`make invoke`.

Starts the SageMaker stand-in and AWS's Runtime Interface Emulator with the bootstrap, invokes
each event file in order, prints the answers and stops everything again (also on Ctrl-C, SIGTERM
or an error).  Exits 1 if an invocation failed at the HTTP level; the RIE answers function errors
and timeouts with HTTP 200 (docs/emulator.md), so those are only labelled.  With --concurrency N
(N >= 2) the function runs as on Lambda Managed Instances instead, under tools/runtime_api.py with
AWS_LAMBDA_MAX_CONCURRENCY=N, and N distinct articles made from the event are sent at once.
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
ARTICLE_FILE = harness.REPO_ROOT / "events" / "article.txt"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", type=Path, default=harness.DEFAULT_BOOTSTRAP,
                        help="the function binary (default: %(default)s)")
    parser.add_argument("--event", type=Path, action="append", metavar="FILE",
                        help=f"event file to invoke with; repeatable (default: {DEFAULT_EVENT})")
    parser.add_argument("--logs", action="store_true",
                        help="also print the function's log for every invocation (always on failure)")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="N >= 2: AWS_LAMBDA_MAX_CONCURRENCY=N and N articles at once (default: 1, the RIE)")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.concurrency > 1 and args.event and len(args.event) > 1:
        parser.error("--concurrency takes one --event (its articles are varied N ways)")
    args.event = args.event or [DEFAULT_EVENT]
    for event in args.event:
        if not event.is_file():
            parser.error(f"no event file {event}")
    return args


def summaries(answer: Any) -> list[str]:
    """The summaries in a model-style answer, [{"generated_text": ...}, ...] (nested per input
    when each has several; "summary_text" from summarization containers), possibly wrapped as
    API Gateway proxy output."""
    if isinstance(answer, dict) and isinstance(answer.get("body"), str) and "statusCode" in answer:
        try:
            answer = json.loads(answer["body"])
        except ValueError:
            return []
    if isinstance(answer, dict):
        return [answer[k] for k in ("generated_text", "summary_text") if isinstance(answer.get(k), str)]
    return [summary for item in answer for summary in summaries(item)] if isinstance(answer, list) else []


def show(body: bytes, whole: bool) -> None:
    """The summaries, and the answer itself when WHOLE or when it has none."""
    try:
        answer = json.loads(body)
    except ValueError:  # e.g. "Task timed out after 30.00 seconds"
        answer = None
    found = summaries(answer)
    if whole or not found:
        print(json.dumps(answer, indent=2, ensure_ascii=False) if answer is not None
              else body.decode("utf-8", "replace"))
    if isinstance(answer, dict) and "errorType" in answer:
        # The RIE gives function errors HTTP 200; only the body tells.
        print(f"(function error: {answer.get('errorType')})")
    for number, summary in enumerate(found, 1):
        print(f"Summary {number}: {summary}")


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
    return [json.dumps({**document, "inputs": f"Sample {number} of {count} leads the news. {text}"}).encode()
            for number in range(1, count + 1)]


def run_concurrent(args: argparse.Namespace, standin: harness.StandIn) -> bool:
    events = distinct_events(args.event[0], args.concurrency)
    with harness.ConcurrentLambda(args.bootstrap, harness.function_env(standin.url),
                                  max_concurrency=args.concurrency) as function:
        answers, seconds, wall = harness.burst(function, events)
        answers = [(0, {}, str(answer).encode()) if isinstance(answer, Exception) else answer for answer in answers]
        for number, ((status, headers, body), took) in enumerate(zip(answers, seconds), 1):
            print(f"== article {number} of {len(events)}: request {headers.get('x-amzn-requestid', '?')}, "
                  f"HTTP {status}, {took * 1000:.0f} ms")
            show(body, whole=False)  # N whole answers would bury the summaries
        ok = all(answer[0] == 200 for answer in answers)
        if args.logs or not ok:
            print(f"-- function log\n{function.output().rstrip()}")
        stats = function.stats()
    print(f"== {len(events)} invocations in {wall * 1000:.0f} ms wall time; at most "
          f"{stats['peak_in_flight']} in flight at once (AWS_LAMBDA_MAX_CONCURRENCY={args.concurrency})")
    return ok


def run(args: argparse.Namespace) -> int:
    # The stand-in requires the session token, so a function that drops
    # AWS_SESSION_TOKEN fails here as it would with real temporary credentials.
    with harness.StandIn("--session-token", harness.SESSION_TOKEN) as standin:
        if args.concurrency > 1:
            return 0 if run_concurrent(args, standin) else 1
        ok = True
        with harness.Lambda(args.bootstrap, harness.function_env(standin.url)) as function:
            for event in args.event:
                log_start = len(function.output())
                status, _, body = function.invoke(event.read_bytes())
                print(f"== {event}\nHTTP {status}")
                show(body, whole=True)
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
