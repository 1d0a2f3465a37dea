#!/usr/bin/env python3
"""Scan template.json with checkov: as written, and once per parameter set with the conditions resolved.

checkov ignores resources behind a Condition and cannot evaluate Fn::If, so each set in
PARAMETER_SETS is rendered the way CloudFormation would and scanned too. A checkov skip in a
resource's Metadata may carry "when": CONDITION or "unless": CONDITION (checkov ignores both keys):
it is kept only in the renderings where that condition is true, or false.

Exit status 1 when checkov reports a failed check in any scan; the failures are printed.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Values for parameters without a usable default, and the sets a careful reviewer would deploy.
BASE = {"EndpointName": "summarizer-scan"}
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "default": {},
    "auth-iam": {"AuthMode": "iam"},
    "auth-none": {"AuthMode": "none"},
    "options-on": {"ApiTracing": "true", "ReservedConcurrency": "20", "ConfigureApiGatewayAccount": "true",
                   "KmsKeyArn": KMS_KEY, "CorsAllowedOrigin": "https://news.example.com", "MonthlyBudgetUsd": "100",
                   "BudgetEmail": "ops@example.com", "Architecture": "arm64"},
    "endpoint-hub": {"CreateEndpoint": "true", "HuggingFaceModelRevision": "0123456789abcdef0123456789abcdef01234567"},
    "endpoint-isolated": {"CreateEndpoint": "true", "NetworkIsolation": "true",
                          "ModelDataUrl": "s3://summarizer-models/pegasus/model.tar.gz", "KmsKeyArn": KMS_KEY},
    "managed-instances": {"ManagedInstances": "true", "ManagedInstancesSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
                          "ManagedInstancesSecurityGroupIds": "sg-0123456789abcdef0"},
    "tracing-off": {"Tracing": "false"},
    "alarms-email": {"AlarmEmail": "ops@example.com", "MetricsNamespace": "Team/Summarizer"},
    "alarms-email-kms": {"AlarmEmail": "ops@example.com", "KmsKeyArn": KMS_KEY, "CreateEndpoint": "true",
                         "HuggingFaceModelRevision": "0123456789abcdef0123456789abcdef01234567"},
    "alarms-topic": {"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops-alarms", "AlarmEmail": "ops@example.com"},
}

NO_VALUE = object()
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"


class Renderer:
    def __init__(self, template: dict, parameters: dict[str, str], region: str = "us-east-1"):
        self.template = copy.deepcopy(template)  # skips_that_apply edits Metadata in place
        self.region = region
        declared = template.get("Parameters", {})
        if unknown := set(parameters) - set(declared):
            raise SystemExit(f"scan-template: unknown parameters {sorted(unknown)}")
        self.parameters = {name: str(parameters[name] if name in parameters else spec["Default"])
                           for name, spec in declared.items() if name in parameters or "Default" in spec}
        self.conditions: dict[str, bool] = {}  # evaluated when first used

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = self.evaluate(self.template["Conditions"][name])
        return self.conditions[name]

    def evaluate(self, node) -> bool:
        (function, arguments), = node.items()
        if function == "Condition":
            return self.condition(arguments)
        if function == "Fn::Equals":
            # Each operand is a literal or a Ref to a parameter or to the region.
            values = {**self.parameters, "AWS::Region": self.region}
            left, right = (values[a["Ref"]] if isinstance(a, dict) else a for a in arguments)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.evaluate(arguments[0])
        if function == "Fn::And":
            return all(self.evaluate(a) for a in arguments)
        if function == "Fn::Or":
            return any(self.evaluate(a) for a in arguments)
        raise SystemExit(f"scan-template: cannot evaluate condition {node}")

    def render(self, node):
        if isinstance(node, list):
            rendered = (self.render(item) for item in node)
            return [item for item in rendered if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return self.render(when_true if self.condition(name) else when_false)
        if set(node) == {"Ref"}:
            name = node["Ref"]
            if name == "AWS::NoValue":
                return NO_VALUE
            if name in self.parameters:
                value = self.parameters[name]
                kind = self.template["Parameters"][name]["Type"]
                if kind == "CommaDelimitedList":
                    return [item.strip() for item in str(value).split(",") if item.strip()]
                return int(value) if kind == "Number" and value.lstrip("-").isdigit() else value
            return node
        rendered = {key: self.render(value) for key, value in node.items()}
        return {key: value for key, value in rendered.items() if value is not NO_VALUE}

    def kept(self, items: dict) -> dict:
        """The items (resources, outputs) whose Condition holds, without their Condition."""
        return {name: {key: value for key, value in item.items() if key != "Condition"}
                for name, item in items.items() if "Condition" not in item or self.condition(item["Condition"])}

    def skips_that_apply(self, metadata: dict) -> None:
        skips = metadata.get("checkov", {}).get("skip")
        if isinstance(skips, list):
            metadata["checkov"]["skip"] = [skip for skip in skips
                                           if ("when" not in skip or self.condition(skip["when"]))
                                           and ("unless" not in skip or not self.condition(skip["unless"]))]

    def rendered_template(self) -> dict:
        out = {key: value for key, value in self.template.items()
               if key not in ("Conditions", "Rules", "Resources", "Outputs")}
        out["Resources"] = resources = self.kept(self.template["Resources"])
        for resource in resources.values():
            if "Metadata" in resource:
                self.skips_that_apply(resource["Metadata"])
            if "Properties" in resource:
                resource["Properties"] = self.render(resource["Properties"])
            if isinstance(resource.get("DependsOn"), list):
                resource["DependsOn"] = [name for name in resource["DependsOn"] if name in resources]
        outputs = self.kept(self.template.get("Outputs", {}))
        out["Outputs"] = {name: self.render(output) for name, output in outputs.items()}
        return out


def render(template: dict, parameters: dict[str, str], region: str = "us-east-1") -> dict:
    return Renderer(template, {**BASE, **parameters}, region).rendered_template()


def parameters_read(template: dict, node, seen: frozenset = frozenset()) -> set[str]:
    """Parameters a piece of template reads, directly (Ref) or through the conditions it uses."""
    if isinstance(node, list):
        return set().union(*(parameters_read(template, value, seen) for value in node))
    if not isinstance(node, dict):
        return set()
    found = {node["Ref"]} & set(template["Parameters"]) if set(node) == {"Ref"} else set()
    names = {node["Fn::If"][0]} if "Fn::If" in node else set()
    if set(node) == {"Condition"} and isinstance(node["Condition"], str):
        names.add(node["Condition"])
    for name in names - seen:
        found |= parameters_read(template, template["Conditions"][name], seen | {name})
    return found.union(*(parameters_read(template, value, seen) for value in node.values()))


def checkov(path: Path) -> dict:
    """checkov's JSON report for one file. --skip-download: no network (no Prisma Cloud look-ups)."""
    result = subprocess.run([CHECKOV, "--file", str(path), "--framework", "cloudformation", "--output", "json",
                             "--quiet", "--skip-download", "--compact"],
                            capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"scan-template: checkov gave no JSON report for {path} (exit {result.returncode}):\n"
                         f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    if isinstance(report, list):  # one report per framework; only cloudformation ran
        [report] = report
    if "summary" not in report:  # --quiet with nothing to report prints an empty summary only
        report = {"summary": report, "results": {"failed_checks": []}}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "template.json")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".build" / "checkov")
    parser.add_argument("--sets", help="comma-separated names from PARAMETER_SETS to render (default: all)")
    args = parser.parse_args()
    chosen = args.sets.split(",") if args.sets else list(PARAMETER_SETS)
    if set(chosen) - set(PARAMETER_SETS):
        parser.error(f"unknown parameter sets {sorted(set(chosen) - set(PARAMETER_SETS))}")

    template = json.loads(args.template.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    scans = {"template.json (as written)": args.template}
    for name in chosen:
        parameters = PARAMETER_SETS[name]
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(render(template, parameters), indent=2) + "\n")
        scans[f"{name} {' '.join(f'{k}={v}' for k, v in parameters.items()) or '(defaults)'}"] = path

    failures = 0
    for label, path in scans.items():
        report = checkov(path)
        summary = report["summary"]
        print(f"checkov {label}: passed {summary['passed']}, failed {summary['failed']}, skipped {summary['skipped']}")
        for check in report["results"].get("failed_checks", []):
            print(f"  FAILED {check['check_id']} {check['resource']}: {check['check_name']}")
        failures += summary["failed"]
    if failures:
        print(f"scan-template: {failures} checkov finding(s): fix them, or skip them in template.json with the reason")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
