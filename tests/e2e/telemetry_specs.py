"""The published formats the function's telemetry must follow, as checks: CloudWatch's embedded
metric format (EMF) and X-Ray's segment documents. The JSON schemas in tests/schemas hold what a
schema can say; the rest of each specification (members a directive names must exist in the
record, with the right types; the daemon's header line) is checked here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EMF_SCHEMA = json.loads((SCHEMAS / "emf.schema.json").read_text())
XRAY_SCHEMA = json.loads((SCHEMAS / "xray-segment.schema.json").read_text())
# The X-Ray daemon reads a header line, then the document, in one datagram.
XRAY_DAEMON_HEADER = {"format": "json", "version": 1}
# Most values one metric may carry in an array (EMF specification).
MAX_VALUES_PER_METRIC = 100


def emf_records(output: str) -> list[dict]:
    """Every EMF record in a function's output: JSON lines with an `_aws` member."""
    records = []
    for line in output.splitlines():
        start = line.find('{"_aws"')
        if start >= 0:
            records.append(json.loads(line[start:]))
    return records


def check_emf(record: dict) -> None:
    """Raises AssertionError (or jsonschema's ValidationError) when RECORD breaks the specification."""
    jsonschema.validate(record, EMF_SCHEMA, cls=jsonschema.Draft202012Validator)
    for directive in record["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                # A dimension's target member MUST be a string value.
                assert isinstance(record.get(name), str), f"dimension {name!r} is not a string member"
                assert 1 <= len(record[name]) <= 1024, f"dimension {name!r} value is not 1-1024 characters"
        for metric in directive["Metrics"]:
            name = metric["Name"]
            assert name in record, f"metric {name!r} has no member in the record"
            value = record[name]
            values = value if isinstance(value, list) else [value]
            assert len(values) <= MAX_VALUES_PER_METRIC, f"metric {name!r} has more than 100 values"
            for one in values:
                assert isinstance(one, (int, float)) and not isinstance(one, bool), f"metric {name!r} is not a number"
                assert math.isfinite(one), f"metric {name!r} is not finite"


def parse_daemon_datagram(datagram: bytes) -> dict:
    """The document of a datagram sent to the X-Ray daemon, after checking its header line."""
    header, separator, document = datagram.decode("utf-8").partition("\n")
    assert separator, "no header line"
    assert json.loads(header) == XRAY_DAEMON_HEADER
    assert len(datagram) <= 64 * 1024, "over X-Ray's 64 kB document limit"
    return json.loads(document)


def check_subsegment(document: dict) -> None:
    jsonschema.validate(document, XRAY_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert document["start_time"] <= document["end_time"]
