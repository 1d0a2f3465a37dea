"""template.json on its own: what each AuthMode serves, least privilege, and checkov.

The conditions are resolved the way CloudFormation does (tools/scan-template.py renders the
template per parameter set), so these tests see what a stack with those parameters would hold.
"""

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
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"

spec = importlib.util.spec_from_file_location("scan_template", REPO_ROOT / "tools" / "scan-template.py")
scan_template = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scan_template)


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads(TEMPLATE_PATH.read_text())


def rendered(template: dict, **parameters: str) -> dict:
    return scan_template.render(template, parameters)


def of_type(template: dict, kind: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# --------------------------------------------------------------------------
# Authentication


@pytest.mark.parametrize("mode, authorization, key_required", [
    ("api-key", "NONE", True), ("iam", "AWS_IAM", False), ("none", "NONE", False)])
def test_each_auth_mode_serves_the_method_it_names(template, mode, authorization, key_required):
    stack = rendered(template, AuthMode=mode)
    post = stack["Resources"]["SummarizePostMethod"]["Properties"]
    assert (post["AuthorizationType"], post["ApiKeyRequired"]) == (authorization, key_required)
    # The stage serves the deployment made for this mode, the only one that exists.
    [deployment] = of_type(stack, "AWS::ApiGateway::Deployment")
    assert stack["Resources"]["Stage"]["Properties"]["DeploymentId"] == {"Ref": deployment}
    assert f"(AuthMode {mode})" in stack["Resources"][deployment]["Properties"]["Description"]
    assert set(stack["Resources"][deployment]["DependsOn"]) == {"SummarizePostMethod", "SummarizeOptionsMethod"}
    has_key = {"ApiKey", "UsagePlan", "UsagePlanKey"} <= set(stack["Resources"])
    assert has_key == (mode == "api-key")
    assert ("ApiKeyId" in stack["Outputs"]) == (mode == "api-key")
    assert ("InvokeArn" in stack["Outputs"]) == (mode == "iam")


def test_auth_defaults_to_an_api_key_and_none_carries_a_warning(template):
    auth = template["Parameters"]["AuthMode"]
    assert auth["Default"] == "api-key"
    assert set(auth["AllowedValues"]) == {"api-key", "iam", "none"}
    assert "none: WARNING" in auth["Description"]


def test_the_key_has_rate_burst_and_a_daily_quota(template):
    plan = rendered(template)["Resources"]["UsagePlan"]["Properties"]
    assert plan["Throttle"] == {"RateLimit": 2, "BurstLimit": 5}
    assert plan["Quota"] == {"Limit": 2000, "Period": "DAY"}


def methods_digest(template: dict) -> str:
    """First 8 hex digits of the SHA-256 of the methods' Properties (what a deployment captures)."""
    methods = {name: r["Properties"] for name, r in template["Resources"].items()
               if r["Type"] == "AWS::ApiGateway::Method"}
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


def parameters_read(template: dict, node, seen: frozenset = frozenset()) -> set[str]:
    """Parameters a piece of template reads, directly (Ref) or through the conditions it uses."""
    found: set[str] = set()
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in template["Parameters"]:
            found.add(node["Ref"])
        names = []
        if "Fn::If" in node:
            names.append(node["Fn::If"][0])
        if set(node) == {"Condition"} and isinstance(node["Condition"], str):
            names.append(node["Condition"])
        for name in names:
            if name not in seen:
                found |= parameters_read(template, template["Conditions"][name], seen | {name})
        for value in node.values():
            found |= parameters_read(template, value, seen)
    elif isinstance(node, list):
        for value in node:
            found |= parameters_read(template, value, seen)
    return found


def test_every_parameter_a_method_reads_chooses_the_deployment(template):
    """Changing any parameter a method depends on must switch the stage to another deployment."""
    methods = of_type(template, "AWS::ApiGateway::Method")
    read_by_methods = parameters_read(template, methods)
    assert "AuthMode" in read_by_methods
    choosing = parameters_read(template, template["Resources"]["Stage"]["Properties"]["DeploymentId"])
    for deployment in of_type(template, "AWS::ApiGateway::Deployment").values():
        choosing |= parameters_read(template, {"Condition": deployment["Condition"]})
    assert read_by_methods <= choosing


def test_options_stays_open_for_cors_preflights(template):
    options = template["Resources"]["SummarizeOptionsMethod"]["Properties"]
    assert options["AuthorizationType"] == "NONE" and options["ApiKeyRequired"] is False


# --------------------------------------------------------------------------
# Cost caps, logs, tracing, concurrency


def test_cost_caps_reach_the_function_with_pegasus_defaults(template):
    variables = rendered(template)["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert {k: variables[k] for k in ("MAX_RETURN_SEQUENCES", "MAX_NUM_BEAMS", "MAX_GENERATION_TOKENS",
                                      "MAX_BATCH_ARTICLES")} == {
        "MAX_RETURN_SEQUENCES": 8, "MAX_NUM_BEAMS": 8, "MAX_GENERATION_TOKENS": 1024, "MAX_BATCH_ARTICLES": 32}
    lowered = rendered(template, MaxNumBeams="2")["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert lowered["MAX_NUM_BEAMS"] == 2


def test_access_logs_are_json_in_their_own_group_with_retention(template):
    stack = rendered(template)
    setting = stack["Resources"]["Stage"]["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}
    group = stack["Resources"]["AccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == 30
    # $context variables stand for strings or numbers; with each replaced the line is one JSON object.
    line = json.loads(example_access_line(setting["Format"]))
    assert {"requestId", "status", "sourceIp", "apiKeyId", "caller", "integrationLatency"} <= set(line)


def example_access_line(form: str) -> str:
    """The access log line API Gateway would write, with made-up values."""
    quoted = re.sub(r'"\$context\.[A-Za-z.]+"', '"text"', form)
    return re.sub(r"\$context\.[A-Za-z.]+", "0", quoted)


def test_tracing_concurrency_and_kms_are_optional(template):
    default = rendered(template)
    assert default["Resources"]["Stage"]["Properties"]["TracingEnabled"] is False
    assert "ReservedConcurrentExecutions" not in default["Resources"]["Function"]["Properties"]
    assert "KmsKeyId" not in default["Resources"]["FunctionLogGroup"]["Properties"]
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    chosen = rendered(template, ApiTracing="true", ReservedConcurrency="20", KmsKeyArn=key)
    assert chosen["Resources"]["Stage"]["Properties"]["TracingEnabled"] is True
    assert chosen["Resources"]["Function"]["Properties"]["ReservedConcurrentExecutions"] == 20
    for group in of_type(chosen, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == key


def test_the_stack_sets_api_gateways_logging_role_only_when_asked_and_keeps_it(template):
    assert {"ApiGatewayCloudWatchRole", "ApiGatewayAccount"} <= set(rendered(template)["Resources"])
    assert not {"ApiGatewayCloudWatchRole", "ApiGatewayAccount"} & set(
        rendered(template, ConfigureApiGatewayAccount="false")["Resources"])
    for name in ("ApiGatewayCloudWatchRole", "ApiGatewayAccount"):
        assert template["Resources"][name]["DeletionPolicy"] == "Retain"


# --------------------------------------------------------------------------
# The optional endpoint


def test_the_endpoint_model_is_pinned_or_comes_from_s3(template):
    revision = "0123456789abcdef0123456789abcdef01234567"
    hub = rendered(template, CreateEndpoint="true", HuggingFaceModelRevision=revision)["Resources"]["Model"]
    assert hub["Properties"]["PrimaryContainer"]["Environment"]["HF_MODEL_REVISION"] == revision
    assert hub["Properties"]["EnableNetworkIsolation"] is False
    rule = template["Rules"]["PinnedModel"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "HuggingFaceModelRevision"}, ""]}]}
    assert template["Parameters"]["HuggingFaceModelRevision"]["AllowedPattern"] == "^([0-9a-f]{40})?$"

    url = "s3://summarizer-models/pegasus/model.tar.gz"
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    isolated = rendered(template, CreateEndpoint="true", NetworkIsolation="true", ModelDataUrl=url, KmsKeyArn=key)
    model = isolated["Resources"]["Model"]["Properties"]
    assert model["EnableNetworkIsolation"] is True
    assert model["PrimaryContainer"]["ModelDataUrl"] == url
    assert "HF_MODEL_ID" not in model["PrimaryContainer"]["Environment"]
    assert isolated["Resources"]["EndpointConfig"]["Properties"]["KmsKeyId"] == key
    assert template["Rules"]["IsolatedModelNeedsModelData"]["RuleCondition"]["Fn::And"][1] == {
        "Fn::Equals": [{"Ref": "NetworkIsolation"}, "true"]}


# --------------------------------------------------------------------------
# checkov


def run_scan(*arguments: str) -> subprocess.CompletedProcess:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run tools/install-deps.sh (make test does)")
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "scan-template.py"), *arguments],
                          capture_output=True, text=True, timeout=900)


def test_checkov_finds_nothing_in_the_template_nor_in_any_rendering():
    result = run_scan()
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


MANAGED = {"ManagedInstances": "true", "ManagedInstancesSubnetIds": "subnet-0123456789abcdef0",
           "ManagedInstancesSecurityGroupIds": "sg-0123456789abcdef0", "MaxConcurrencyPerEnvironment": "32"}


def test_managed_instances_are_off_by_default(template):
    default = rendered(template)
    assert "CapacityProviderConfig" not in default["Resources"]["Function"]["Properties"]
    assert not of_type(default, "AWS::Lambda::CapacityProvider")
    assert template["Parameters"]["ManagedInstances"]["Default"] == "false"


def test_managed_instances_put_the_function_on_a_capacity_provider_with_its_concurrency(template):
    chosen = rendered(template, **MANAGED, PermissionsBoundaryArn="arn:aws:iam::123456789012:policy/sagemaker-summarizer-boundary")
    config = chosen["Resources"]["Function"]["Properties"]["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
    assert config["CapacityProviderArn"] == {"Fn::GetAtt": ["CapacityProvider", "Arn"]}
    assert config["PerExecutionEnvironmentMaxConcurrency"] == 32
    provider = chosen["Resources"]["CapacityProvider"]["Properties"]
    assert provider["VpcConfig"] == {"SubnetIds": ["subnet-0123456789abcdef0"], "SecurityGroupIds": ["sg-0123456789abcdef0"]}
    assert provider["CapacityProviderScalingConfig"]["MaxVCpuCount"] == 16
    operator = chosen["Resources"]["CapacityProviderOperatorRole"]["Properties"]
    assert operator["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"}]
    assert "PermissionsBoundary" in operator, "every role the stack creates can carry the deployer's boundary"


def test_managed_instances_require_provided_al2023_and_a_network(template):
    rule = template["Rules"]["ManagedInstancesNeedAl2023"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ManagedInstances"}, "true"]}
    asserted = json.dumps(rule["Assertions"])
    assert '{"Ref": "Runtime"}, "provided.al2023"' in asserted
    assert "ManagedInstancesSubnetIds" in asserted and "ManagedInstancesSecurityGroupIds" in asserted
