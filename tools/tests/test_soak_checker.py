"""tools/soak.py's answer checker and schedule, without starting anything."""

import json
from collections import Counter

import pytest

import soak

ANSWER = [{"summary_text": "Copper rose."}]
JSON = {"Content-Type": "application/json"}
MODEL_ERROR = {"error": "x", "error_type": "ModelError", "modelStatusCode": 400, "requestId": "r"}
THROTTLED = {"error": "x", "error_type": "Throttled", "requestId": "r"}


def http_answer(status, body, headers=JSON, multi=False):
    response = {"statusCode": status, "body": body if isinstance(body, str) else json.dumps(body)}
    if multi:
        response["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        response["headers"] = headers
    return 200, json.dumps(response).encode()


def error_doc(error_type, message="m"):
    return 200, json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []}).encode()


DIRECT_OK = soak.Expect("direct", answer=ANSWER)
DIRECT_EMPTY = soak.Expect("direct", error_type="InvalidPayload", fragment='"inputs" is empty')
HTTP_OK = soak.Expect("http", answer=ANSWER)
HTTP_MODEL_ERROR = soak.Expect("http", status=502, error_type="ModelError", model_status=400,
                               headers=(("Content-Type", "application/json"),))
HTTP_THROTTLED = soak.Expect("http", status=429, error_type="Throttled", headers=(("Retry-After", "1"),))
PREFLIGHT = soak.Expect("http", status=204, headers=soak.ALLOW)


@pytest.mark.parametrize("expect, answer, problem", [
    # Direct: the exact model answer, or the right errorType with the fragment in its message.
    (DIRECT_OK, (200, json.dumps(ANSWER).encode()), None),
    (DIRECT_OK, (200, b'[{"summary_text": "Other."}]'), "different"),
    (DIRECT_OK, error_doc("Timeout"), "instead of a success"),
    (DIRECT_EMPTY, error_doc("InvalidPayload", '"inputs" is empty: send ...'), None),
    (DIRECT_EMPTY, error_doc("InvalidPayload", "other"), "lacks"),
    (DIRECT_EMPTY, error_doc("ModelError"), "expected 'InvalidPayload'"),
    (DIRECT_EMPTY, (200, json.dumps(ANSWER).encode()), "success instead"),
    # What the RIE itself answers never passes.
    (soak.Expect("direct", error_type="Timeout"), (502, error_doc("Runtime.ExitError")[1]), "RIE status 502"),
    (soak.Expect("direct", error_type="Timeout"), (200, b"Task timed out after 10.00 seconds"), "answer is not JSON"),
    # HTTP: statusCode, Content-Type, headers single- or multi-valued, the body's answer or error.
    (HTTP_OK, http_answer(200, ANSWER), None),
    (HTTP_OK, http_answer(200, ANSWER, multi=True), None),
    (HTTP_OK, http_answer(200, [{"summary_text": "Other."}]), "different"),
    (HTTP_OK, http_answer(200, ANSWER, {"Content-Type": "text/plain"}), "Content-Type"),
    (HTTP_OK, http_answer(502, MODEL_ERROR), "statusCode 502"),
    (HTTP_MODEL_ERROR, http_answer(502, MODEL_ERROR), None),
    (HTTP_MODEL_ERROR, http_answer(502, dict(MODEL_ERROR, modelStatusCode=500)),
     "modelStatusCode"),
    (HTTP_MODEL_ERROR, http_answer(504, MODEL_ERROR), "statusCode 504"),
    (HTTP_THROTTLED, http_answer(429, THROTTLED, dict(JSON, **{"Retry-After": "1"})), None),
    (HTTP_THROTTLED, http_answer(429, THROTTLED), "Retry-After"),
    (soak.Expect("http", status=400, error_type="InvalidJSON"), error_doc("InvalidPayload"), "not an HTTP response"),
    (PREFLIGHT, http_answer(204, "", {"Allow": "OPTIONS, POST"}), None),
    (PREFLIGHT, http_answer(204, "", {}), "Allow"),
])
def test_check(expect, answer, problem):
    found = soak.check(expect, *answer)
    assert found is None if problem is None else problem in (found or ""), found


def test_concurrent_cases_need_no_fault_plan_and_mark_their_own_faults():
    cases = soak.build_concurrent_cases()
    assert all(case.plan is None for case in cases)
    marked = [case for case in cases if any(b"[[fault:" in body for body, _ in case.variants)]
    assert {case.name for case in marked} >= {"throttled", "model-error", "signature-mismatch", "oversized", "timeout"}
    for case in marked:  # every variant of a marked case asks for its fault
        assert all(b"[[fault:" in body for body, _ in case.variants), case.name


def concurrent_run(samples, warm_at=2, **args):
    run = soak.Run(soak.argparse.Namespace(concurrency=4, invocations=len(samples) * 10, warmup=warm_at * 10,
                                           bootstrap="b", **args), [soak.Case("direct-ok", 0, [], count=len(samples) * 10)])
    run.samples = [{"invocations": (i + 1) * 10, "pid": 7, "VmRSS": rss, "Threads": threads, "fds": fds}
                   for i, (rss, threads, fds) in enumerate(samples)]
    run.warm = run.samples[warm_at - 1]
    run.started, run.finished = 0.0, 1.0
    return run


def evaluate(samples, stats=None, faulted=40):
    stats = stats or {"next_waiting": 4, "next_faults": len(samples) * len(soak.NEXT_FAULTS)}
    counts = {key: 0 for key in soak.LOG_MARKERS}
    figures = soak.evaluate_concurrent(concurrent_run(samples), stats, True, counts,
                                       len(samples) * 2 if faulted == 40 else faulted)
    return figures["criteria"]


def test_concurrent_criteria_take_the_highest_sample_of_each_half():
    steady = [(20_000, 6, 19)] * 2 + [(21_000, 6, 19), (20_100, 6, 17), (20_900, 6, 19), (21_500, 6, 18)]
    assert all(evaluate(steady).values())
    growing = steady[:2] + [(21_000, 6, 19), (21_000, 6, 19), (24_000, 6, 19), (21_000, 6, 19)]
    assert not evaluate(growing)["rss_flat"]
    assert not evaluate(steady[:4] + [(21_000, 7, 19), (21_000, 6, 19)])["threads_flat"]
    assert evaluate(steady[:4] + [(21_000, 6, 21), (21_000, 6, 19)])["fds_flat"]  # below 4 × 4 + 5
    assert not evaluate(steady[:4] + [(21_000, 6, 22), (21_000, 6, 19)])["fds_flat"]
    assert not evaluate(steady, stats={"next_waiting": 3, "next_faults": 36})["pollers_at_end"]
    assert not evaluate(steady, faulted=3)["runtime_api_faults_served"]


def test_every_round_holds_every_case_and_samples_follow_a_plain_success():
    cases = soak.build_cases()
    points = {1, 1000, 1500, 3000}
    schedule = soak.build_schedule(cases, 3000, points, seed=1)
    assert len(schedule) == 3000
    plain = next(i for i, c in enumerate(cases) if c.name == "direct-ok")
    for start in range(0, 3000, soak.ROUND):
        counts = Counter(schedule[start:start + soak.ROUND])
        for index, case in enumerate(cases):
            assert counts[index] == (case.per_round or counts[plain]), case.name
    assert all(schedule[p - 1] == plain for p in points)


def test_cases_expect_the_stand_ins_model_and_all_succeed_or_all_fail():
    cases = soak.build_cases()
    # evaluate() counts a case's expected successes from its first variant.
    assert all(len({expect.answer is None for _, expect in case.variants}) == 1 for case in cases)
    body, expect = cases[0].variants[1]
    assert len(expect.answer) == json.loads(body)["parameters"]["num_return_sequences"]
    assert expect.answer[0]["summary_text"].endswith(".")
