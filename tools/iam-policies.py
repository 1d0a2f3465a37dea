#!/usr/bin/env python3
"""The deployer's IAM documents, filled in for one account, and the IAM scans of them and of the stack's roles.

  tools/iam-policies.py render ACCOUNT REGION ENDPOINT [--create-endpoint] [--model-data-url s3://b/k]
                               [--managed-instances] [--inference-image URI] [--out DIR]
      writes deployer-policy.json, (with --create-endpoint) deployer-policy-endpoint.json and
      deployer-boundary.json for that deployment: the boundary keeps only the statements its roles
      need (S3 only with a ModelDataUrl, EC2 only with Managed Instances, ...).
  tools/iam-policies.py scan [--out DIR]
      renders those documents and every role of template.json for each parameter set of
      tools/scan-template.py with a sample account and region, and runs cloudsplaining and
      parliament (.tools/iam, tools/install-deps.sh) on each; exit 1 on a finding above LOW.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
IAM_PYTHON = REPO_ROOT / ".tools" / "iam" / "bin" / "python"
SAMPLE = {"account": "123456789012", "region": "eu-west-1", "endpoint": "pegasus-financial-summarizer",
          "stack": "sagemaker-summarizer"}
DEFAULT_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1.0-transformers4.37.0-cpu-py310-ubuntu22.04"

_spec = importlib.util.spec_from_file_location("scan_template", REPO_ROOT / "tools" / "scan-template.py")
scan_template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scan_template)

# ecr:GetAuthorizationToken has no resource-level permissions (Resource must be "*"); the token it
# returns pulls only what the role's other ECR statements allow, one repository. cloudsplaining
# calls every such action "credentials exposure" (high) whatever else the policy says.
CLOUDSPLAINING_EXCLUSIONS = {"exclude-actions": ["ecr:GetAuthorizationToken"]}


def fill(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    if left := {p for p in re.findall(r"\b[A-Z][A-Z]+_[A-Z_]+\b", text) if p != "REGION"} | set(re.findall(r"\bREGION\b", text)):
        raise SystemExit(f"iam-policies: placeholders left unfilled: {sorted(left)}")
    return text


def render_documents(account: str, region: str, endpoint: str, create_endpoint: bool = False,
                     model_data_url: str = "", managed_instances: bool = False,
                     inference_image: str = DEFAULT_IMAGE) -> dict[str, dict]:
    """The deployer's documents for one deployment, keyed by file name."""
    image_account, _, _, image_region, *_ = inference_image.split("/")[0].split(".")
    repository = inference_image.split("/", 1)[1].split(":")[0]
    bucket, _, key = model_data_url.removeprefix("s3://").partition("/")
    values = {"ACCOUNT_ID": account, "REGION": region, "ENDPOINT_NAME": endpoint,
              "INFERENCE_IMAGE_ACCOUNT": image_account, "INFERENCE_IMAGE_REPOSITORY": repository,
              "MODEL_DATA_BUCKET": bucket, "MODEL_DATA_KEY": key}
    kept = {"OnlyWithCreateEndpoint": create_endpoint, "OnlyWithModelDataUrl": create_endpoint and bool(model_data_url),
            "OnlyWithManagedInstances": managed_instances}
    boundary = json.loads((DOCS / "deployer-boundary.json").read_text())
    boundary["Statement"] = [s for s in boundary["Statement"]
                             if all(keep or not s["Sid"].startswith(prefix) for prefix, keep in kept.items())]
    # The images of a region other than the stack's (the default URI names us-east-1) are pulled there.
    documents = {"deployer-boundary.json": json.loads(fill(json.dumps(boundary), values).replace(
        f"arn:aws:ecr:{region}:{image_account}:", f"arn:aws:ecr:{image_region}:{image_account}:"))}
    names = ["deployer-policy.json"] + (["deployer-policy-endpoint.json"] if create_endpoint else [])
    for name in names:
        documents[name] = json.loads(fill((DOCS / name).read_text(), values))
    return documents


# --------------------------------------------------------------------------
# The stack's roles, as CloudFormation would create them


def resolve(node, context: dict):
    """Fn::Sub, Fn::Select, Fn::Split, Ref and the Fn::GetAtt the roles use, for a rendered template."""
    if isinstance(node, list):
        return [resolve(item, context) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::Sub"}:
        text, extra = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        names = {**context, **{k: resolve(v, context) for k, v in extra.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m.group(1)]), text)
    if set(node) == {"Fn::Select"}:
        index, items = node["Fn::Select"]
        return resolve(items, context)[index]
    if set(node) == {"Fn::Split"}:
        separator, text = node["Fn::Split"]
        return resolve(text, context).split(separator)
    if set(node) == {"Ref"}:
        return context[node["Ref"]]
    if set(node) == {"Fn::GetAtt"}:
        return context[".".join(node["Fn::GetAtt"])]
    return {key: resolve(value, context) for key, value in node.items()}


def role_documents(parameter_set: str, account: str = SAMPLE["account"], region: str = SAMPLE["region"],
                   endpoint: str = SAMPLE["endpoint"]) -> dict[str, dict]:
    """Each inline policy of each role the parameter set creates (in the role, or an
    AWS::IAM::RolePolicy naming it), resolved, keyed role/policy."""
    template = json.loads((REPO_ROOT / "template.json").read_text())
    parameters = {**scan_template.BASE, **scan_template.PARAMETER_SETS[parameter_set], "EndpointName": endpoint}
    renderer = scan_template.Renderer(template, parameters, region)
    rendered = renderer.rendered_template()
    stack = SAMPLE["stack"]
    context = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account, "AWS::StackName": stack,
               "AWS::URLSuffix": "amazonaws.com", "FunctionLogGroup.Arn":
               f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{stack}:*"}
    context.update(renderer.parameters)
    documents = {}
    for name, resource in rendered["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                documents[f"{name}/{policy['PolicyName']}"] = resolve(policy["PolicyDocument"], context)
        elif resource["Type"] == "AWS::IAM::RolePolicy":
            policy = resource["Properties"]
            role = policy["RoleName"]["Ref"]
            documents[f"{role}/{policy['PolicyName']}"] = resolve(policy["PolicyDocument"], context)
    return documents


# --------------------------------------------------------------------------
# The scans

SCANNER = r"""
import json, sys
from cloudsplaining.command.scan_policy_file import scan_policy
from parliament import analyze_policy_string, enhance_finding
exclusions = json.loads(sys.argv[1])
report = {}
for path in sys.argv[2:]:
    text = open(path).read()
    found = []
    for kind, result in scan_policy(json.loads(text), exclusions).items():
        if isinstance(result, dict) and result.get("findings"):
            found.append({"tool": "cloudsplaining", "issue": kind, "severity": result["severity"].upper(),
                          "detail": result["findings"]})
    for finding in map(enhance_finding, analyze_policy_string(text).findings):
        found.append({"tool": "parliament", "issue": finding.issue, "severity": finding.severity,
                      "detail": finding.detail, "location": str(finding.location)})
    report[path] = found
print(json.dumps(report))
"""

ABOVE_LOW = {"MEDIUM", "HIGH", "CRITICAL"}

# Parliament findings above LOW that are wrong about these documents, each with the reason; a
# finding matches an entry when its issue is the same and its detail contains the text.
# tests/deploy/test_iam.py fails on an entry that no longer matches anything.
PARLIAMENT_REVIEWED = [
    ("RESOURCE_MISMATCH", "ec2:RunInstances",
     "AWS's AWSLambdaManagedEC2ResourceOperator splits ec2:RunInstances over three statements, as the "
     "boundary does: ec2:ManagedResourceOperator exists only on the instance, its volumes and network "
     "interfaces, so the subnet, security group and image cannot share their statement."),
    ("UNKNOWN_CONDITION_FOR_ACTION", "ec2:ManagedResourceOperator",
     "AWS's AWSLambdaManagedEC2ResourceOperator uses this condition on ec2:CreateTags; parliament 1.6.4's "
     "action database predates Lambda Managed Instances."),
]


def reviewed(finding: dict) -> str | None:
    for issue, text, reason in PARLIAMENT_REVIEWED:
        if finding["tool"] == "parliament" and finding["issue"] == issue and text in json.dumps(finding["detail"]):
            return reason
    return None


def scan(paths: list[Path]) -> dict[str, list[dict]]:
    if not IAM_PYTHON.exists():
        raise SystemExit(f"iam-policies: {IAM_PYTHON} is missing: run tools/install-deps.sh")
    result = subprocess.run([str(IAM_PYTHON), "-c", SCANNER, json.dumps(CLOUDSPLAINING_EXCLUSIONS), *map(str, paths)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"iam-policies: the scanners failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def write_all(out: Path) -> list[Path]:
    """Every document a deployer or the stack's roles can hold, rendered with the sample account."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    every = render_documents(SAMPLE["account"], SAMPLE["region"], SAMPLE["endpoint"], create_endpoint=True,
                             model_data_url="s3://summarizer-models/pegasus/model.tar.gz", managed_instances=True)
    for name, document in every.items():
        paths.append(out / name)
        paths[-1].write_text(json.dumps(document, indent=2))
    seen = set()
    for parameter_set in scan_template.PARAMETER_SETS:
        for name, document in role_documents(parameter_set).items():
            text = json.dumps(document, indent=2, sort_keys=True)
            if text in seen:
                continue
            seen.add(text)
            paths.append(out / f"role-{parameter_set}-{name.replace('/', '-')}.json")
            paths[-1].write_text(text)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render")
    render.add_argument("account")
    render.add_argument("region")
    render.add_argument("endpoint")
    render.add_argument("--create-endpoint", action="store_true")
    render.add_argument("--model-data-url", default="")
    render.add_argument("--managed-instances", action="store_true")
    render.add_argument("--inference-image", default=DEFAULT_IMAGE)
    render.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "iam")
    scanning = commands.add_parser("scan")
    scanning.add_argument("--out", type=Path, default=REPO_ROOT / ".build" / "iam")
    args = parser.parse_args()

    if args.command == "render":
        args.out.mkdir(parents=True, exist_ok=True)
        for name, document in render_documents(args.account, args.region, args.endpoint, args.create_endpoint,
                                               args.model_data_url, args.managed_instances,
                                               args.inference_image).items():
            (args.out / name).write_text(json.dumps(document, indent=2) + "\n")
            print(args.out / name)
        return 0

    report = scan(write_all(args.out))
    failures = 0
    for path, findings in report.items():
        high = [f for f in findings if f["severity"] in ABOVE_LOW and not reviewed(f)]
        failures += len(high)
        print(f"iam {Path(path).name}: {len(findings)} finding(s), {len(high)} above LOW")
        for finding in findings:
            note = " (reviewed: PARLIAMENT_REVIEWED)" if reviewed(finding) else ""
            print(f"  {finding['severity']} {finding['tool']} {finding['issue']}{note}: {json.dumps(finding['detail'])[:300]}")
    if failures:
        print(f"iam-policies: {failures} finding(s) above LOW")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
