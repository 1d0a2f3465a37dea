"""tools/soak.py's answer checker and schedule, without starting anything."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import soak

ANSWER = [{"generated_text": "Copper rose."}]


def http_answer(status, body, headers=None, multi=False):
    response = {"statusCode": status, "body": body if isinstance(body, str) else json.dumps(body)}
    headers = headers or {"Content-Type": "application/json"}
    if multi:
        response["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        response["headers"] = headers
    return 200, json.dumps(response).encode()


def error_doc(error_type, message="m"):
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []}).encode()


class TestDirect:
    def test_success_must_be_the_exact_model_answer(self):
        expect = soak.Expect("direct", answer=ANSWER)
        assert soak.check(expect, 200, json.dumps(ANSWER).encode()) is None
        assert "different" in soak.check(expect, 200, b'[{"generated_text": "Other."}]')
        assert "errorType" in soak.check(expect, 200, error_doc("Timeout"))

    def test_error_type_and_fragment(self):
        expect = soak.Expect("direct", error_type="InvalidPayload", fragment='"inputs" is empty')
        assert soak.check(expect, 200, error_doc("InvalidPayload", '"inputs" is empty: send ...')) is None
        assert "lacks" in soak.check(expect, 200, error_doc("InvalidPayload", "other"))
        assert "expected 'InvalidPayload'" in soak.check(expect, 200, error_doc("ModelError"))
        assert "success instead" in soak.check(expect, 200, json.dumps(ANSWER).encode())

    def test_rie_failures_never_pass(self):
        expect = soak.Expect("direct", error_type="Timeout")
        assert soak.check(expect, 502, error_doc("Runtime.ExitError")) == "RIE status 502"
        assert soak.check(expect, 200, b"Task timed out after 10.00 seconds") == "answer is not JSON"


class TestHTTP:
    def test_success_in_single_and_multi_value_headers(self):
        expect = soak.Expect("http", answer=ANSWER)
        assert soak.check(expect, *http_answer(200, ANSWER)) is None
        assert soak.check(expect, *http_answer(200, ANSWER, multi=True)) is None
        assert "Content-Type" in soak.check(expect, *http_answer(200, ANSWER, {"Content-Type": "text/plain"}))
        assert "statusCode 502" in soak.check(expect, *http_answer(502, {"error": {"type": "ModelError"}}))

    def test_error_status_type_headers_and_model_status(self):
        expect = soak.Expect("http", status=502, error_type="ModelError", model_status=400,
                             headers=(("Content-Type", "application/json"),))
        good = {"error": {"type": "ModelError", "message": "x", "modelStatusCode": 400}, "requestId": "r"}
        assert soak.check(expect, *http_answer(502, good)) is None
        wrong_model = dict(good, error=dict(good["error"], modelStatusCode=500))
        assert "modelStatusCode" in soak.check(expect, *http_answer(502, wrong_model))
        assert "statusCode 504" in soak.check(expect, *http_answer(504, good))

    def test_retry_after_is_checked(self):
        expect = soak.Expect("http", status=429, error_type="Throttled", headers=(("Retry-After", "1"),))
        body = {"error": {"type": "Throttled", "message": "x"}, "requestId": "r"}
        assert soak.check(expect, *http_answer(429, body, {"Content-Type": "application/json", "Retry-After": "1"})) is None
        assert "Retry-After" in soak.check(expect, *http_answer(429, body))

    def test_a_direct_error_document_is_not_an_http_answer(self):
        expect = soak.Expect("http", status=400, error_type="InvalidJSON")
        assert "not an HTTP response" in soak.check(expect, 200, error_doc("InvalidPayload"))

    def test_preflight(self):
        expect = soak.Expect("http", status=204, headers=soak.ALLOW)
        assert soak.check(expect, *http_answer(204, "", {"Allow": "OPTIONS, POST"})) is None
        assert "Allow" in soak.check(expect, *http_answer(204, "", {}))


def test_every_round_holds_every_case_and_samples_follow_a_plain_success():
    cases = soak.build_cases(slow_ms=1000)
    points = {1, 1000, 1500, 3000}
    schedule = soak.build_schedule(cases, 3000, points, seed=1)
    assert len(schedule) == 3000
    plain = next(i for i, c in enumerate(cases) if c.name == "direct-ok")
    for start in range(0, 3000, soak.ROUND):
        counts = Counter(schedule[start:start + soak.ROUND])
        for index, case in enumerate(cases):
            assert counts[index] == (case.per_round or counts[plain]), case.name
    assert all(schedule[p - 1] == plain for p in points)


def test_expected_answers_come_from_the_stand_ins_model():
    variants = soak.direct_ok()
    body, expect = variants[1]
    payload = json.loads(body)
    assert len(expect.answer) == payload["parameters"]["num_return_sequences"]
    assert expect.answer[0]["generated_text"].endswith(".")


@pytest.mark.parametrize("name", [c.name for c in soak.build_cases(1000)])
def test_every_case_has_variants_that_encode(name):
    case = next(c for c in soak.build_cases(1000) if c.name == name)
    assert case.variants
    for body, expect in case.variants:
        assert isinstance(body, bytes)
        assert expect.kind in ("direct", "http")
