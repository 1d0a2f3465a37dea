"""docs/openapi.json: a valid OpenAPI 3.1 document that agrees with README and with the function's
answers.  That it agrees with the Swift parameter table is ParameterDocumentationTests' job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

import proxy_events
from conftest import invoke_json

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((REPO / "docs" / "openapi.json").read_text())
README = (REPO / "README.md").read_text()
OPERATION = DOCUMENT["paths"]["/summarize"]["post"]


def resolved(node):
    """NODE with every local $ref replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = DOCUMENT
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolved(target) | {k: resolved(v) for k, v in node.items() if k != "$ref"}
        return {key: resolved(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(item) for item in node]
    return node


def response_schema(status: int) -> dict:
    return resolved(OPERATION["responses"][str(status)]["content"]["application/json"]["schema"])


def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1.")


def readme_table(heading: str) -> list[list[str]]:
    """The cells of the first table after HEADING."""
    section = README.split(heading, 1)[1]
    rows, started = [], False
    for line in section.splitlines():
        if line.startswith("|"):
            started = True
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif started:
            break
    return rows[2:]  # header and rule


def test_readme_and_the_document_list_the_same_parameters():
    in_readme = [re.fullmatch(r"`(\w+)`", row[0])[1] for row in readme_table("### Generation parameters")]
    schemas = DOCUMENT["components"]["schemas"]
    assert sorted(in_readme) == sorted(set(schemas["Parameters"]["properties"]) - {"generate_parameters"})
    assert sorted(in_readme) == sorted(schemas["GenerateParameters"]["properties"])
    for row in readme_table("### Generation parameters"):
        name = row[0].strip("`")
        schema = schemas["Parameters"]["properties"][name]
        # The README's bounds are the document's.
        for bound in ("minimum", "maximum", "exclusiveMinimum"):
            if bound in schema:
                assert re.search(rf"\b{schema[bound]}\b", row[1]), (name, row[1], schema)


def test_readme_and_the_document_give_every_error_the_same_status():
    in_readme = set()
    for row in readme_table("## HTTP answers"):
        error_type = row[2].strip("`")
        for status in re.findall(r"\d{3}", row[1]):
            in_readme.add((int(status), error_type))
    in_document = {(int(status), error_type)
                   for status, answer in OPERATION["responses"].items() if status.startswith(("4", "5"))
                   for error_type in response_schema(int(status))["allOf"][1]["properties"]["error_type"]["enum"]}
    assert in_readme == in_document


def conforms(status: int, body: dict):
    OAS31Validator(response_schema(status)).validate(body)


@pytest.mark.parametrize("example", OPERATION["requestBody"]["content"]["application/json"]["examples"])
def test_the_documents_examples_are_summarised(function, standin, example):
    payload = OPERATION["requestBody"]["content"]["application/json"]["examples"][example]["value"]
    response = invoke_json(function, proxy_events.http_v2(json.dumps(payload)))
    assert response["statusCode"] == 200, response["body"]
    conforms(200, json.loads(response["body"]))
    OAS31Validator(resolved(DOCUMENT["components"]["schemas"]["Payload"])).validate(payload)


REFUSED = {
    400: lambda: proxy_events.http_v2('{"inputs": "x", "parameters": {"custom_generate": "org/repo"}}'),
    405: lambda: proxy_events.rest_v1(None, method="GET"),
    413: lambda: proxy_events.http_v2(b'"' * 3_300_000, headers={"content-type": "text/plain"}),
    415: lambda: proxy_events.rest_v1("x", headers={"Content-Type": "application/xml"}),
}


@pytest.mark.parametrize("status", REFUSED)
def test_error_bodies_conform(function, standin, status):
    response = invoke_json(function, REFUSED[status]())
    assert response["statusCode"] == status
    conforms(status, json.loads(response["body"]))


@pytest.mark.parametrize("plan, status", [(dict(mode="model_not_ready"), 503), (dict(mode="model_error", status=400), 502),
                                          (dict(mode="throttle"), 429)])
def test_upstream_error_bodies_conform(function, standin, plan, status):
    standin.faults(**plan)
    response = invoke_json(function, proxy_events.http_v2(json.dumps({"inputs": "Copper rose."})))
    assert response["statusCode"] == status
    body = json.loads(response["body"])
    conforms(status, body)
    assert ("estimated_time" in body) == (status == 503)
    assert ("modelStatusCode" in body) == (status == 502)
