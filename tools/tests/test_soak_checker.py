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
