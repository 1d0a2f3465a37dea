"""docs/deployer-*.json and the stack's roles: cloudsplaining and parliament (tools/iam-policies.py
scan), what a deployer can reach directly or through a role it creates against what the template
needs, and the region lists CloudFormation's resource types impose."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("iam_policies", REPO_ROOT / "tools" / "iam-policies.py")
iam = importlib.util.module_from_spec(spec)
spec.loader.exec_module(iam)
scan_template = iam.scan_template
ACCOUNT, REGION, ENDPOINT, STACK = (iam.SAMPLE[k] for k in ("account", "region", "endpoint", "stack"))
MODEL_DATA = "s3://summarizer-models/pegasus/model.tar.gz"


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def grants(document: dict) -> set[tuple[str, str]]:
    """(action, resource) of every Allow statement."""
    return {(action, resource) for s in document["Statement"] if s["Effect"] == "Allow"
            for action in as_list(s["Action"]) for resource in as_list(s["Resource"])}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    out = tmp_path_factory.mktemp("iam")
    result = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "iam-policies.py"), "scan", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    return result, out


def test_cloudsplaining_and_parliament_find_nothing_above_low(scanned):
    result, out = scanned
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("iam ")]
    names = {line.split()[1].rstrip(":") for line in lines}
    # The deployer's three documents and the inline policy of every role the parameter sets make.
    assert {"deployer-policy.json", "deployer-policy-endpoint.json", "deployer-boundary.json"} <= names
    assert any("FunctionRole" in n for n in names) and any("SageMakerRole" in n for n in names)
    assert all(line.endswith(", 0 above LOW") for line in lines), result.stdout
    # Every reviewed parliament finding is still one the tools report: none stays behind unused.
    for issue, text, _ in iam.PARLIAMENT_REVIEWED:
        assert any(issue in line and text in line for line in result.stdout.splitlines()), (issue, text)


def test_the_scan_fails_on_reading_every_object(tmp_path):
    wide = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateNetworkInterface"], "Resource": "*"}]}
    path = tmp_path / "wide.json"
    path.write_text(json.dumps(wide))
    [findings] = iam.scan([path]).values()
    above = {(f["tool"], f["issue"]) for f in findings if f["severity"] in iam.ABOVE_LOW and not iam.reviewed(f)}
    assert ("cloudsplaining", "DataExfiltration") in above, findings


def test_the_boundary_holds_only_what_the_deployment_uses():
    plain = iam.render_documents(ACCOUNT, REGION, ENDPOINT)
    actions = {a for a, _ in grants(plain["deployer-boundary.json"])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "logs:CreateLogGroup",
                       "logs:DescribeLogStreams", "sagemaker:InvokeEndpoint",
                       # X-Ray writes, which the function role holds whether Tracing is on or not.
                       "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert "deployer-policy-endpoint.json" not in plain
    full = iam.render_documents(ACCOUNT, REGION, ENDPOINT, create_endpoint=True, model_data_url=MODEL_DATA,
                                managed_instances=True)
    reads = {r for a, r in grants(full["deployer-boundary.json"]) if a.startswith("s3:")}
    assert reads == {"arn:aws:s3:::summarizer-models/pegasus/model.tar.gz"}  # the one object, nothing else
    hub = iam.render_documents(ACCOUNT, REGION, ENDPOINT, create_endpoint=True)
    assert not any(a.startswith(("s3:", "ec2:")) for a, _ in grants(hub["deployer-boundary.json"]))


def test_sagemaker_instance_types_are_one_list_in_the_template_and_the_policy(template_json):
    [statement] = [s for s in json.loads((REPO_ROOT / "docs" / "deployer-policy-endpoint.json").read_text())["Statement"]
                   if s["Action"] == "sagemaker:CreateEndpointConfig"]
    condition = statement["Condition"]
    assert condition["Null"] == {"sagemaker:InstanceTypes": "false"}  # a config without instance types is refused
    allowed = condition["ForAllValues:StringEquals"]["sagemaker:InstanceTypes"]
    assert template_json["Parameters"]["InstanceType"]["AllowedValues"] == allowed
    assert template_json["Parameters"]["InstanceType"]["Default"] in allowed


@pytest.fixture(scope="module")
def template_json() -> dict:
    return json.loads((REPO_ROOT / "template.json").read_text())


# --------------------------------------------------------------------------
# Escalation: everything a deployer can reach, directly or through a role it creates, against the
# template's needs.

# What CloudFormation calls for each resource type of the template, and what tools/deploy.sh calls
# itself (artifact bucket, stack, make logs, make invoke-remote, make delete).
NEEDS_BY_TYPE = {
    "AWS::IAM::Role": {"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary",
                       "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:GetRole", "iam:GetRolePolicy",
                       "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:TagRole", "iam:UntagRole",
                       "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:PassRole"},
    "AWS::Lambda::Function": {"lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction",
                              "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionCode",
                              "lambda:UpdateFunctionConfiguration", "lambda:PublishVersion",
                              "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
                              "lambda:PutFunctionScalingConfig", "lambda:GetFunctionScalingConfig",
                              "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags"},
    "AWS::Lambda::Permission": {"lambda:AddPermission", "lambda:RemovePermission"},
    "AWS::Lambda::CapacityProvider": {"lambda:CreateCapacityProvider", "lambda:GetCapacityProvider",
                                      "lambda:UpdateCapacityProvider", "lambda:DeleteCapacityProvider",
                                      "lambda:PassCapacityProvider"},
    "AWS::Logs::LogGroup": {"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                            "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey",
                            "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource", "logs:DescribeLogGroups"},
    "AWS::ApiGateway::RestApi": {"apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"},
    "AWS::SageMaker::Model": {"sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:DeleteModel", "sagemaker:AddTags"},
    "AWS::SageMaker::EndpointConfig": {"sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig",
                                       "sagemaker:DeleteEndpointConfig"},
    "AWS::SageMaker::Endpoint": {"sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint",
                                 "sagemaker:DeleteEndpoint", "kms:DescribeKey", "kms:CreateGrant"},
    "AWS::Budgets::Budget": {"budgets:ModifyBudget", "budgets:ViewBudget"},
    "AWS::IAM::RolePolicy": {"iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"},
    "AWS::CloudWatch::Alarm": {"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
                               "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource"},
    "AWS::CloudWatch::Dashboard": {"cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"},
    "AWS::SNS::Topic": {"sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                        "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:TagResource", "sns:UntagResource",
                        "sns:ListTagsForResource"},
}
DEPLOY_SH = {"cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
             "cloudformation:DeleteChangeSet", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
             "cloudformation:DescribeStackResources", "cloudformation:GetTemplateSummary", "cloudformation:DeleteStack",
             "s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration",
             "s3:ListBucket", "s3:GetObject", "s3:PutObject", "logs:FilterLogEvents"}


def role_needs() -> set[tuple[str, str]]:
    """(action, resource) every role of every parameter set needs, with the stack's name as the
    policies' stack-name pattern; AWS managed policies as the boundary bounds them."""
    needs = set()
    for parameter_set in scan_template.PARAMETER_SETS:
        for document in iam.role_documents(parameter_set).values():
            needs |= {(a, r.replace(f"/{STACK}:", f"/{STACK}*:")) for a, r in grants(document)}
    return needs


def test_no_role_a_deployer_can_make_reaches_more_than_the_stacks_roles_need(template_json):
    """A deployer's role gets at most the boundary (CreateRole, PutRolePolicy and AttachRolePolicy
    require it, nothing may remove it), so the boundary is all a role can ever reach: each of its
    grants must be one a role of the template uses, or AWS's policy of a role that has one."""
    documents = iam.render_documents(ACCOUNT, REGION, ENDPOINT, create_endpoint=True, model_data_url=MODEL_DATA,
                                     managed_instances=True)
    boundary = grants(documents["deployer-boundary.json"])
    needs = role_needs()
    # The two roles with AWS's policies: the access-log and Managed Instances statements.
    aws_policies = {(a, r) for a, r in boundary if a.startswith("ec2:")
                    or r.startswith(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/apigateway/")}
    rest = boundary - aws_policies
    extra = {(a, r) for a, r in rest if not any(a == na and fnmatch.fnmatchcase(nr, r) for na, nr in needs)}
    assert not extra, f"the boundary grants what no role of the stack uses: {sorted(extra)}"
    # ... and is no wider than what they use: every resource pattern is one a role's resource has.
    for action, resource in rest:
        assert any(a == action and (r == resource or r.replace(STACK, f"{STACK}*") == resource) for a, r in needs), (
            action, resource)
    # The roles' trust: only the services the deployer may pass roles to.
    roles = {n: r for n, r in template_json["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    principals = {s["Principal"]["Service"] for r in roles.values()
                  for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]}
    [passing] = [s for s in documents["deployer-policy.json"]["Statement"] if s["Action"] == "iam:PassRole"]
    assert principals == set(passing["Condition"]["StringEquals"]["iam:PassedToService"])


def test_every_action_the_deployer_has_is_one_the_template_or_deploy_sh_needs(template_json):
    documents = iam.render_documents(ACCOUNT, REGION, ENDPOINT, create_endpoint=True, managed_instances=True)
    reach = grants(documents["deployer-policy.json"]) | grants(documents["deployer-policy-endpoint.json"])
    types = {r["Type"] for r in template_json["Resources"].values()}
    needed = set(DEPLOY_SH).union(*(NEEDS_BY_TYPE.get(t, set()) for t in types))
    for kind in types - set(NEEDS_BY_TYPE):
        assert kind.startswith("AWS::ApiGateway::"), kind  # API Gateway authorizes by path: RestApi's row
    assert {a for a, _ in reach} == needed
    # Where each goes: the stack's own names, its tag, its one endpoint, or (listed) nothing narrower.
    for action, resource in sorted(reach):
        print(f"{action:45} {resource}")
        scoped = ("sagemaker-summarizer" in resource or f"endpoint/{ENDPOINT}" in resource or f"Endpoints/{ENDPOINT}" in resource
                  or resource.startswith(("arn:aws:apigateway:", "arn:aws:sagemaker:", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")))
        assert scoped or (action, resource) == ("logs:DescribeLogGroups", "*"), (action, resource)
    statements = documents["deployer-policy.json"]["Statement"] + documents["deployer-policy-endpoint.json"]["Statement"]
    # API Gateway and SageMaker models/configs: only what carries the stack's tag (so no other API's keys).
    for statement in statements:
        actions = set(as_list(statement["Action"]))
        if actions & {"apigateway:GET", "apigateway:DELETE", "sagemaker:DeleteModel"}:
            resources = as_list(statement["Resource"])
            if resources != [f"arn:aws:apigateway:{REGION}::/account"]:
                assert statement["Condition"]["StringEquals"] == {"aws:ResourceTag/application": "sagemaker-summarizer"}
        if actions & {"apigateway:POST", "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:AddTags"}:
            conditions = statement["Condition"]["StringEquals"]
            assert conditions.get("aws:RequestTag/application", conditions.get("aws:ResourceTag/application")) == \
                "sagemaker-summarizer", statement
    assert "application=sagemaker-summarizer" in (REPO_ROOT / "tools" / "deploy.sh").read_text()


# --------------------------------------------------------------------------
# Regions: a resource type CloudFormation lacks in a region


def regions_without(kind: str) -> set[str]:
    import cfnlint
    folder = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    return {p.stem.replace("_", "-") for p in folder.glob("*.py")
            if p.stem != "__init__" and f'"{kind}"' not in p.read_text()}


def region_list(template: dict, condition: str) -> set[str]:
    return {e["Fn::Equals"][1] for e in _equals(template["Conditions"][condition])}


def _equals(node) -> list[dict]:
    if isinstance(node, dict):
        if "Fn::Equals" in node and node["Fn::Equals"][0] == {"Ref": "AWS::Region"}:
            return [node]
        return [e for value in node.values() for e in _equals(value)]
    if isinstance(node, list):
        return [e for value in node for e in _equals(value)]
    return []


@pytest.mark.parametrize("condition, kind", [("RegionHasCapacityProviders", "AWS::Lambda::CapacityProvider"),
                                             ("RegionHasBudgets", "AWS::Budgets::Budget"),
                                             ("RegionHasSageMakerHosting", "AWS::SageMaker::Model"),
                                             ("RegionHasSageMakerHosting", "AWS::SageMaker::Endpoint")])
def test_the_region_lists_are_cfn_lints(template_json, condition, kind):
    assert region_list(template_json, condition) == regions_without(kind)


def test_cfn_lint_is_clean_where_capacity_providers_budgets_or_sagemaker_are_missing():
    # One region of each list, and one with all (cfn-lint --regions ALL_REGIONS takes minutes).
    result = subprocess.run(["cfn-lint", "--regions", "us-east-1", "af-south-1", "eu-north-1", "ca-west-1", "--",
                             str(REPO_ROOT / "template.json")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
