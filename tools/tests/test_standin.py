"""Tests for tools/sagemaker_standin.py.

The stand-in runs as a real subprocess and is called with a real boto3
``sagemaker-runtime`` client, so these tests check what matters: an AWS SDK
talking to the stand-in sees exactly what it would see from SageMaker.
A few edge cases that boto3 cannot produce (expired or malformed signatures,
headers botocore never signs) use raw HTTP and a small SigV4 signer written
here from the specification, independent of both botocore and the server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import hmac
import http.client
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import botocore.config
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError, ReadTimeoutError

import harness
from harness import ACCESS_KEY, SECRET_KEY

ENDPOINT = "financial-summarizer"
INVOKE_PATH = f"/endpoints/{ENDPOINT}/invocations"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
TEST_TIMEOUT_S = 30

ARTICLE = (
    "Revenue rose 12% in the third quarter.  Margins held steady!\n"
    "Will the trend continue? Analysts expect growth in 2025"
)


# --------------------------------------------------------------------------
# Fixtures and helpers.
# --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def bounded_time():
    """Fail (rather than hang) any test that runs longer than TEST_TIMEOUT_S."""
    with harness.time_limit(TEST_TIMEOUT_S):
        yield


class Standin(harness.StandIn):
    """The stand-in as the e2e tests run it, plus a boto3 client aimed at it."""

    def client(self, read_timeout=10, signature_version=None, **options):
        config = botocore.config.Config(
            # "max_attempts" counts retries, not attempts: {"max_attempts": 1}
            # would retry throttles and 5xx once. This really turns retries off.
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=read_timeout,
            signature_version=signature_version,
        )
        options = {"region_name": "us-east-1", "aws_access_key_id": ACCESS_KEY,
                   "aws_secret_access_key": SECRET_KEY, **options}
        return boto3.session.Session().client(
            "sagemaker-runtime", endpoint_url=self.url, config=config, **options
        )


@pytest.fixture
def start_standin():
    """Factory for servers with non-default options; all stopped at the end."""
    with contextlib.ExitStack() as started:
        yield lambda *args: started.enter_context(Standin(*args))


@pytest.fixture(scope="module")
def shared_standin():
    with Standin() as standin:
        yield standin


@pytest.fixture
def standin(shared_standin):
    """The default-configured server, with faults and counters cleared."""
    shared_standin.reset()
    return shared_standin


def invoke(client, document=None, *, body=None, content_type="application/json", **kw):
    response = client.invoke_endpoint(
        EndpointName=kw.pop("EndpointName", ENDPOINT),
        ContentType=content_type,
        Body=body if body is not None else json.dumps(document),
        **kw,
    )
    response["Decoded"] = json.loads(response["Body"].read())
    return response


# How AWS starts an InvalidSignatureException for a wrong signature, up to the quoted
# canonical request.
MISMATCH_PREFIX = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult "
    "the service documentation for details.\n\nThe Canonical String for this "
    "request should have been\n'"
)


def refused(client, document=None, *, exception=ClientError, **kw) -> dict:
    """The error response of the EXCEPTION that invoking CLIENT (with {"inputs": "x"}) must raise."""
    with pytest.raises(exception) as excinfo:
        invoke(client, {"inputs": "x"} if document is None else document, **kw)
    return excinfo.value.response


def error_of(error: dict) -> tuple[int, str, str]:
    """(HTTP status, code, message) of an error response."""
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def sigv4_headers(
    port: int,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    signed: list[str] | None = None,
    skew: timedelta = timedelta(),
    service: str = "sagemaker",
    secret: str = SECRET_KEY,
) -> dict[str, str]:
    """Sign a POST to INVOKE_PATH, SKEW off the clock, straight from the SigV4 specification."""
    amz_date = (datetime.now(timezone.utc) + skew).strftime("%Y%m%dT%H%M%SZ")
    all_headers = {
        "Host": f"127.0.0.1:{port}",
        "X-Amz-Date": amz_date,
        "Content-Type": "application/json",
        **(headers or {}),
    }
    names = sorted(n.lower() for n in (signed or all_headers))
    lookup = {k.lower(): v for k, v in all_headers.items()}
    canonical_headers = "".join(f"{n}:{' '.join(lookup[n].split())}\n" for n in names)
    signed_headers = ";".join(names)
    canonical = f"POST\n{INVOKE_PATH}\n\n{canonical_headers}\n{signed_headers}\n{hashlib.sha256(body).hexdigest()}"
    scope = f"{amz_date[:8]}/us-east-1/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = sign(to_sign, secret=secret, service=service)
    all_headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
    return all_headers


def sign(string_to_sign: str, *, secret: str = SECRET_KEY, service: str = "sagemaker") -> str:
    """The SigV4 signature of STRING_TO_SIGN (its second line is the date)."""
    amz_date = string_to_sign.split("\n")[1]
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], "us-east-1", service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def send(port: int, body: bytes, headers: dict[str, str], *, extra=(), chunks=None):
    """POST to INVOKE_PATH with exactly these headers, then the EXTRA (name, value) lines,
    then Content-Length (or chunked, the body sent as CHUNKS); the connection and its
    response, unread."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", INVOKE_PATH, skip_host=True, skip_accept_encoding=True)
    for name, value in [*headers.items(), *extra]:
        connection.putheader(name, value)
    if chunks is None:
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
    else:
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders(iter(chunks), encode_chunked=True)
    return connection, connection.getresponse()


def raw_post(port: int, body: bytes, headers: dict[str, str], **options):
    """send(), then (status, headers, decoded JSON body)."""
    connection, response = send(port, body, headers, **options)
    with contextlib.closing(connection):
        return response.status, response.headers, json.loads(response.read())


def error_code(headers) -> str:
    return headers["x-amzn-ErrorType"].split(":", 1)[0]


def assert_message(message: str, wanted: str) -> None:
    """WANTED is the message, each "..." in it standing for any text."""
    pattern = ".*".join(map(re.escape, wanted.split("...")))
    assert re.fullmatch(pattern, message, re.DOTALL), f"{message!r} is not {wanted!r}"


# --------------------------------------------------------------------------
# Successful invocations.
# --------------------------------------------------------------------------


def summaries(texts):
    """The model's answer for TEXTS: a text is {"summary_text": text}, a list a list."""
    return [summaries(text) for text in texts] if isinstance(texts, list) else {"summary_text": texts}


def sequences(inputs, count: int) -> dict:
    return {"inputs": inputs, "parameters": {"num_return_sequences": count}}


@pytest.mark.parametrize(
    "document, content_type, texts",
    [
        (sequences(ARTICLE, 3), "application/json", [  # summary i is the first i+1 sentences
            "Revenue rose 12% in the third quarter.",
            "Revenue rose 12% in the third quarter. Margins held steady!",
            "Revenue rose 12% in the third quarter. Margins held steady! Will the trend continue?",
        ]),
        ({"inputs": "  Just   one\nsentence  "}, "application/json", ["Just one sentence"]),  # one by default
        (sequences("A. B.", 3), "application/json", ["A.", "A. B.", "A. B."]),  # short text repeats
        (sequences("A. B.", 20), "application/json", ["A.", *["A. B."] * 7]),  # at most 8
        *((sequences("A. B.", count), "application/json", ["A."]) for count in (0, -3)),  # at least 1
        (sequences(["First. Second.", "Only"], 2), "application/json",
         [["First.", "First. Second."], ["Only", "Only"]]),  # one list per article
        # As the transformers pipeline answers a batch: one dict per article, not [[...], [...]].
        ({"inputs": ["First. Second.", "Only"]}, "application/json", ["First.", "Only"]),
        ({"inputs": "Hi."}, "application/json; charset=utf-8", ["Hi."]),  # content type parameters
        ({"inputs": "Nothing here. [[fault:bogus]]"}, "application/json", ["Nothing here."]),  # no such fault
    ],
)
def test_answers(standin, document, content_type, texts):
    response = invoke(standin.client(), document, content_type=content_type, CustomAttributes="trace=abc")
    assert response["Decoded"] == summaries(texts)
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "trace=abc"
    assert response["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize("task, key", [("summarization", "summary_text"), ("", "summary_text"),
                                       ("text2text-generation", "generated_text")])
def test_hf_task_picks_the_answer_key_as_the_container_does(start_standin, monkeypatch, task, key):
    monkeypatch.setenv("HF_TASK", task)  # the stand-in inherits it
    standin = start_standin()
    client = standin.client()
    assert invoke(client, sequences(["A. B.", "C."], 2))["Decoded"] == [[{key: "A."}, {key: "A. B."}],
                                                                        [{key: "C."}, {key: "C."}]]
    body = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json",
                                  Body=json.dumps({"inputs": "[[fault:oversized:1000]]"}))["Body"].read()
    assert list(json.loads(body)[0]) == [key]


def test_a_task_it_does_not_model_stops_it_at_start(start_standin, monkeypatch):
    monkeypatch.setenv("HF_TASK", "translation")
    with pytest.raises(RuntimeError, match="exited with status 2") as problem:
        start_standin()
    assert "HF_TASK='translation': the stand-in models summarization and text2text-generation" in str(problem.value)


def test_service_time_delays_every_successful_answer_not_errors(start_standin):
    standin = start_standin("--service-ms", "400")
    client = standin.client()
    invoke(client, {"inputs": "warm up"})
    for _ in range(2):
        started = time.monotonic()
        invoke(client, {"inputs": "x"})
        assert 0.4 <= time.monotonic() - started < 1.5
    started = time.monotonic()
    refused(client, {"inputs": "x [[fault:model_error]]"}, exception=client.exceptions.ModelError)
    assert time.monotonic() - started < 0.3
    standin.service_time(0)
    started = time.monotonic()
    invoke(client, {"inputs": "x"})
    assert time.monotonic() - started < 0.3
    standin.reset()
    assert standin.stats()["service_ms"] == 400  # the command line's value


# --------------------------------------------------------------------------
# Validation and model errors.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, wanted",
    [
        ("no-such-endpoint", "Endpoint no-such-endpoint of account 123456789012 not found."),
        ("bad_name", "...failed to satisfy constraint..."),
    ],
)
def test_unknown_or_malformed_endpoint_is_validation_error(standin, name, wanted):
    client = standin.client()
    status, code, message = error_of(refused(client, EndpointName=name, exception=client.exceptions.ValidationError))
    assert (status, code) == (400, "ValidationError")
    assert_message(message, wanted)


def test_oversized_payload_is_413(standin):
    client = standin.client()
    body = json.dumps({"inputs": "a" * (6 * 1024 * 1024)})
    assert error_of(refused(client, body=body)) == (413, "ValidationError", "Request payload is too large")
    # The connection survived (the body was read) and still works.
    assert invoke(client, {"inputs": "ok"})["Decoded"] == [{"summary_text": "ok"}]
    assert standin.stats()["connections"] == 1


@pytest.mark.parametrize(
    "body, content_type, code",
    [
        (b"plain text", "text/plain", 415),
        *((body, "application/json", 400)
          for body in (b'{"parameters": {}}', b"not json", b'["inputs"]', b'{"inputs": 42}')),
    ],
)
def test_what_the_container_refuses_is_a_model_error(standin, body, content_type, code):
    client = standin.client()
    error = refused(client, body=body, content_type=content_type, exception=client.exceptions.ModelError)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == code
    original = json.loads(error["OriginalMessage"])
    assert original["code"] == code and original["type"] == "InternalServerException"
    assert error["Error"]["Message"].startswith(f"Received client error ({code}) from primary")


LENGTH_RULE = "Member must have length less than or equal to 64"
PATTERN_RULE = r"Member must satisfy regular expression pattern: \A\S[\p{Print}]*\z"


@pytest.mark.parametrize(
    "value, rules",
    [
        ("a" * 65, [LENGTH_RULE]),
        ("caf\xe9", [PATTERN_RULE]),  # not ASCII: not \p{Print}
        ("x\x01y", [PATTERN_RULE]),  # a control character
        ("b" * 64 + "\x7f", [LENGTH_RULE, PATTERN_RULE]),
    ],
)
def test_invalid_inference_ids_are_validation_errors(standin, value, rules):
    body = b'{"inputs": "x"}'
    headers = sigv4_headers(standin.port, body, headers={INFERENCE_ID: value})
    status, headers, document = raw_post(standin.port, body, headers)
    count = f"{len(rules)} validation error{'s' if len(rules) > 1 else ''}"
    assert (status, error_code(headers)) == (400, "ValidationError")
    assert document["message"] == f"{count} detected: " + "; ".join(
        f"Value '{value}' at 'inferenceId' failed to satisfy constraint: {rule}"
        for rule in rules
    )
    assert standin.stats()["succeeded"] == 0


# --------------------------------------------------------------------------
# Fault injection.
# --------------------------------------------------------------------------


def faulted(standin, by_marker: bool, mode: str, inputs: str = "Shares fell.", **plan) -> dict:
    """The document of a request that gets MODE once: by a marker in it or by the fault plan.
    Only PLAN's number is put in the marker, as each mode has only one."""
    if by_marker:
        return {"inputs": f"{inputs} [[fault:{':'.join([mode, *map(str, plan.values())])}]]"}
    standin.faults(mode=mode, count=1, **plan)
    return {"inputs": inputs}


def wait_for(predicate, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("by_marker", [False, True])
def test_model_error_fault(standin, by_marker):
    client = standin.client()
    error = refused(client, faulted(standin, by_marker, "model_error", status=503),
                    exception=client.exceptions.ModelError)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 503
    original = '{"code":503,"type":"InternalServerException","message":"CUDA out of memory'
    assert error["OriginalMessage"].startswith(original)
    log_group = f"/aws/sagemaker/Endpoints/{ENDPOINT}"
    assert error["LogStreamArn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:{log_group}"
    assert_message(error["Error"]["Message"], f'Received server error (503) from primary with message "{original}...'
                   f"#logEventViewer:group={log_group} in account 123456789012 for more information.")
    assert invoke(client, {"inputs": "x"})["Decoded"]  # only once: recovered


@pytest.mark.parametrize("by_marker", [False, True])
@pytest.mark.parametrize(
    "mode, status, code, wanted",
    [
        ("throttle", 400, "ThrottlingException", "Rate exceeded"),
        ("model_not_ready", 429, "ModelNotReadyException", "..."),
        ("service_unavailable", 503, "ServiceUnavailable", "..."),
        ("internal_failure", 500, "InternalFailure", "..."),
        ("internal_dependency", 530, "InternalDependencyException", "..."),
        ("validation_error", 400, "ValidationError",
         "Endpoint financial-summarizer of account 123456789012 not found."),
        ("access_denied", 403, "AccessDeniedException",
         "...is not authorized to perform: sagemaker:InvokeEndpoint..."),
        ("expired_token", 403, "ExpiredTokenException", "The security token included in the request is expired"),
        # AWS echoes the Authorization header it got: access key id and signature.
        ("incomplete_signature", 403, "IncompleteSignatureException",
         "Authorization header requires 'Signature' parameter. Authorization={authorization}"),
    ],
)
def test_service_fault_modes(standin, by_marker, mode, status, code, wanted):
    client = standin.client(aws_session_token="old")  # any token is accepted; an expired one is a fault
    document = faulted(standin, by_marker, mode)
    # Modelled errors map to the client's exception classes, as with AWS.
    exception = getattr(client.exceptions, code, ClientError)
    status_got, code_got, message = error_of(refused(client, document, exception=exception))
    assert (status_got, code_got) == (status, code)
    authorization = standin.stats()["last_request"]["headers"]["Authorization"]
    assert_message(message, wanted.format(authorization=authorization))
    # The next request, without the marker or after the plan's one use, is answered normally.
    assert invoke(client, {"inputs": "Shares rose. More text."})["Decoded"] == [{"summary_text": "Shares rose."}]


@pytest.mark.parametrize(
    "mode, exception", [("service_unavailable", "ServiceUnavailable"), ("model_error", "ModelError")]
)
def test_fault_count_and_message_then_normal_answers(standin, mode, exception):
    client = standin.client()
    standin.faults(mode=mode, count=2, message="maintenance")
    for _ in range(2):
        error = refused(client, exception=getattr(client.exceptions, exception))
        assert error.get("OriginalMessage", error["Error"]["Message"]) == "maintenance"
    assert invoke(client, {"inputs": "x"})["Decoded"] == [{"summary_text": "x"}]
    stats = standin.stats()
    assert (stats["invocations"], stats["succeeded"]) == (3, 1)


def test_slow_answers_late_and_hang_not_at_all(standin):
    # That they hold up their own request only, test_concurrency checks through the function.
    client = standin.client(read_timeout=1)
    standin.faults(mode="slow", delay_ms=700, count=1)
    started = time.monotonic()
    assert invoke(client, {"inputs": "Slow one."})["Decoded"] == [{"summary_text": "Slow one."}]
    assert time.monotonic() - started >= 0.7
    standin.faults(mode="hang", delay_ms=3000, count=1)
    with pytest.raises(ReadTimeoutError):
        invoke(client, {"inputs": "x"})


def test_garbage_is_200_with_unparseable_body(standin):
    client = standin.client()
    standin.faults(mode="garbage", count=1)
    response = client.invoke_endpoint(
        EndpointName=ENDPOINT, ContentType="application/json", Body=b'{"inputs":"x"}'
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ValueError):
        json.loads(response["Body"].read())


def test_an_answer_is_counted_before_it_leaves(standin):
    # Tests read stats() as soon as their answer is in: counting after sending raced with them.
    client = standin.client()
    for answered in range(1, 1001):
        invoke(client, {"inputs": "x"})
        assert standin.stats()["succeeded"] == answered


@pytest.mark.parametrize("mode, connections", [("none", 1), ("close_idle", 3)])
def test_one_kept_alive_connection_unless_close_idle(standin, mode, connections):
    client = standin.client()
    standin.faults(mode=mode)
    for _ in range(3):
        response = invoke(client, {"inputs": "x"})
        assert (response["ResponseMetadata"]["HTTPHeaders"].get("connection") == "close") == (mode == "close_idle")
    stats = standin.stats()
    assert (stats["invocations"], stats["succeeded"], stats["connections"]) == (3, 3, connections)
    standin.reset()  # the plan had no count: only reset ends it
    stats = standin.stats()
    assert (stats["invocations"], stats["succeeded"], stats["connections"], stats["last_request"]) == (0, 0, 0, None)
    assert stats["fault"]["mode"] == "none"


def test_marker_wins_over_the_plan_and_leaves_its_count(standin):
    client = standin.client()
    standin.faults(mode="service_unavailable", count=1)
    refused(client, {"inputs": "x [[fault:model_error]]"}, exception=client.exceptions.ModelError)
    assert standin.stats()["fault"]["remaining"] == 1
    refused(client, exception=client.exceptions.ServiceUnavailable)


# --------------------------------------------------------------------------
# Authentication and signatures.
# --------------------------------------------------------------------------


INVALID, INCOMPLETE = "InvalidSignatureException", "IncompleteSignatureException"


@pytest.mark.parametrize(
    "options, code, wanted",
    [
        # AWS goes on with what it computed, which the client can diff.
        ({"aws_secret_access_key": "not-the-secret"}, INVALID, f"{MISMATCH_PREFIX}POST\n{INVOKE_PATH}\n\n..."),
        ({"aws_access_key_id": "AKIDSOMEONEELSE"}, "UnrecognizedClientException",
         "The security token included in the request is invalid."),
        ({"region_name": "eu-west-1"}, INVALID, "Credential should be scoped to a valid region..."),
        ({"signature_version": UNSIGNED}, "MissingAuthenticationTokenException", "Missing Authentication Token"),
    ],
)
def test_client_refused_before_any_fault_and_counted(standin, options, code, wanted):
    standin.faults(mode="throttle", count=1)  # applies only after authentication
    status, got, message = error_of(refused(standin.client(**options)))
    assert (status, got) == (403, code)
    assert_message(message, wanted)
    stats = standin.stats()
    assert (stats["invocations"], stats["succeeded"], stats["fault"]["remaining"]) == (1, 0, 1)


@pytest.mark.parametrize(
    "sign_with, edit, code, wanted",
    [
        ({"service": "s3"}, None, INVALID, "...correct service..."),
        ({}, lambda headers: headers.pop("X-Amz-Date"), INVALID, "..."),
        ({"headers": {"X-Amz-Content-Sha256": hashlib.sha256(b"other").hexdigest()}}, None, INVALID,
         "...x-amz-content-sha256..."),
        ({"signed": ["X-Amz-Date", "Content-Type"]}, None, INVALID, "...'Host'..."),
        ({}, lambda headers: headers.update(Authorization="Bearer abc"), INCOMPLETE,
         "...requires 'Credential' parameter..."),
        # AWS echoes the header it got after naming what is missing.
        ({}, lambda headers: headers.update(Authorization=headers["Authorization"].split(", Signature=")[0]),
         INCOMPLETE, "Authorization header requires 'Signature' parameter. Authorization={Authorization}"),
        # The inference id is checked after the signature.
        ({"headers": {INFERENCE_ID: "a" * 65}, "secret": "wrong"}, None, INVALID, "..."),
        ({"skew": timedelta(minutes=-10)}, None, INVALID, "Signature expired: {X-Amz-Date} is now earlier than..."),
        ({"skew": timedelta(minutes=10)}, None, INVALID,
         "Signature not yet current: {X-Amz-Date} is still later than..."),
    ],
)
def test_raw_request_refused(standin, sign_with, edit, code, wanted):
    body = b'{"inputs": "x"}'
    headers = sigv4_headers(standin.port, body, **sign_with)
    if edit:
        edit(headers)
    status, response_headers, document = raw_post(standin.port, body, headers)
    assert (status, error_code(response_headers)) == (403, code)
    assert_message(document["message"], wanted.format_map(headers))


BODY = b'{"inputs": "Independent. Signer."}'


@pytest.mark.parametrize(
    "signed_headers, options",
    [
        ({"User-Agent": "swift  test/1"}, {}),  # botocore never signs User-Agent, but another SDK may; AWS accepts it.
        ({"X-Amz-Content-Sha256": hashlib.sha256(BODY).hexdigest()}, {}),
        ({}, {"chunks": [BODY[:7], BODY[7:]]}),  # some HTTP clients stream bodies with Transfer-Encoding: chunked
        *(({INFERENCE_ID: value}, {})
          for value in ("a" * 64, "1", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1 x~")),
        # What a CR/LF in a header value would turn into: a second header line, here unsigned.
        ({}, {"extra": [(INFERENCE_ID, "first"), (INFERENCE_ID, "second")]}),  # "first, second" is a valid id
    ],
)
def test_raw_request_accepted_and_recorded(standin, signed_headers, options):
    headers = sigv4_headers(standin.port, BODY, headers=signed_headers)
    status, response_headers, document = raw_post(standin.port, BODY, headers, **options)
    assert (status, document) == (200, [{"summary_text": "Independent."}])
    assert "x-amzn-RequestId" in response_headers
    last = standin.stats()["last_request"]
    assert (last["method"], last["path"], last["body_bytes"]) == ("POST", INVOKE_PATH, len(BODY))
    # Each header line as received; repeated ones joined in "headers".
    sent = [*signed_headers.items(), *options.get("extra", ())]
    ids = [value for name, value in sent if name == INFERENCE_ID]
    assert [value for name, value in last["header_lines"] if name == INFERENCE_ID] == ids
    assert last["headers"].get(INFERENCE_ID) == (", ".join(ids) or None)


def test_tampered_body_is_rejected(standin):
    client = standin.client()

    def tamper(request, **kwargs):
        # Same length, so only the signature can catch it.
        request.body = request.body.replace(b"buy", b"BUY")

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", tamper)
    assert error_of(refused(client, {"inputs": "buy"}))[:2] == (403, "InvalidSignatureException")
    assert standin.stats()["last_request"]["body_bytes"] == len('{"inputs": "buy"}')


TOKEN = "tok-secret-123"


def test_session_token_is_required_pinned_and_quoted_on_mismatch(start_standin):
    standin = start_standin("--session-token", TOKEN)
    client = standin.client(aws_session_token=TOKEN)
    assert invoke(client, {"inputs": "x"})["Decoded"] == [{"summary_text": "x"}]
    for token in (None, "tok-999"):
        assert error_of(refused(standin.client(aws_session_token=token)))[:2] == (403, "UnrecognizedClientException")

    # AWS's text for a wrong signature quotes what the request signed, session token too.
    standin.faults(mode="signature_mismatch", count=1)
    status, code, message = error_of(refused(client))
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith(MISMATCH_PREFIX)
    assert "'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in message
    _, canonical, _, string_to_sign, tail = message.split("'")  # the two quoted blocks
    assert tail == "\n"
    assert canonical.startswith(f"POST\n{INVOKE_PATH}\n\n")
    assert f"\nx-amz-security-token:{TOKEN}\n" in canonical
    # Both blocks are exactly what the client signed: hashing and signing
    # them here, independently of botocore, gives the request's signature.
    assert string_to_sign.split("\n")[3] == hashlib.sha256(canonical.encode()).hexdigest()
    authorization = standin.stats()["last_request"]["headers"]["Authorization"]
    assert authorization.endswith(f"Signature={sign(string_to_sign)}")
    assert invoke(client, {"inputs": "x"})["Decoded"] == [{"summary_text": "x"}]


# --------------------------------------------------------------------------
# Answers too large to hold.
# --------------------------------------------------------------------------


def open_answer(port: int) -> tuple[http.client.HTTPConnection, Any]:
    """A signed InvokeEndpoint whose answer is left unread, to be streamed."""
    body = b'{"inputs": "x"}'
    return send(port, body, sigv4_headers(port, body))


@pytest.mark.parametrize(
    "plan, inputs, size",
    [({"mode": "oversized", "size_bytes": 7_000_000, "count": 1}, "x", 7_000_000),
     (None, "[[fault:oversized:100000]]", 100_000)],  # a marker plans it for its own request
)
def test_oversized_is_a_valid_answer_of_exactly_size_bytes(standin, plan, inputs, size):
    client = standin.client()
    if plan:
        standin.faults(**plan)
    response = client.invoke_endpoint(
        EndpointName=ENDPOINT, ContentType="application/json", Body=json.dumps({"inputs": inputs})
    )
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-length"] == str(size)
    body = response["Body"].read()
    assert len(body) == size
    document = json.loads(body)
    assert list(document[0]) == ["summary_text"] and len(document) == 1
    assert document[0]["summary_text"].startswith("Revenue rose again")
    assert invoke(client, {"inputs": "x"})["Decoded"] == [{"summary_text": "x"}]


@pytest.mark.parametrize(
    "plan, framing, read",
    [
        ({"mode": "oversized", "size_bytes": 512 * 1024 * 1024}, ("Content-Length", str(512 * 1024 * 1024)), 100_000),
        ({"mode": "endless"}, ("Transfer-Encoding", "chunked"), 16 * 1024 * 1024),  # well past any 6 MiB limit
    ],
)
def test_big_answers_stop_quietly_when_the_client_leaves(standin, plan, framing, read):
    standin.faults(**plan, count=1)
    finished = standin.output().count(f"POST {INVOKE_PATH} 200 ") + 1
    before = harness.proc_status(standin.proc.pid)["VmRSS"]
    connection, response = open_answer(standin.port)
    try:
        assert response.status == 200
        assert response.headers[framing[0]] == framing[1]
        assert ("Content-Length" in response.headers) == (framing[0] == "Content-Length")
        start = response.read(64)
        assert start.startswith(b'[{"summary_text": "')
        received = len(start)
        while received < read:
            chunk = response.read(min(1024 * 1024, read - received))
            assert chunk, "the answer ended"
            received += len(chunk)
        # Streamed, not built whole: 512 MiB would show, a few buffers do not.
        grown = harness.proc_status(standin.proc.pid)["VmRSS"] - before
        assert grown < 32 * 1024, f"RSS grew {grown} KiB"
    finally:
        response.close()  # the socket stays open as long as the response does
        connection.close()
    # The handler finished: this request's own log line, not an earlier test's.
    assert "Traceback" not in standin.wait_for_output(f"POST {INVOKE_PATH} 200 ", finished, timeout=10)
    assert invoke(standin.client(), {"inputs": "x"})["Decoded"] == [{"summary_text": "x"}]


def test_endless_is_dropped_unfinished_after_delay_ms(standin):
    standin.faults(mode="endless", delay_ms=500, count=1)
    started = time.monotonic()
    connection, response = open_answer(standin.port)
    try:
        with pytest.raises(http.client.IncompleteRead):
            while response.read(1024 * 1024):
                assert time.monotonic() - started < 15
    finally:
        response.close()
        connection.close()
    assert 0.5 <= time.monotonic() - started < 15


# --------------------------------------------------------------------------
# Process behaviour and the control API.
# --------------------------------------------------------------------------


def test_port_file_log_and_prompt_sigterm_while_hanging(start_standin, tmp_path):
    port_file = tmp_path / "port"
    standin = start_standin("--port-file", str(port_file))
    assert int(port_file.read_text()) == standin.port
    # No --session-token: any token is accepted, so this call succeeds.
    client = standin.client(aws_session_token="secret-session-token", read_timeout=20)
    invoke(client, {"inputs": "confidential article"}, CustomAttributes="private")
    signature = standin.stats()["last_request"]["headers"]["Authorization"].rsplit("Signature=", 1)[1]

    # A request stuck in "hang" must not delay shutdown; its connection is dropped then.
    standin.faults(mode="hang")
    with concurrent.futures.ThreadPoolExecutor() as pool:
        hanging = pool.submit(invoke, client, {"inputs": "x"})
        wait_for(lambda: standin.stats()["invocations"] == 2)
        started = time.monotonic()
        standin.stop()
        assert standin.proc.returncode == 0
        assert time.monotonic() - started < 3
        assert hanging.exception(5) is not None

    log = standin.output()
    for secret in (signature, "secret-session-token", "confidential", "private", SECRET_KEY):
        assert secret not in log
    # One line per request (the hanging one may not get to write its own).
    lines = [line for line in log.splitlines() if line.startswith(f"POST {INVOKE_PATH} ")]
    assert 1 <= len(lines) <= 2
    method, path, status, elapsed = lines[0].split()
    assert (path, status) == (INVOKE_PATH, "200") and elapsed.endswith("ms")


@pytest.mark.parametrize(
    "path, document, fragment",
    [
        ("faults", {"mode": "explode"}, "mode must be one of"),
        ("faults", {"mode": "oversized", "size_bytes": 536870913}, "size_bytes must be between 0 and 536870912"),
        *(("service_time", bad, "") for bad in ({"ms": -1}, {"ms": "5"}, {}, [1])),
    ],
)
def test_control_rejects_bad_values(standin, path, document, fragment):
    with pytest.raises(RuntimeError, match=f"{path}: 400 .*{re.escape(fragment)}"):
        standin._control("POST", path, document)
