#!/usr/bin/env python3
"""Local stand-in for the Amazon SageMaker Runtime ``InvokeEndpoint`` API, for tests and local runs.

Same route, headers and error shapes as the service, SigV4 signatures verified with botocore, a
deterministic "model" answering like a Hugging Face summarisation container, and an unsigned
control API (``/_control/...``) for faults and counters. Once listening it prints ``LISTENING
127.0.0.1:PORT``; it only ever binds a loopback address. The control API and what is modelled:
docs/emulator.md; the command line: ``--help``.
"""

from __future__ import annotations

import argparse
import ssl
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import ACCESS_KEY, SECRET_KEY  # the only credentials accepted

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ENDPOINT = "financial-summarizer"  # the one endpoint that exists
# The answer key of each transformers pipeline task the template offers (HuggingFaceTask). The
# Hugging Face container takes its task from HF_TASK; the template's default is summarization.
RESULT_KEYS = {"summarization": "summary_text", "text2text-generation": "generated_text"}
DEFAULT_TASK = "summarization"
SERVICE = "sagemaker"  # SigV4 signing name of SageMaker Runtime
MAX_PAYLOAD = 6 * 1024 * 1024  # InvokeEndpoint's documented body limit
# Bodies above MAX_PAYLOAD are still read (so the signature can be checked and
# the connection stays usable) up to this cap; beyond it we answer 413 without
# reading and close the connection rather than buffer arbitrary amounts.
READ_CAP = 32 * 1024 * 1024
CLOCK_SKEW = timedelta(minutes=5)
IDLE_TIMEOUT_S = 60  # idle keep-alive connections are closed after this
MAX_RETURN_SEQUENCES = 8
SIGV4_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

# The service model's endpoint name pattern plus its 63-character limit.
ENDPOINT_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INVOCATIONS_RE = re.compile(r"^/endpoints/([^/]*)/invocations$")
SIGNATURE_RE = re.compile(r"^[0-9a-fA-F]{64}$")

MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult "
    "the service documentation for details."
)

# botocore's InferenceId shape (sagemaker-runtime service model): length 1-64
# and the Java pattern \A\S[\p{Print}]*\z, where \S is anything but
# [ \t\n\x0B\f\r] and \p{Print} is printable ASCII (0x20-0x7E).
INFERENCE_ID_MAX = 64
INFERENCE_ID_PATTERN = r"\A\S[\p{Print}]*\z"
INFERENCE_ID_RE = re.compile(r"[^ \t\n\x0b\f\r][\x20-\x7e]*", re.ASCII)

# Fault modes that answer with a plain service error: (status, code, message).
# Messages are the ones AWS documents for these errors.
SERVICE_FAULTS = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "model_not_ready": (
        429,
        "ModelNotReadyException",
        "Either a serverless endpoint variant's resources are still being "
        "provisioned, or a multi-model endpoint is still downloading or "
        "loading the target model. Wait and try your request again.",
    ),
    "service_unavailable": (
        503,
        "ServiceUnavailable",
        "The service is unavailable. Try your call again.",
    ),
    "internal_failure": (
        500,
        "InternalFailure",
        "An internal failure occurred. Try your request again. If the problem "
        "persists, contact Amazon Web Services customer support.",
    ),
    "internal_dependency": (
        530,
        "InternalDependencyException",
        "Your request caused an exception with an internal dependency. "
        "Contact customer support.",
    ),
    # What SageMaker says when the endpoint is deleted while the function runs, and what IAM
    # says when the role loses its policy: signed correctly, refused all the same.
    "validation_error": (
        400,
        "ValidationError",
        f"Endpoint financial-summarizer of account {ACCOUNT_ID} not found.",
    ),
    "access_denied": (
        403,
        "AccessDeniedException",
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/summarizer-role/summarizer is not authorized "
        "to perform: sagemaker:InvokeEndpoint on resource: "
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:endpoint/financial-summarizer because no "
        "identity-based policy allows the sagemaker:InvokeEndpoint action",
    ),
}

FAULT_MODES = ("none", *SERVICE_FAULTS, "model_error", "slow", "hang", "close_idle", "garbage",
               "signature_mismatch", "incomplete_signature", "expired_token", "oversized", "endless")

# A per-request fault in the payload: [[fault:MODE]] or [[fault:MODE:N]].
FAULT_MARKER_RE = re.compile(rb"\[\[fault:([a-z_]+)(?::(\d{1,10}))?\]\]")
# What the marker's number means for each mode (modes not listed take no number).
MARKER_ARGUMENT = {"slow": "delay_ms", "hang": "delay_ms", "endless": "delay_ms",
                   "oversized": "size_bytes", "model_error": "status"}

DEFAULT_DELAY_MS = {"slow": 1000, "hang": 600_000, "endless": 120_000}
DEFAULT_OVERSIZED_BYTES = 7 * 1024 * 1024  # above Lambda's 6 MiB response limit
MAX_OVERSIZED_BYTES = 512 * 1024 * 1024
# Oversized and endless answers: a summarisation answer whose text is summary-like filler,
# written this much at a time.
STREAM_CHUNK = 64 * 1024
_FILLER_SENTENCE = b"Revenue rose again in the quarter and margins held. "
FILLER = (_FILLER_SENTENCE * (STREAM_CHUNK // len(_FILLER_SENTENCE) + 1))[:STREAM_CHUNK]
ANSWER_END = b'"}]'
DEFAULT_MODEL_ERROR_MESSAGE = (
    "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 22.20 GiB total "
    "capacity; 21.13 GiB already allocated)"
)


class ApiError(Exception):
    """An AWS-style error answer: HTTP status, error code, message, extras."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def _hf_error(code: int, message: str) -> str:
    """The error document a Hugging Face inference container returns."""
    return json.dumps(
        {"code": code, "type": "InternalServerException", "message": message},
        separators=(",", ":"),
    )


def model_error(endpoint: str, original_status: int, original_message: str) -> ApiError:
    """A 424 ModelError as SageMaker wraps a container's non-2xx answer."""
    kind = "client" if 400 <= original_status < 500 else "server"
    log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
    return ApiError(
        424,
        "ModelError",
        f"Received {kind} error ({original_status}) from primary with message "
        f'"{original_message}". See https://{REGION}.console.aws.amazon.com/'
        f"cloudwatch/home?region={REGION}#logEventViewer:group={log_group} "
        f"in account {ACCOUNT_ID} for more information.",
        ErrorCode=(
            "CLIENT_ERROR_FROM_MODEL"
            if kind == "client"
            else "INTERNAL_FAILURE_FROM_MODEL"
        ),
        OriginalStatusCode=original_status,
        OriginalMessage=original_message,
        LogStreamArn=f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{log_group}",
    )


# --------------------------------------------------------------------------
# The "model": deterministic extractive summarisation.
# --------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?]) ")


def summarize(text: str, count: int) -> list[str]:
    """Summary i is the first i+1 sentences (the whole text if shorter)."""
    # Whitespace is collapsed first so that ". \n  Next" is one boundary.
    sentences = _SENTENCE_END.split(" ".join(text.split()))
    return [" ".join(sentences[: i + 1]) for i in range(count)]


def task_from_env() -> str:
    """The pipeline task the container runs: HF_TASK, else the template's default."""
    task = os.environ.get("HF_TASK") or DEFAULT_TASK
    if task not in RESULT_KEYS:
        raise ValueError(f"HF_TASK={task!r}: the stand-in models {' and '.join(RESULT_KEYS)}")
    return task


def answer_start(task: str) -> bytes:
    """How an answer of one summary begins, up to the text."""
    return b'[{"%s": "' % RESULT_KEYS[task].encode()


class _ContainerError(Exception):
    """A non-2xx answer from the model container: args are (status, message)."""


def run_model(content_type: str | None, body: bytes, task: str | None = None) -> Any:
    """The JSON document a Hugging Face container running TASK's pipeline (default: HF_TASK's)
    answers, or _ContainerError with the status and message it would refuse with."""
    key = RESULT_KEYS[task or task_from_env()]
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise _ContainerError(
            415,
            f"Content type {content_type or 'None'} is not supported by this "
            "framework. Please use application/json.",
        )
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _ContainerError(400, str(exc)) from None
    if not isinstance(document, dict):
        raise _ContainerError(400, "request body must be a JSON object")
    if "inputs" not in document:
        # The HF toolkit does data["inputs"]; the KeyError text is the message.
        raise _ContainerError(400, "'inputs'")
    inputs = document["inputs"]
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _ContainerError(400, "parameters must be a JSON object")
    count = parameters.get("num_return_sequences", 1)
    if isinstance(count, bool) or not isinstance(count, int):
        raise _ContainerError(400, "num_return_sequences must be an integer")
    count = max(1, min(MAX_RETURN_SEQUENCES, count))

    def one(text: str) -> list[dict[str, str]]:
        return [{key: summary} for summary in summarize(text, count)]

    if isinstance(inputs, str):
        return one(inputs)
    if isinstance(inputs, list) and all(isinstance(i, str) for i in inputs):
        # transformers' Text2TextGenerationPipeline.__call__ unwraps a batch whose articles
        # got one sequence each: [{...}, {...}], nested only with several sequences each.
        answers = [one(text) for text in inputs]
        return [a[0] for a in answers] if count == 1 else answers
    raise _ContainerError(400, "inputs must be a string or a list of strings")


# --------------------------------------------------------------------------
# Signature verification.
# --------------------------------------------------------------------------


class _ExactHeadersSigV4(SigV4Auth):
    """SigV4Auth signing exactly the headers the request says it signed: botocore drops a few
    it never signs itself (user-agent, expect, ...), which another SDK may sign, and AWS accepts."""

    def headers_to_sign(self, request):
        return request.headers


def parse_authorization(value: str) -> dict[str, str]:
    """Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``; an
    IncompleteSignatureException names each missing part, as AWS words it."""
    algorithm, _, rest = value.strip().partition(" ")
    parts: dict[str, str] = {}
    if algorithm == "AWS4-HMAC-SHA256":
        for item in rest.split(","):
            key, sep, val = item.strip().partition("=")
            if sep and val:
                parts[key] = val
    if "Signature" in parts and not SIGNATURE_RE.match(parts["Signature"]):
        del parts["Signature"]
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if name not in parts]
    if missing:
        raise incomplete_signature(value, missing)
    return parts


def incomplete_signature(authorization: str, missing: list[str]) -> ApiError:
    """AWS names each missing part, then echoes the header it got -- access
    key id and signature included, which is why a client must not log it."""
    requires = " ".join(
        f"Authorization header requires '{name}' parameter." for name in missing
    )
    return ApiError(
        403, "IncompleteSignatureException", f"{requires} Authorization={authorization}"
    )


def invalid_signature(message: str) -> ApiError:
    return ApiError(403, "InvalidSignatureException", message)


def signature_mismatch(canonical: str, string_to_sign: str) -> ApiError:
    """AWS's whole answer to a wrong signature: it shows what it computed,
    so the message carries every signed header value, session token too."""
    return invalid_signature(
        f"{MSG_SIGNATURE_MISMATCH}\n\nThe Canonical String for this request "
        f"should have been\n'{canonical}'\n\nThe String-to-Sign should have "
        f"been\n'{string_to_sign}'\n"
    )


def verify_signature(
    session_token: str | None, method: str, raw_path: str, headers, body: bytes
) -> tuple[str, str, str]:
    """Check the request's SigV4 signature and what AWS checks before it; raise ApiError on
    the first failure. Without SESSION_TOKEN any token is accepted, and none is needed.

    Returns the Authorization header, canonical request and string-to-sign, for the faults
    that quote them."""
    authorization = headers.get("Authorization")
    if authorization is None:
        raise ApiError(
            403, "MissingAuthenticationTokenException", "Missing Authentication Token"
        )

    parts = parse_authorization(authorization)
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise ApiError(
            403,
            "IncompleteSignatureException",
            "Credential should have 5 parts and end with 'aws4_request'.",
        )
    access_key, scope_date, scope_region, scope_service, _ = scope

    token = headers.get("X-Amz-Security-Token")
    # Credentials that come with a session token are unusable without it.
    if access_key != ACCESS_KEY or (
        session_token is not None
        and (token is None or not hmac.compare_digest(token.encode(), session_token.encode()))
    ):
        raise ApiError(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )

    if scope_region != REGION:
        raise invalid_signature("Credential should be scoped to a valid region. ")
    if scope_service != SERVICE:
        raise invalid_signature(f"Credential should be scoped to correct service: '{SERVICE}'. ")

    amz_date = headers.get("X-Amz-Date")
    if amz_date is None:
        raise invalid_signature(
            "Authorization header requires existence of either a 'X-Amz-Date' "
            "or a 'Date' header."
        )
    try:
        signed_at = datetime.strptime(amz_date, SIGV4_DATE_FORMAT).replace(
            tzinfo=timezone.utc
        )
    except ValueError:
        raise invalid_signature(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None
    now = datetime.now(timezone.utc).replace(microsecond=0)

    def fmt(moment: datetime) -> str:
        return moment.strftime(SIGV4_DATE_FORMAT)

    if signed_at < now - CLOCK_SKEW:
        raise invalid_signature(
            f"Signature expired: {amz_date} is now earlier than "
            f"{fmt(now - CLOCK_SKEW)} ({fmt(now)} - 5 min.)"
        )
    if signed_at > now + CLOCK_SKEW:
        raise invalid_signature(
            f"Signature not yet current: {amz_date} is still later than "
            f"{fmt(now + CLOCK_SKEW)} ({fmt(now)} + 5 min.)"
        )
    if scope_date != amz_date[:8]:
        raise invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
            f"version of date from HTTP: '{scope_date}' != '{amz_date[:8]}', "
            f"from '{amz_date}'."
        )

    signed_names = parts["SignedHeaders"].lower().split(";")
    must_sign = {"host": "'Host' or ':authority'", "x-amz-date": "'X-Amz-Date'"}
    if token is not None:
        must_sign["x-amz-security-token"] = "'X-Amz-Security-Token'"
    for name, shown in must_sign.items():
        if name not in signed_names:
            raise invalid_signature(f"{shown} must be a 'SignedHeader' in the AWS Authorization.")
    # Even UNSIGNED-PAYLOAD is refused: over plain HTTP every SDK signs the
    # payload, so anything but the real hash means the body was not signed.
    content_sha = headers.get("X-Amz-Content-Sha256")
    if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
        raise invalid_signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )

    # Rebuild the request as the client must have signed it and let botocore
    # compute the signature.  Only the signed headers go in, each with every
    # value it was received with (SigV4 joins repeated headers with commas).
    host = headers.get("Host", "")
    request = AWSRequest(method=method, url=f"http://{host}{raw_path}", data=body)
    for name in signed_names:
        values = headers.get_all(name)
        if values is None:
            # Signed but not sent: the client cannot have signed what we see.
            raise invalid_signature(MSG_SIGNATURE_MISMATCH)
        for value in values:
            request.headers.add_header(name, value)
    request.context["timestamp"] = amz_date  # pin to the client's clock

    signer = _ExactHeadersSigV4(Credentials(ACCESS_KEY, SECRET_KEY, token), SERVICE, REGION)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected, parts["Signature"].lower()):
        raise signature_mismatch(canonical, string_to_sign)
    return authorization, canonical, string_to_sign


def validate_input(endpoint: str, inference_ids: list[str]) -> None:
    """SageMaker's input validation: every violated constraint in one
    ValidationError, worded the way the service words it."""
    violations = []
    if not ENDPOINT_NAME_RE.match(endpoint):
        violations.append(
            f"Value '{endpoint}' at 'endpointName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
        )
    if inference_ids:
        # Repeated headers reach the service joined, as one value.
        value = ", ".join(inference_ids)
        prefix = f"Value '{value}' at 'inferenceId' failed to satisfy constraint: Member must"
        if len(value) > INFERENCE_ID_MAX:
            violations.append(f"{prefix} have length less than or equal to {INFERENCE_ID_MAX}")
        if not value:
            violations.append(f"{prefix} have length greater than or equal to 1")
        if not INFERENCE_ID_RE.fullmatch(value):
            violations.append(f"{prefix} satisfy regular expression pattern: {INFERENCE_ID_PATTERN}")
    if violations:
        count = len(violations)
        raise ApiError(
            400,
            "ValidationError",
            f"{count} validation error{'s' if count > 1 else ''} detected: "
            + "; ".join(violations),
        )


# --------------------------------------------------------------------------
# Shared state: fault plan and counters.
# --------------------------------------------------------------------------


@dataclass
class Fault:
    mode: str = "none"
    count: int | None = None  # None: applies until replaced or reset
    delay_ms: int | None = None
    status: int | None = None
    message: str | None = None
    size_bytes: int | None = None  # oversized: the answer's length

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["remaining"] = described.pop("count")
        return described


@dataclass
class State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    fault: Fault = field(default_factory=Fault)
    invocations: int = 0
    succeeded: int = 0
    connections: int = 0
    last_request: dict[str, Any] | None = None
    service_ms: int = 0  # least time a successful answer takes
    default_service_ms: int = 0  # what reset() restores: the --service-ms value

    def take_fault(self) -> Fault | None:
        """Consume one use of the fault plan, if any is active."""
        with self.lock:
            fault = self.fault
            if fault.mode == "none" or fault.count == 0:
                return None
            if fault.count is not None:
                fault.count -= 1
            return fault

    def reset(self) -> None:
        with self.lock:
            self.fault = Fault()
            self.invocations = self.succeeded = self.connections = 0
            self.last_request = None
            self.service_ms = self.default_service_ms


def int_field(document: Any, name: str, low: int, high: int) -> int | None:
    """DOCUMENT's integer NAME, None if absent; ValueError if it is not an integer in range."""
    if not isinstance(document, dict):
        raise ValueError("body must be a JSON object")
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def parse_fault(document: Any) -> Fault:
    if not isinstance(document, dict):
        raise ValueError("body must be a JSON object")
    mode = document.get("mode", "none")
    if mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
    message = document.get("message")
    if message is not None and not isinstance(message, str):
        raise ValueError("message must be a string")
    return Fault(
        mode=mode,
        count=int_field(document, "count", 0, 2**31),
        delay_ms=int_field(document, "delay_ms", 0, 24 * 3600 * 1000),
        status=int_field(document, "status", 100, 599),
        message=message,
        size_bytes=int_field(document, "size_bytes", 0, MAX_OVERSIZED_BYTES),
    )


def marker_fault(body: bytes) -> Fault | None:
    """The fault a request asks for in its own payload (its first [[fault:...]] marker), or None.
    A marker naming no known mode, or with an out-of-range number, is not a marker."""
    match = FAULT_MARKER_RE.search(body)
    if match is None:
        return None
    mode, number = match[1].decode(), match[2]
    plan: dict[str, Any] = {"mode": mode}
    if number is not None and mode in MARKER_ARGUMENT:
        plan[MARKER_ARGUMENT[mode]] = int(number)
    try:
        return parse_fault(plan)
    except ValueError:
        return None


# --------------------------------------------------------------------------
# HTTP server.
# --------------------------------------------------------------------------


class StandinServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # never let a hung handler block shutdown
    request_queue_size = 64

    def __init__(self, address, args: argparse.Namespace):
        super().__init__(address, StandinHandler)
        self.session_token = args.session_token
        self.idle_timeout_s = args.idle_timeout_ms / 1000
        self.state = State(service_ms=args.service_ms, default_service_ms=args.service_ms)
        self.task = args.task
        # Set on shutdown so that handlers sleeping in "hang" return early.
        self.stopping = threading.Event()

    def get_request(self):
        # Called once per accepted TCP connection: the count behind
        # stats.connections, which tests use to observe keep-alive reuse.
        connection = super().get_request()
        with self.state.lock:
            self.state.connections += 1
        return connection


class StandinHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS endpoints offer
    server_version = "SageMakerStandin"
    # Headers and body go out in separate writes; without TCP_NODELAY Nagle
    # plus delayed ACKs adds ~40 ms to every keep-alive round trip.
    disable_nagle_algorithm = True
    server: StandinServer

    # -- plumbing ----------------------------------------------------------

    def setup(self):
        # Like a load balancer in front of a real endpoint, drop a keep-alive connection that
        # stays idle too long, silently: the client only finds out when it next uses it.
        self.timeout = self.server.idle_timeout_s
        super().setup()

    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):
        pass  # one line per request is written by _dispatch instead

    def _dispatch(self) -> None:
        started = time.monotonic()
        path = urlsplit(self.path).path
        self._status = 0
        try:
            self._route(path)
        except ApiError as error:  # the request's framing: the connection cannot go on
            self.close_connection = True
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # client went away mid-answer
        except Exception:
            # A bug in the stand-in: answer like AWS would rather than drop
            # the connection, and keep the traceback for whoever debugs it.
            traceback.print_exc()
            self.close_connection = True
            if not self._status:
                self._send_error(
                    ApiError(500, "InternalFailure", "stand-in internal error")
                )
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            # Path without the query string: a presigned query could carry
            # credentials.  Headers and bodies are never logged.
            sys.stderr.write(
                f"{self.command} {path} {self._status or '-'} {elapsed_ms:.3f}ms\n"
            )
            sys.stderr.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _read_body(self) -> bytes:
        """Read the whole request body so keep-alive framing stays intact."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        if not (raw_length.isascii() and raw_length.isdigit()):  # HTTP's 1*DIGIT
            raise ApiError(400, "BadRequest", "Invalid Content-Length")
        length = int(raw_length)
        if length > READ_CAP:
            raise ApiError(413, "ValidationError", "Request payload is too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ApiError(400, "BadRequest", "Invalid chunk size") from None
            if size == 0:
                break
            total += size
            if total > READ_CAP:
                raise ApiError(
                    413, "ValidationError", "Request payload is too large"
                )
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after each chunk
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # trailers: ignored
        return b"".join(chunks)

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._send_head(status, {"Content-Length": str(len(body)), **(headers or {})})
        self.wfile.write(body)

    def _send_json(self, status: int, document: Any, **kwargs) -> None:
        self._send(status, json.dumps(document).encode(), **kwargs)

    def _send_error(self, error: ApiError) -> None:
        # rest-json: botocore takes the code from x-amzn-ErrorType (the part
        # before ':') and the message from the body's "message" member;
        # modelled members (ModelError's OriginalStatusCode, ...) are read
        # from the body by their model names.
        self._send_json(
            error.status,
            {"message": error.message, **error.extra},
            headers={
                "x-amzn-ErrorType": f"{error.code}:http://internal.amazon.com/"
                "coral/com.amazon.coral.service/"
            },
        )

    # -- routing -----------------------------------------------------------

    def _route(self, path: str) -> None:
        body = self._read_body()
        if path.startswith("/_control/"):
            self._control(path, body)
            return
        invocation = INVOCATIONS_RE.match(path)
        if invocation:
            self._record(body)
        try:
            if not invocation or self.command != "POST":
                raise ApiError(404, "UnknownOperationException", "Unknown operation")
            self._invoke(unquote(invocation[1]), body)
        except ApiError as error:
            self._send_error(error)

    def _record(self, body: bytes) -> None:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        with self.server.state.lock:
            self.server.state.invocations += 1
            self.server.state.last_request = {
                "method": self.command,
                "path": self.path,
                "headers": headers,
                # Each line as received: a second X-Amzn-SageMaker-Inference-Id
                # (what a CR/LF injection would add) is visible here, not
                # folded into the joined dict above.
                "header_lines": [[name, value] for name, value in self.headers.items()],
                "body_bytes": len(body),
            }

    # -- InvokeEndpoint ----------------------------------------------------

    def _invoke(self, endpoint: str, body: bytes) -> None:
        arrived = time.monotonic()
        signed = verify_signature(
            self.server.session_token, self.command, self.path, self.headers, body
        )
        validate_input(
            endpoint, self.headers.get_all("X-Amzn-SageMaker-Inference-Id") or []
        )
        if endpoint != ENDPOINT:
            raise ApiError(
                400,
                "ValidationError",
                f"Endpoint {endpoint} of account {ACCOUNT_ID} not found.",
            )
        if len(body) > MAX_PAYLOAD:
            raise ApiError(413, "ValidationError", "Request payload is too large")

        extra_headers = {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}
        custom = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        if custom is not None:
            extra_headers["X-Amzn-SageMaker-Custom-Attributes"] = custom

        # A fault the payload asks for wins over the plan, and leaves the plan's count alone.
        fault = marker_fault(body) or self.server.state.take_fault()
        if fault is not None and self._apply_fault(fault, endpoint, extra_headers, signed):
            return

        try:
            result = run_model(self.headers.get("Content-Type"), body, self.server.task)
        except _ContainerError as exc:
            status, message = exc.args
            raise model_error(endpoint, status, _hf_error(status, message)) from None
        with self.server.state.lock:
            service_s = self.server.state.service_ms / 1000
        # The model's inference time; on the shutdown event, so SIGTERM stays prompt.
        self.server.stopping.wait(max(0.0, arrived + service_s - time.monotonic()))
        # Counted before it leaves: a caller may read stats() the moment its answer is in.
        with self.server.state.lock:
            self.server.state.succeeded += 1
        self._send_json(200, result, headers=extra_headers)

    def _apply_fault(
        self,
        fault: Fault,
        endpoint: str,
        extra_headers: dict[str, str],
        signed: tuple[str, str, str],
    ) -> bool:
        """Apply one fault; True if it fully answered (or dropped) the request."""
        mode = fault.mode
        delay_s = (fault.delay_ms or DEFAULT_DELAY_MS.get(mode, 0)) / 1000
        if mode in SERVICE_FAULTS:
            status, code, message = SERVICE_FAULTS[mode]
            raise ApiError(status, code, fault.message or message)
        # The three refusals a client cannot fix by retrying; their texts
        # come from the request itself, as AWS's do.
        authorization, canonical, string_to_sign = signed
        if mode == "signature_mismatch":
            raise signature_mismatch(canonical, string_to_sign)
        if mode == "incomplete_signature":
            raise incomplete_signature(authorization, ["Signature"])
        if mode == "expired_token":
            raise ApiError(
                403,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            )
        if mode == "oversized":
            size = DEFAULT_OVERSIZED_BYTES if fault.size_bytes is None else fault.size_bytes
            self._send_oversized(size, extra_headers)
            return True
        if mode == "endless":
            self._send_endless(delay_s, extra_headers)
            return True
        if mode == "model_error":
            status = fault.status or 500
            original = fault.message or _hf_error(status, DEFAULT_MODEL_ERROR_MESSAGE)
            raise model_error(endpoint, status, original)
        if mode == "slow":
            # Wait on the shutdown event rather than sleep so SIGTERM is prompt.
            self.server.stopping.wait(delay_s)
            return False
        if mode == "hang":
            # Never answer: the client must time out.  Then drop the connection.
            self.server.stopping.wait(delay_s)
            self.close_connection = True
            self._status = 0
            return True
        if mode == "close_idle":
            self.close_connection = True  # _send adds "Connection: close"
            return False
        if mode == "garbage":
            body = (fault.message or "<html>upstream exploded</html>").encode()
            self._send(200, body, headers=extra_headers)
            return True
        return False

    # -- answers that do not fit in memory --------------------------------

    def _stream_head(self, extra_headers: dict[str, str], framing: tuple[str, str]) -> None:
        self.close_connection = True  # the body may stop half-way: no reuse
        self._send_head(200, dict([framing], **extra_headers))

    def _write_quietly(self, data: bytes) -> bool:
        """Write; False once the client is gone or stopped reading for the
        socket timeout, or the server stops -- the end of the stream, not an
        error worth a traceback."""
        if self.server.stopping.is_set():
            return False
        try:
            self.wfile.write(data)
            return True
        except OSError:  # BrokenPipe, ConnectionReset, socket timeout
            return False

    def _send_oversized(self, size: int, extra_headers: dict[str, str]) -> None:
        """A valid answer of exactly SIZE bytes, written a chunk at a time so
        512 MiB costs this process 64 KiB."""
        start = answer_start(self.server.task)
        size = max(size, len(start) + len(ANSWER_END))
        self._stream_head(extra_headers, ("Content-Length", str(size)))
        filler = size - len(start) - len(ANSWER_END)
        chunks = itertools.repeat(FILLER, filler // STREAM_CHUNK)
        last = FILLER[: filler % STREAM_CHUNK]
        for piece in itertools.chain([start], chunks, [last, ANSWER_END]):
            if not self._write_quietly(piece):
                return

    def _send_endless(self, limit_s: float, extra_headers: dict[str, str]) -> None:
        """Chunked JSON-looking data with no end; after LIMIT_S the connection
        is dropped without the last chunk, so even then it is not complete."""
        self._stream_head(extra_headers, ("Transfer-Encoding", "chunked"))
        give_up = time.monotonic() + limit_s
        for piece in itertools.chain([answer_start(self.server.task)], itertools.repeat(FILLER)):
            chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
            if time.monotonic() >= give_up or not self._write_quietly(chunk):
                return

    # -- control API -------------------------------------------------------

    def _control(self, path: str, body: bytes) -> None:
        state = self.server.state
        route = f"{self.command} {path.removeprefix('/_control/')}"
        try:
            if route == "GET stats":
                with state.lock:
                    answer = {
                        "invocations": state.invocations,
                        "succeeded": state.succeeded,
                        "connections": state.connections,
                        "last_request": state.last_request,
                        "service_ms": state.service_ms,
                        "fault": state.fault.describe(),
                    }
            elif route == "POST reset":
                state.reset()
                answer = {"ok": True}
            elif route == "POST service_time":
                ms = int_field(json.loads(body or b"{}"), "ms", 0, 600_000)
                if ms is None:
                    raise ValueError("ms must be an integer")
                with state.lock:
                    state.service_ms = ms
                answer = {"ok": True, "service_ms": ms}
            elif route == "POST faults":
                fault = parse_fault(json.loads(body or b"{}"))
                with state.lock:
                    state.fault = fault
                answer = {"ok": True, "fault": fault.describe()}
            else:
                self._send_json(404, {"message": f"no control route {self.command} {path}"})
                return
        except ValueError as exc:  # includes JSONDecodeError
            self._send_json(400, {"message": str(exc)})
            return
        self._send_json(200, answer)


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Local stand-in for SageMaker Runtime InvokeEndpoint.",
        epilog=f"HF_TASK in the environment picks the pipeline task, as in the Hugging Face container: "
        f"{', '.join(f'{t} answers {k!r}' for t, k in RESULT_KEYS.items())} (default: {DEFAULT_TASK}).",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port to this file")
    parser.add_argument(
        "--session-token",
        help="the X-Amz-Security-Token requests must carry (without it, any or none)",
    )
    parser.add_argument(
        "--idle-timeout-ms",
        type=int,
        default=IDLE_TIMEOUT_S * 1000,
        help="close keep-alive connections idle this long, without telling the client",
    )
    parser.add_argument(
        "--service-ms",
        type=int,
        default=0,
        help="every successful answer takes at least this long (the model's inference time)",
    )
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    parser.add_argument("--tls-key", help="private key for --tls-cert")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if not 0 <= args.service_ms <= 600_000:
        parser.error("--service-ms must be between 0 and 600000")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    try:
        args.task = task_from_env()  # from the environment, as the container takes it
    except ValueError as problem:
        parser.error(str(problem))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Loopback only, never an option: the control API has no authentication.
    server = StandinServer(("127.0.0.1", args.port), args)
    host, port = server.server_address[:2]
    if args.tls_cert:
        # The real service is HTTPS only; this lets tests prove the packaged libcurl finds its CA bundle.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)

    def stop(signum, frame):
        server.stopping.set()
        # shutdown() blocks until serve_forever() returns, and serve_forever()
        # runs on this (the main) thread, so it must be called from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        # Write then rename, so a watcher never reads a half-written file.
        temp = f"{args.port_file}.tmp{os.getpid()}"
        with open(temp, "w") as handle:
            handle.write(f"{port}\n")
        os.replace(temp, args.port_file)
    print(f"LISTENING {host}:{port}" + (" TLS" if args.tls_cert else ""), flush=True)

    try:
        # The selector wakes twice a second to notice shutdown(): idle cost
        # is negligible.
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
