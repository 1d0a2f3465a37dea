"""docs/deployer-policy.json and docs/deployer-boundary.json: what a deployer may do, and that it
cannot use that to become more than a deployer (every role it creates or changes carries the
boundary, which grants no IAM at all)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads((REPO_ROOT / "template.json").read_text())


def of_type(template: dict, kind: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def load_policy(name: str) -> dict:
    return json.loads((REPO_ROOT / "docs" / name).read_text())


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_deployer_policy_is_scoped():
    """docs/deployer-policy.json: what `make deploy` needs, with no Action or Resource "*"."""
    policy = load_policy("deployer-policy.json")
    assert policy["Version"] == "2012-10-17"
    allowed = set()
    for statement in policy["Statement"]:
        actions = as_list(statement["Action"])
        assert all("*" not in a for a in actions), statement
        assert all(r != "*" and r.startswith("arn:aws:") for r in as_list(statement["Resource"])), statement
        if statement["Effect"] == "Allow":
            allowed.update(actions)
    for needed in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "s3:PutObject",
                   "iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole", "lambda:CreateFunction",
                   "lambda:AddPermission", "lambda:PutFunctionConcurrency", "logs:CreateLogGroup",
                   "logs:PutRetentionPolicy", "apigateway:POST", "apigateway:PATCH"):
        assert needed in allowed, needed


BOUNDARY_ARN = "arn:aws:iam::ACCOUNT_ID:policy/sagemaker-summarizer-boundary"
# What grants or widens permissions on a role; each must require the boundary.
ESCALATING = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"}


def test_deployer_cannot_create_or_widen_a_role_without_the_boundary():
    policy = load_policy("deployer-policy.json")
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = set(as_list(statement["Action"]))
        assert not any(a.startswith("iam:") and ("Policy" in a and "Version" in a or a == "iam:CreatePolicy")
                       for a in actions), statement  # cannot rewrite the boundary or make policies
        if actions & ESCALATING:
            assert statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == BOUNDARY_ARN, statement
        if "iam:AttachRolePolicy" in actions:
            # Only AWS's logging policy for API Gateway's account role, and AWS's policy for a Managed
            # Instances operator role, may be attached (inside the boundary all the same).
            assert set(as_list(statement["Condition"]["StringEquals"]["iam:PolicyARN"])) == {
                "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
                "arn:aws:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"}
        if "iam:PassRole" in actions:
            assert set(as_list(statement["Condition"]["StringEquals"]["iam:PassedToService"])) == {
                "lambda.amazonaws.com", "sagemaker.amazonaws.com", "apigateway.amazonaws.com"}
        for action in actions & {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion",
                                 "iam:SetDefaultPolicyVersion", "iam:AttachUserPolicy", "iam:PutUserPolicy",
                                 "iam:CreateAccessKey", "sts:AssumeRole"}:
            pytest.fail(f"{action} is allowed: {statement}")
    [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"} <= set(
        deny["Action"])
    assert BOUNDARY_ARN in deny["Resource"]


def test_the_boundary_allows_no_iam_and_covers_what_the_roles_need(template):
    boundary = load_policy("deployer-boundary.json")
    allowed = {a for s in boundary["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert not any(a.split(":")[0] in ("iam", "sts", "organizations", "kms") for a in allowed), allowed
    assert all("*" not in a for a in allowed)
    # Every action an inline policy of the stack grants is inside the boundary, or it would be denied.
    for name, role in of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                statement = statement["Fn::If"][1] if "Fn::If" in statement else statement
                assert set(as_list(statement["Action"])) <= allowed, (name, statement)


def test_deploy_passes_the_boundary_to_the_template(template):
    assert "PermissionsBoundaryArn" in template["Parameters"]
    script = (REPO_ROOT / "tools" / "deploy.sh").read_text()
    assert 'PermissionsBoundaryArn=$PERMISSIONS_BOUNDARY' in script
