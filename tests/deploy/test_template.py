"""template.json and docs/deployer-*.json on their own: cfn-lint, least privilege, what each
AuthMode serves, cost caps, the optional endpoint, Managed Instances, and checkov. rendered()
resolves the conditions as CloudFormation does (tools/scan-template.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.json"

spec = importlib.util.spec_from_file_location("scan_template", REPO_ROOT / "tools" / "scan-template.py")
scan_template = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scan_template)


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads(TEMPLATE_PATH.read_text())


def rendered(template: dict, parameter_set: str = "default", **parameters: str) -> dict:
    """The stack one of scan-template's parameter sets makes, with PARAMETERS on top."""
    return scan_template.render(template, {**scan_template.PARAMETER_SETS[parameter_set], **parameters})


def of_type(template: dict, kind: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_cfn_lint_reports_nothing():
    result = subprocess.run(["cfn-lint", str(TEMPLATE_PATH)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_defaults_al2023_a_timeout_below_api_gateways_29_seconds_and_an_api_key(template):
    parameters = template["Parameters"]
    assert parameters["Runtime"]["Default"] == "provided.al2023"
    assert set(parameters["Runtime"]["AllowedValues"]) == {"provided.al2023", "provided.al2"}
    assert parameters["Architecture"]["Default"] == "x86_64"
    assert parameters["Timeout"]["Default"] < 29 and parameters["Timeout"]["MaxValue"] < 29
    assert parameters["AuthMode"]["Default"] == "api-key"
    assert set(parameters["AuthMode"]["AllowedValues"]) == {"api-key", "iam", "none"}
    assert "none: WARNING" in parameters["AuthMode"]["Description"]


# --------------------------------------------------------------------------
# Least privilege: the stack's roles, and what a deployer may do


def test_role_may_write_its_own_log_group_and_invoke_one_endpoint_and_nothing_else(template):
    role = template["Resources"]["FunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statements == [{
        "Sid": "WriteOwnLogGroupOnly",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        # arn:...:log-group:/aws/lambda/<stack>:* (the group and its streams), as AWS's
        # least-privilege example for execution roles writes it.
        "Resource": {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]},
    }, {
        "Sid": "InvokeTheSummarizerEndpoint",
        "Effect": "Allow",
        "Action": "sagemaker:InvokeEndpoint",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${EndpointName}"},
    }]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    permission = template["Resources"]["ApiInvokePermission"]["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${Api}" in permission["SourceArn"]["Fn::Sub"]


# Actions IAM cannot scope to a resource: the only ones allowed `"Resource": "*"` (the optional
# endpoint's SageMaker role needs them to pull its image and publish metrics).
NO_RESOURCE_LEVEL_PERMISSIONS = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


def inline_statements(template: dict) -> list[tuple[str, dict]]:
    """(role, statement) for each statement of the roles' inline policies, optional ones (Fn::If) as present."""
    return [(name, s["Fn::If"][1] if "Fn::If" in s else s)
            for name, role in of_type(template, "AWS::IAM::Role").items()
            for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def test_no_wildcards_beyond_actions_that_cannot_be_scoped(template):
    roles = of_type(template, "AWS::IAM::Role")
    assert set(roles) == {"FunctionRole", "SageMakerRole", "ApiGatewayCloudWatchRole", "CapacityProviderOperatorRole"}
    # API Gateway's account-wide logging role and the Managed Instances operator role: AWS's own
    # policy for each, and nothing else.
    managed = {"ApiGatewayCloudWatchRole": "service-role/AmazonAPIGatewayPushToCloudWatchLogs",
               "CapacityProviderOperatorRole": "AWSLambdaManagedEC2ResourceOperator"}
    for name, policy in managed.items():
        properties = roles[name]["Properties"]
        assert properties["ManagedPolicyArns"] == [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{policy}"}]
        assert "Policies" not in properties
    for name, role in roles.items():
        # No AWSLambdaBasicExecutionRole: it allows logs:CreateLogGroup and PutLogEvents on every group.
        if name not in managed:
            assert "ManagedPolicyArns" not in role["Properties"], name
        assert role["Properties"]["PermissionsBoundary"] == {
            "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}, name
    for name, statement in inline_statements(template):
        actions = as_list(statement["Action"])
        assert all("*" not in a for a in actions), (name, statement)
        if statement["Resource"] == "*":
            assert name != "FunctionRole"
            assert set(actions) <= NO_RESOURCE_LEVEL_PERMISSIONS, (name, statement)
        else:
            # Only log streams inside one named log group may be a pattern.
            for resource in as_list(statement["Resource"]):
                assert "*" not in json.dumps(resource).replace("log-stream:*", ""), (name, resource)


BOUNDARY_ARN = "arn:aws:iam::ACCOUNT_ID:policy/sagemaker-summarizer-boundary"
# What grants or widens permissions on a role; each must require the boundary.
ESCALATING = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"}


def test_deployer_policy_is_scoped_and_cannot_create_or_widen_a_role_without_the_boundary():
    """docs/deployer-policy.json: what `make deploy` needs, with no Action or Resource "*". A deployer
    cannot use its rights to become more than a deployer: every role it creates or changes carries
    the boundary, which grants no IAM at all."""
    policy = json.loads((REPO_ROOT / "docs" / "deployer-policy.json").read_text())
    endpoint = json.loads((REPO_ROOT / "docs" / "deployer-policy-endpoint.json").read_text())
    assert policy["Version"] == endpoint["Version"] == "2012-10-17"
    allowed = set()
    for statement in policy["Statement"] + endpoint["Statement"]:
        actions = set(as_list(statement["Action"]))
        assert all("*" not in a for a in actions), statement
        if statement["Resource"] == "*":
            assert actions <= {"logs:DescribeLogGroups"}, statement  # no narrower resource exists
        else:
            assert all(r.startswith("arn:aws:") and r != "*" for r in as_list(statement["Resource"])), statement
        if statement["Effect"] != "Allow":
            continue
        allowed |= actions
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
        assert not actions & {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion",
                              "iam:SetDefaultPolicyVersion", "iam:AttachUserPolicy", "iam:PutUserPolicy",
                              "iam:CreateAccessKey", "sts:AssumeRole"}, statement
    needed = {"cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "s3:PutObject", "iam:CreateRole",
              "iam:PutRolePolicy", "iam:PassRole", "lambda:CreateFunction", "lambda:AddPermission",
              "lambda:PutFunctionConcurrency", "logs:CreateLogGroup", "logs:PutRetentionPolicy", "apigateway:POST",
              "apigateway:PATCH"}
    assert needed <= allowed, needed - allowed
    [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"} <= set(
        deny["Action"])
    assert BOUNDARY_ARN in deny["Resource"]


def test_the_boundary_allows_no_iam_and_covers_what_the_roles_need(template):
    boundary = json.loads((REPO_ROOT / "docs" / "deployer-boundary.json").read_text())
    allowed = {a for s in boundary["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert not any(a.split(":")[0] in ("iam", "sts", "organizations", "kms") for a in allowed), allowed
    assert all("*" not in a for a in allowed)
    # Every action an inline policy of the stack grants is inside the boundary, or it would be denied.
    for name, statement in inline_statements(template):
        assert set(as_list(statement["Action"])) <= allowed, (name, statement)
    # make deploy passes the boundary to the template.
    assert "PermissionsBoundaryArn" in template["Parameters"]
    assert 'PermissionsBoundaryArn=$PERMISSIONS_BOUNDARY' in (REPO_ROOT / "tools" / "deploy.sh").read_text()


# --------------------------------------------------------------------------
# Authentication


@pytest.mark.parametrize("mode, authorization, key_required", [
    ("api-key", "NONE", True), ("iam", "AWS_IAM", False), ("none", "NONE", False)])
def test_each_auth_mode_serves_the_method_it_names(template, mode, authorization, key_required):
    stack = rendered(template, AuthMode=mode)
    post = stack["Resources"]["SummarizePostMethod"]["Properties"]
    assert (post["AuthorizationType"], post["ApiKeyRequired"]) == (authorization, key_required)
    # OPTIONS exists only with CORS origins, open for preflights; both are proxied to the function.
    assert "SummarizeOptionsMethod" not in stack["Resources"]
    with_cors = rendered(template, AuthMode=mode, CorsAllowedOrigin="https://news.example.com")
    options = with_cors["Resources"]["SummarizeOptionsMethod"]["Properties"]
    assert (options["AuthorizationType"], options["ApiKeyRequired"]) == ("NONE", False)
    for method in (post, options):
        assert method["ResourceId"] == {"Ref": "SummarizeResource"}
        assert (method["Integration"]["Type"], method["Integration"]["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
    # The stage serves the deployment made for this mode, the only one that exists.
    for variant, methods in ((stack, {"SummarizePostMethod"}),
                             (with_cors, {"SummarizePostMethod", "SummarizeOptionsMethod"})):
        [deployment] = of_type(variant, "AWS::ApiGateway::Deployment")
        assert variant["Resources"]["Stage"]["Properties"]["DeploymentId"] == {"Ref": deployment}
        assert f"(AuthMode {mode}" in variant["Resources"][deployment]["Properties"]["Description"]
        assert set(variant["Resources"][deployment]["DependsOn"]) == methods
    has_key = {"ApiKey", "UsagePlan", "UsagePlanKey"} <= set(stack["Resources"])
    assert has_key == (mode == "api-key")
    assert ("ApiKeyId" in stack["Outputs"]) == (mode == "api-key")
    assert ("InvokeArn" in stack["Outputs"]) == (mode == "iam")


def methods_digest(template: dict) -> str:
    """First 8 hex digits of the SHA-256 of the methods' Properties and Conditions (what a deployment captures)."""
    methods = {name: {key: r[key] for key in ("Condition", "Properties") if key in r}
               for name, r in of_type(template, "AWS::ApiGateway::Method").items()}
    return hashlib.sha256(json.dumps(methods, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:8]


def test_deployments_are_renamed_whenever_the_methods_change(template):
    """A deployment is a snapshot: editing a method must create a new one (a new logical id)."""
    names = list(of_type(template, "AWS::ApiGateway::Deployment"))
    digest = methods_digest(template)
    assert names and all(name.endswith(digest) for name in names), (
        f"the methods changed: rename the Deployment* resources (and the Stage's DeploymentId) to end in {digest}")
    # The check notices a change: an edited method gives another digest.
    edited = json.loads(json.dumps(template))
    edited["Resources"]["SummarizePostMethod"]["Properties"]["OperationName"] = "Summarize"
    assert methods_digest(edited) != digest


def test_every_parameter_a_method_reads_chooses_the_deployment(template):
    """Changing any parameter a method depends on must switch the stage to another deployment."""
    methods = of_type(template, "AWS::ApiGateway::Method")
    read_by_methods = scan_template.parameters_read(template, methods)
    assert "AuthMode" in read_by_methods
    read_by_methods |= scan_template.parameters_read(
        template, [{"Condition": m["Condition"]} for m in methods.values() if "Condition" in m])
    assert "CorsAllowedOrigin" in read_by_methods
    choosing = scan_template.parameters_read(template, template["Resources"]["Stage"]["Properties"]["DeploymentId"])
    for deployment in of_type(template, "AWS::ApiGateway::Deployment").values():
        choosing |= scan_template.parameters_read(template, {"Condition": deployment["Condition"]})
    assert read_by_methods <= choosing


# --------------------------------------------------------------------------
# Cost caps, logs, tracing, concurrency


def test_cost_caps_reach_the_function_with_pegasus_defaults(template):
    variables = rendered(template)["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert {k: variables[k] for k in ("MAX_RETURN_SEQUENCES", "MAX_NUM_BEAMS", "MAX_GENERATION_TOKENS",
                                      "MAX_BATCH_ARTICLES")} == {
        "MAX_RETURN_SEQUENCES": 8, "MAX_NUM_BEAMS": 8, "MAX_GENERATION_TOKENS": 1024, "MAX_BATCH_ARTICLES": 32}
    lowered = rendered(template, MaxNumBeams="2")["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert lowered["MAX_NUM_BEAMS"] == 2


def test_function_and_access_logs_have_their_own_groups_with_retention(template):
    group = template["Resources"]["FunctionLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    function = template["Resources"]["Function"]["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}
    stack = rendered(template)
    setting = stack["Resources"]["Stage"]["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}
    group = stack["Resources"]["AccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == 30
    # $context variables stand for strings or numbers; with each replaced by a made-up value, the
    # line API Gateway would write is one JSON object.
    quoted = re.sub(r'"\$context\.[A-Za-z.]+"', '"text"', setting["Format"])
    line = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "0", quoted))
    assert {"requestId", "status", "sourceIp", "apiKeyId", "caller", "integrationLatency"} <= set(line)


def test_tracing_concurrency_kms_and_api_gateways_logging_role_are_optional(template):
    default = rendered(template)["Resources"]
    # Tracing is on by default (test_observability.py); ApiTracing traces the stage without it.
    assert rendered(template, "tracing-off")["Resources"]["Stage"]["Properties"]["TracingEnabled"] is False
    # A non-zero reservation by default: it caps how many SageMaker calls run at once.
    assert default["Function"]["Properties"]["ReservedConcurrentExecutions"] == 20
    assert "ReservedConcurrentExecutions" not in rendered(template, ReservedConcurrency="0")["Resources"]["Function"]["Properties"]
    assert "KmsKeyId" not in default["FunctionLogGroup"]["Properties"]
    chosen = rendered(template, "options-on", Tracing="false")  # ApiTracing, ReservedConcurrency 20, KmsKeyArn, the account role
    assert chosen["Resources"]["Stage"]["Properties"]["TracingEnabled"] is True
    assert chosen["Resources"]["Function"]["Properties"]["ReservedConcurrentExecutions"] == 20
    for group in of_type(chosen, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == scan_template.KMS_KEY
    # API Gateway's account-wide logging role: left alone by default (make deploy sets it only for
    # an account without one), kept when the stack goes.
    account = {"ApiGatewayCloudWatchRole", "ApiGatewayAccount"}
    assert not account & set(default) and account <= set(chosen["Resources"])
    assert all(template["Resources"][name]["DeletionPolicy"] == "Retain" for name in account)


# --------------------------------------------------------------------------
# The optional endpoint


def test_the_endpoint_is_optional_and_its_model_is_pinned_or_comes_from_s3(template):
    assert template["Parameters"]["CreateEndpoint"]["Default"] == "false"
    assert not {"Model", "EndpointConfig", "Endpoint", "SageMakerRole"} & set(rendered(template)["Resources"])
    revision = scan_template.PARAMETER_SETS["endpoint-hub"]["HuggingFaceModelRevision"]
    hub = rendered(template, "endpoint-hub")["Resources"]["Model"]
    assert hub["Properties"]["PrimaryContainer"]["Environment"]["HF_MODEL_REVISION"] == revision
    assert hub["Properties"]["EnableNetworkIsolation"] is False
    rule = template["Rules"]["PinnedModel"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "HuggingFaceModelRevision"}, ""]}]}
    assert template["Parameters"]["HuggingFaceModelRevision"]["AllowedPattern"] == "^([0-9a-f]{40})?$"

    isolated = rendered(template, "endpoint-isolated")  # NetworkIsolation, ModelDataUrl, KmsKeyArn
    model = isolated["Resources"]["Model"]["Properties"]
    assert model["EnableNetworkIsolation"] is True
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://summarizer-models/pegasus/model.tar.gz"
    assert "HF_MODEL_ID" not in model["PrimaryContainer"]["Environment"]
    assert isolated["Resources"]["EndpointConfig"]["Properties"]["KmsKeyId"] == scan_template.KMS_KEY
    assert template["Rules"]["IsolatedModelNeedsModelData"]["RuleCondition"]["Fn::And"][1] == {
        "Fn::Equals": [{"Ref": "NetworkIsolation"}, "true"]}


# --------------------------------------------------------------------------
# checkov


def run_scan(*arguments: str) -> subprocess.CompletedProcess:
    if not scan_template.CHECKOV.exists():
        pytest.fail(f"{scan_template.CHECKOV} is missing: run tools/install-deps.sh (make test does)")
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "scan-template.py"), *arguments],
                          capture_output=True, text=True, timeout=900)


def test_checkov_finds_nothing_in_the_template_nor_in_any_rendering(tmp_path):
    result = run_scan("--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("checkov ")]
    assert len(lines) == 1 + len(scan_template.PARAMETER_SETS)
    assert all(", failed 0," in line for line in lines), result.stdout


def test_checkov_scan_fails_on_an_open_method_in_api_key_mode(template, tmp_path):
    """The renderings are what make the scan able to fail: an open POST in the default mode is caught."""
    broken = json.loads(json.dumps(template))
    broken["Resources"]["SummarizePostMethod"]["Properties"]["ApiKeyRequired"] = False
    path = tmp_path / "template.json"
    path.write_text(json.dumps(broken))
    result = run_scan("--template", str(path), "--out", str(tmp_path / "out"), "--sets", "default")
    assert result.returncode == 1
    assert "FAILED CKV_AWS_59 AWS::ApiGateway::Method.SummarizePostMethod" in result.stdout


def test_skips_say_why(template):
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV") and len(skip["comment"]) > 40, (name, skip)
            for key in ("when", "unless"):
                assert key not in skip or skip[key] in template["Conditions"], (name, skip)


# --------------------------------------------------------------------------
# Lambda Managed Instances


def test_managed_instances_are_off_by_default_and_put_the_function_on_a_capacity_provider(template):
    default = rendered(template)
    assert "CapacityProviderConfig" not in default["Resources"]["Function"]["Properties"]
    assert not of_type(default, "AWS::Lambda::CapacityProvider")
    chosen = rendered(template, "managed-instances", MaxConcurrencyPerEnvironment="32")
    config = chosen["Resources"]["Function"]["Properties"]["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
    assert config["CapacityProviderArn"] == {"Fn::GetAtt": ["CapacityProvider", "Arn"]}
    assert config["PerExecutionEnvironmentMaxConcurrency"] == 32
    provider = chosen["Resources"]["CapacityProvider"]["Properties"]
    assert provider["VpcConfig"] == {"SubnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
                                     "SecurityGroupIds": ["sg-0123456789abcdef0"]}
    assert provider["CapacityProviderScalingConfig"]["MaxVCpuCount"] == 16
    assert provider["InstanceRequirements"] == {"Architectures": ["x86_64"]}
    arm = rendered(template, "managed-instances", Architecture="arm64")["Resources"]
    assert arm["CapacityProvider"]["Properties"]["InstanceRequirements"] == {"Architectures": ["arm64"]}
    assert arm["Function"]["Properties"]["Architectures"] == ["arm64"]
    # Lambda keeps 3 environments by default (README says what they cost); both ends are parameters.
    function = chosen["Resources"]["Function"]["Properties"]
    assert function["FunctionScalingConfig"] == {"MinExecutionEnvironments": 3, "MaxExecutionEnvironments": 6}
    assert function["PublishToLatestPublished"] is True  # API Gateway's unqualified ARN reaches $LATEST.PUBLISHED
    assert "ReservedConcurrentExecutions" not in function
    assert not {"FunctionScalingConfig", "PublishToLatestPublished"} & set(default["Resources"]["Function"]["Properties"])
    # Its role, like every role: test_no_wildcards_beyond_actions_that_cannot_be_scoped.
    # CloudFormation refuses them without provided.al2023 and a network.
    rule = template["Rules"]["ManagedInstancesNeedAl2023"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ManagedInstances"}, "true"]}
    asserted = json.dumps(rule["Assertions"])
    assert '{"Ref": "Runtime"}, "provided.al2023"' in asserted
    assert "ManagedInstancesSubnetIds" in asserted and "ManagedInstancesSecurityGroupIds" in asserted
