#!/usr/bin/env python3
"""Generate SigV4 test vectors for SageMaker InvokeEndpoint requests, signed by botocore.

Every vector is a request shaped like the ones SageMakerRuntimeClient signs: POST to
`{base path}/endpoints/{name}/invocations`, headers Host, Content-Type, then the optional
InvokeEndpoint headers in the client's order, service `sagemaker`. botocore's own `SigV4Auth`
(AWS's Python implementation) signs it at a pinned instant, and the vector records the inputs
exactly as the Swift code passes them plus botocore's canonical request, string to sign,
signature and added headers. Tests/SigV4Tests/BotocoreCrossCheckTests.swift checks the Swift
signer against them.

The output is deterministic for a given seed, count and botocore version. Large bodies are
stored as a repeated pattern (`{"repeat_base64": unit, "length": n}`), every other body as
`{"base64": ...}`.
"""

import argparse
import base64
import datetime
import json
import os
import random
import string
import sys
import time
from unittest import mock

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "sagemaker"
DEFAULT_SEED = 20240229
LARGE_BODY_BYTES = 200 * 1024

REGIONS = [
    "us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "eu-north-1",
    "ap-southeast-1", "ap-southeast-5", "ap-northeast-1", "ap-south-1", "sa-east-1", "ca-central-1",
    "me-south-1", "af-south-1", "il-central-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1",
    "us-gov-east-1",
]

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "  application/json ;   charset=utf-8  ",
    "text/plain; charset=utf-8",
    "text/csv",
    "application/jsonlines",
    "application/x-npy",
    "application/octet-stream",
    "application/x-text",
    "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
]

BASE_PATHS = ["/prod", "/v1/sagemaker", "/proxy/runtime-api", "/a_b.c~d", "/api/v1.0", "/stage-01/x/y"]

# Fixed instants: year, day, month and leap-day boundaries, the 2038 rollover, the AWS suite's time.
FIXED_EPOCHS = [
    0,            # 1970-01-01T00:00:00Z
    946684799,    # 1999-12-31T23:59:59Z
    946684800,    # 2000-01-01T00:00:00Z
    951782399,    # 2000-02-28T23:59:59Z
    951868799,    # 2000-02-29T23:59:59Z
    1440938160,   # 2015-08-30T12:36:00Z
    1709251199,   # 2024-02-29T23:59:59Z
    1709251200,   # 2024-03-01T00:00:00Z
    1767225599,   # 2025-12-31T23:59:59Z
    1767225600,   # 2026-01-01T00:00:00Z
    2147483647,   # 2038-01-19T03:14:07Z
    2147483648,   # 2038-01-19T03:14:08Z
    4102444799,   # 2099-12-31T23:59:59Z
]

UNICODE_SNIPPETS = [
    "héllo wörld", "日本語のテキスト", "Ελληνικά", "русский текст", "עברית ומספרים 123",
    "العربية", "emoji 🦊🚀👩‍💻", "combining e\u0301 and a\u0308", "zero\u200bwidth", "tab\tinside",
    "nul\u0000byte", "surrogate-free 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "BOM \ufeff mark", "line\u2028separator",
]

PRINTABLE_NO_SPACE = "".join(c for c in string.printable if not c.isspace())


# MARK: Inputs


def endpoint_name(rng, index):
    """A valid SageMaker endpoint name: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$."""
    alnum = string.ascii_letters + string.digits
    length = {0: 1, 1: 63, 2: 2}.get(index, rng.choice([rng.randint(1, 12), rng.randint(3, 40), rng.randint(40, 63)]))
    if length == 1:
        return rng.choice(alnum)
    middle = "".join(rng.choice(alnum + "---") for _ in range(length - 2))
    return rng.choice(alnum) + middle + rng.choice(alnum)


def dns_suffix(region):
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


HOST_KINDS = ["aws", "aws", "aws", "fips", "vpce", "ipv4", "localhost", "ipv6", "proxy"]  # AWS's own hosts 3 times


def base_url(rng, region):
    """(kind, scheme://authority) for one of the hosts the client is pointed at."""
    kind = rng.choice(HOST_KINDS)
    if kind == "fips" and not region.startswith("us-"):
        kind = "aws"
    port = rng.choice([rng.randint(1024, 65535), 8080, 9000, 18080])
    if kind == "aws":
        return kind, f"https://runtime.sagemaker.{region}.{dns_suffix(region)}"
    if kind == "fips":
        return kind, f"https://runtime-fips.sagemaker.{region}.amazonaws.com"
    if kind == "vpce":
        vpce_id = "".join(rng.choice("0123456789abcdef") for _ in range(17))
        suffix = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        return kind, f"https://vpce-{vpce_id}-{suffix}.runtime.sagemaker.{region}.vpce.{dns_suffix(region)}"
    local = {"ipv4": "127.0.0.1", "localhost": "localhost", "ipv6": "[::1]"}
    if kind in local:
        return kind, f"http://{local[kind]}:{port}"
    return kind, f"https://sagemaker-proxy.internal.example.com:{rng.choice([8443, 9443, 4443])}"


def access_key(rng, temporary):
    return ("ASIA" if temporary else "AKIA") + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def secret_key(rng):
    alphabet = string.ascii_letters + string.digits + "/+"
    key = [rng.choice(alphabet) for _ in range(40)]
    key[rng.randrange(40)] = "/"
    key[rng.randrange(40)] = "+"
    return "".join(key)


def session_token(rng):
    """Base64 like an STS token, with `/`, `+` and `=` padding, 20 to 900 characters."""
    while True:
        raw = bytes(rng.randrange(256) for _ in range(rng.choice([14, 50, 200, 400, 640]) + rng.randrange(3)))
        token = "IQoJb3JpZ2luX2Vj" + base64.b64encode(raw).decode()
        if "/" in token and "+" in token and token.endswith("=") or len(raw) < 20:
            return token


def printable(rng, length, allow_spaces=True):
    alphabet = PRINTABLE_NO_SPACE + ("   " if allow_spaces else "")
    return rng.choice(PRINTABLE_NO_SPACE) + "".join(rng.choice(alphabet) for _ in range(length - 1))


# Headers the client may add after Host and Content-Type, in the order it adds them
# (InvokeEndpointRequest.optionalHeaders, X-Amzn-Trace-Id excepted: it goes on unsigned),
# each with the values to pick from.
OPTIONAL_HEADERS = {
    "Accept": lambda rng: ["application/json", "*/*", "text/csv, application/json;q=0.9", "application/jsonlines",
                           "application/json; charset=utf-8", "  text/plain  "],
    "X-Amzn-SageMaker-Custom-Attributes": lambda rng: [
        "a=1,  b=2  ", "  trace_id=abc  ", "accept_eula=true", "k=v\t\tw=x", "c000b4f9-df62-4c85-a0bf-7c525f9104a4",
        "x=1 , y = 2 ,z=3", "\ta=1\t", printable(rng, rng.randint(1, 1024)),
    ],
    "X-Amzn-SageMaker-Target-Model": lambda rng: [
        "model.tar.gz", "models/v2/model.tar.gz", "model-A  B.tar.gz", printable(rng, rng.randint(1, 200))],
    "X-Amzn-SageMaker-Target-Variant": lambda rng: ["AllTraffic", "variant-1", "blue--green", "V2"],
    "X-Amzn-SageMaker-Target-Container-Hostname": lambda rng: ["container-1", "secondContainer", "c"],
    "X-Amzn-SageMaker-Inference-Id": lambda rng: [
        "req-0001", "id with  two  spaces", printable(rng, rng.randint(1, 64))],
    "X-Amzn-SageMaker-Enable-Explanations": lambda rng: ["`true`", "`false`", "[?label=='cat'] | length(@) > `0`"],
    "X-Amzn-SageMaker-Inference-Component": lambda rng: ["ic-llama-3", "my_component.v2", "IC1"],
    "X-Amzn-SageMaker-Session-Id": lambda rng: ["NEW_SESSION", "sess-5f0c1e0e-3b2a-4a8e-9d51-0a7e1c2b3d4f"],
}


def trace_id(rng):
    return f"Root=1-{rng.randrange(16**8):08x}-{rng.randrange(16**24):024x};Parent={rng.randrange(16**16):016x};Sampled=1"


def body(rng, kind):
    """(spec stored in the vector, the bytes it stands for)."""
    if kind == "large":
        unit = rng.choice(["The quick brown fox 🦊 jumps over the lazy dog.\n", '{"text": "Zürich – 東京"}\r\n', "abc"])
        unit_bytes = unit.encode()
        data = (unit_bytes * (LARGE_BODY_BYTES // len(unit_bytes) + 1))[:LARGE_BODY_BYTES]
        return {"repeat_base64": base64.b64encode(unit_bytes).decode(), "length": LARGE_BODY_BYTES}, data
    if kind == "empty":
        data = b""
    elif kind == "json":
        data = json.dumps({"inputs": printable(rng, rng.randint(1, 80)),
                           "parameters": {"max_new_tokens": rng.randint(1, 4096), "temperature": rng.random()}}).encode()
    elif kind == "unicode-json":
        data = json.dumps({"inputs": " ".join(rng.sample(UNICODE_SNIPPETS, 3))}, ensure_ascii=False).encode()
    elif kind == "unicode-text":
        data = " ".join(rng.choice(UNICODE_SNIPPETS) for _ in range(rng.randint(1, 8))).encode()
    elif kind == "newlines":
        lines = [printable(rng, rng.randint(1, 40)) for _ in range(rng.randint(2, 6))]
        data = rng.choice(["\n", "\r\n", "\r"]).join(lines).encode() + rng.choice([b"", b"\n", b"\r\n", b"\n\n"])
    elif kind == "jsonlines":
        data = "".join(json.dumps({"id": i, "text": rng.choice(UNICODE_SNIPPETS)}, ensure_ascii=False) + "\n"
                       for i in range(rng.randint(1, 5))).encode()
    elif kind == "csv":
        data = "\n".join(",".join(str(rng.uniform(-1, 1)) for _ in range(4)) for _ in range(rng.randint(1, 5))).encode()
    elif kind == "binary":
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 2048)))
    elif kind == "medium":
        data = printable(rng, rng.randint(1024, 3072)).encode()
    else:
        raise ValueError(kind)
    return {"base64": base64.b64encode(data).decode()}, data


BODY_KINDS = ["empty", "json", "unicode-json", "unicode-text", "newlines", "jsonlines", "csv", "binary", "medium"]


def epoch_seconds(rng, index):
    if index < len(FIXED_EPOCHS):
        return FIXED_EPOCHS[index]
    pick = rng.random()
    if pick < 0.4:
        # A day boundary on a random day between 2010 and 2099.
        day = rng.randint(14610, 47481)
        return day * 86400 + rng.choice([-1, 0, 1])
    return rng.randint(1262304000, 4102444799)  # 2010 .. 2099


# MARK: Signing


class CapturingSigV4Auth(SigV4Auth):
    """botocore's SigV4Auth, keeping what add_auth computed along the way."""

    def string_to_sign(self, request, canonical_request):
        self.captured_canonical_request = canonical_request
        self.captured_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.captured_string_to_sign


def sign_with_botocore(url, headers, unsigned_headers, data, credentials, region, epoch):
    request = AWSRequest(method="POST", url=url, data=data, headers=dict(headers + unsigned_headers))
    auth = CapturingSigV4Auth(credentials, SERVICE, region)
    instant = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).replace(tzinfo=None)
    # add_auth reads the clock through botocore.auth.get_current_datetime (botocore 1.3x-1.4x).
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=instant):
        auth.add_auth(request)
    expected_stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))
    if request.context.get("timestamp") != expected_stamp:
        sys.exit(f"botocore did not sign at the pinned time: {request.context.get('timestamp')} != {expected_stamp}")

    # What botocore signed, added and hashed is for the Swift test to compare, not checked here.
    original = {name.lower() for name, _ in headers + unsigned_headers}
    added = [[name, value] for name, value in request.headers.items() if name.lower() not in original]
    return {
        "payload_hash": auth.payload(request),
        "canonical_request": auth.captured_canonical_request,
        "string_to_sign": auth.captured_string_to_sign,
        "signature": request.headers["Authorization"].rsplit("Signature=", 1)[1],
        "added_headers": added,
    }


# MARK: Vectors


def make_vector(rng, index, count):
    region = rng.choice(REGIONS)
    host_kind, base = base_url(rng, region)
    base_path = rng.choice(BASE_PATHS) if rng.random() < 0.3 else ""
    name = endpoint_name(rng, index)
    path = f"{base_path}/endpoints/{name}/invocations"
    authority = base.split("://", 1)[1]
    url = base + path
    # The client signs the authority as configured; botocore would derive the same Host from the URL.
    assert botocore.auth._host_from_url(url) == authority, (url, authority)

    large_indices = {7, 150, 293} if count >= 300 else {count // 2}
    body_kind = "large" if index in large_indices else rng.choice(BODY_KINDS)
    body_spec, data = body(rng, body_kind)

    temporary = rng.random() < 0.6
    credentials = Credentials(access_key(rng, temporary), secret_key(rng), session_token(rng) if temporary else None)
    epoch = epoch_seconds(rng, index)

    headers = [["Host", authority], ["Content-Type", rng.choice(CONTENT_TYPES)]]
    for header, values in OPTIONAL_HEADERS.items():
        if rng.random() < 0.35:
            headers.append([header, rng.choice(values(rng))])
    unsigned = [["X-Amzn-Trace-Id", trace_id(rng)]] if rng.random() < 0.3 else []

    expected = sign_with_botocore(
        url, [tuple(h) for h in headers], [tuple(h) for h in unsigned], data, credentials, region, epoch)

    vector = {
        "id": f"{index:03d}-{host_kind}-{region}-{body_kind}",
        "method": "POST",
        "path": path,
        "headers": headers,
        "unsigned_headers": unsigned,
        "body": body_spec,
        "region": region,
        "service": SERVICE,
        "credentials": {"access_key_id": credentials.access_key, "secret_access_key": credentials.secret_key},
        "epoch_seconds": epoch,
        "expected": expected,
    }
    if credentials.token:
        vector["credentials"]["session_token"] = credentials.token
    features = {region, host_kind, body_kind, *(name for name, _ in headers[2:]),
                ("base path", bool(base_path)), ("token", temporary), ("trace", bool(unsigned))}
    return vector, features


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="where to write the JSON vectors")
    parser.add_argument("--count", type=int, default=300, help="number of vectors (default 300)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    rng = random.Random(args.seed)
    vectors, coverage = [], set()
    for index in range(args.count):
        vector, features = make_vector(rng, index, args.count)
        vectors.append(vector)
        coverage |= features

    if args.count >= 300:
        # Every dimension must actually vary, or the cross-check covers less than it claims.
        missing = {*REGIONS, *HOST_KINDS, *BODY_KINDS, "large", *OPTIONAL_HEADERS,
                   *((flag, on) for flag in ("base path", "token", "trace") for on in (True, False))} - coverage
        if missing:
            sys.exit(f"seed {args.seed} leaves these uncovered: {sorted(map(str, missing))}")

    document = {
        "description": "SigV4 vectors for SageMaker InvokeEndpoint requests, signed by botocore's SigV4Auth. "
                       "Regenerate with: python3 tools/gen_sigv4_vectors.py Tests/SigV4Tests/Fixtures/botocore-vectors.json",
        "botocore_version": botocore.__version__,
        "seed": args.seed,
        "count": len(vectors),
        "vectors": vectors,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1, ensure_ascii=False)
        out.write("\n")
    print(f"wrote {len(vectors)} vectors signed by botocore {botocore.__version__} to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
