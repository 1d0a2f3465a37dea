"""template.json and tools/deploy.sh, without an AWS account.

* The template itself: cfn-lint clean, and the properties the issue asks for
  (least-privilege role, runtime default, timeout under API Gateway's limit,
  proxy methods, scoped permission, log retention, outputs).
* The deploy path: `tools/deploy.sh deploy` against moto_server on loopback
  (tests/deploy/moto_server.py), run twice (a create; moto cannot rehearse updates),
  then the created resources read back with boto3.

moto checks the CloudFormation wiring (packaging to S3, change sets,
references between resources, outputs); it does not run the function or
enforce IAM. What the function does once deployed is the end-to-end suite.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.json"
ZIP_PATH = REPO_ROOT / "dist" / "summarizer-lambda.zip"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
ENDPOINT = "pegasus-financial-summarizer"
STACK = "summarizer-rehearsal"


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads(TEMPLATE_PATH.read_text())


def resources_of_type(template: dict, kind: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# --------------------------------------------------------------------------
# The template


def test_cfn_lint_reports_nothing():
    result = subprocess.run(["cfn-lint", str(TEMPLATE_PATH)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_runtime_defaults_to_al2023_and_still_allows_al2(template):
    runtime = template["Parameters"]["Runtime"]
    assert runtime["Default"] == "provided.al2023"
    assert set(runtime["AllowedValues"]) == {"provided.al2023", "provided.al2"}
    assert template["Parameters"]["Architecture"]["Default"] == "x86_64"


def test_function_timeout_stays_below_api_gateways_29_seconds(template):
    timeout = template["Parameters"]["Timeout"]
    assert timeout["Default"] < 29 and timeout["MaxValue"] < 29


def test_role_may_invoke_one_endpoint_and_nothing_else(template):
    role = template["Resources"]["FunctionRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statements == [{
        "Sid": "InvokeTheSummarizerEndpoint",
        "Effect": "Allow",
        "Action": "sagemaker:InvokeEndpoint",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${EndpointName}"},
    }]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


# Actions IAM cannot scope to a resource: the only ones allowed `"Resource": "*"` (the optional
# endpoint's SageMaker role needs them to pull its image and publish metrics).
NO_RESOURCE_LEVEL_PERMISSIONS = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


def test_no_wildcards_beyond_actions_that_cannot_be_scoped(template):
    roles = resources_of_type(template, "AWS::IAM::Role")
    assert set(roles) == {"FunctionRole", "SageMakerRole"}
    for name, role in roles.items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), (name, statement)
                if statement["Resource"] == "*":
                    assert name != "FunctionRole"
                    assert set(actions) <= NO_RESOURCE_LEVEL_PERMISSIONS, (name, statement)
                else:
                    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
                        statement["Resource"]]
                    # Only log streams inside one named log group may be a pattern.
                    for resource in resources:
                        text = json.dumps(resource)
                        assert "*" not in text.replace("log-stream:*", ""), (name, text)


def test_summarize_post_and_options_are_lambda_proxy_methods(template):
    methods = resources_of_type(template, "AWS::ApiGateway::Method")
    by_verb = {m["Properties"]["HttpMethod"]: m["Properties"] for m in methods.values()}
    assert set(by_verb) == {"POST", "OPTIONS"}
    for method in by_verb.values():
        assert method["ResourceId"] == {"Ref": "SummarizeResource"}
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert method["Integration"]["IntegrationHttpMethod"] == "POST"
    assert template["Resources"]["SummarizeResource"]["Properties"]["PathPart"] == "summarize"


def test_invoke_permission_is_scoped_to_this_api(template):
    permission = template["Resources"]["ApiInvokePermission"]["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${Api}" in permission["SourceArn"]["Fn::Sub"]


def test_log_group_has_a_retention_and_the_function_uses_it(template):
    group = template["Resources"]["FunctionLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    function = template["Resources"]["Function"]["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}


def test_endpoint_and_api_key_are_optional(template):
    for name in ("Model", "EndpointConfig", "Endpoint", "SageMakerRole"):
        assert template["Resources"][name]["Condition"] == "ShouldCreateEndpoint"
    for name in ("ApiKey", "UsagePlan", "UsagePlanKey"):
        assert template["Resources"][name]["Condition"] == "ShouldCreateApiKey"
    assert template["Parameters"]["CreateEndpoint"]["Default"] == "false"
    assert template["Parameters"]["CreateApiKey"]["Default"] == "false"


# --------------------------------------------------------------------------
# The deploy path against moto


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    if not ZIP_PATH.exists():
        pytest.fail(f"{ZIP_PATH} is missing: run tools/package.sh (make test does)")
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen([sys.executable, str(REPO_ROOT / "tests/deploy/moto_server.py"),
                               "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"moto_server did not start: {Path(log.name).read_text()}")
            time.sleep(0.2)
    yield url
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def aws_env(moto_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               STACK=STACK)
    return env


def deploy(moto_url: str, *overrides: str, endpoint: str | None = ENDPOINT,
           stack: str = STACK) -> subprocess.CompletedProcess:
    env = aws_env(moto_url)
    env["STACK"] = stack
    if endpoint:
        env["ENDPOINT_NAME"] = endpoint
    return subprocess.run([str(REPO_ROOT / "tools/deploy.sh"), "deploy", *overrides], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def client(moto_url: str, service: str):
    return boto3.client(service, endpoint_url=moto_url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def stack_outputs(moto_url: str, stack_name: str) -> dict[str, str]:
    [described] = client(moto_url, "cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def rest_api_id(moto_url: str, stack_name: str) -> str:
    return stack_outputs(moto_url, stack_name)["RestApiId"]


@pytest.fixture(scope="module")
def stack(moto):
    first = deploy(moto, "CorsAllowedOrigin=https://news.example.com", "LogLevel=DEBUG")
    assert first.returncode == 0, first.stderr
    # Updates are not rehearsed: moto refuses an empty change set and fails on Fn::GetAtt of
    # resources whose condition is false, both of which CloudFormation accepts.
    return moto, first


def test_deploy_prints_the_invoke_url(stack):
    moto_url, first = stack
    api_id = rest_api_id(moto_url, STACK)
    assert first.stdout.strip() == f"https://{api_id}.execute-api.{REGION}.amazonaws.com/prod/summarize"


def test_deployed_stack_has_the_function_api_and_log_group(stack):
    moto_url, *_ = stack
    cloudformation = client(moto_url, "cloudformation")
    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] in (
        "CREATE_COMPLETE", "UPDATE_COMPLETE")
    kinds = {r["LogicalResourceId"]: r["ResourceType"]
             for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    for name in ("FunctionRole", "FunctionLogGroup", "Function", "Api", "SummarizeResource",
                 "SummarizePostMethod", "SummarizeOptionsMethod", "Deployment", "ApiInvokePermission"):
        assert name in kinds
    assert "Endpoint" not in kinds and "ApiKey" not in kinds  # optional parts stay off by default


def test_deployed_function_configuration(stack):
    moto_url, *_ = stack
    function = client(moto_url, "lambda").get_function(FunctionName=STACK)["Configuration"]
    assert function["Runtime"] == "provided.al2023"
    assert function["Handler"] == "bootstrap"
    assert function["Architectures"] == ["x86_64"]
    assert function["Timeout"] < 29
    variables = function["Environment"]["Variables"]
    assert variables["ENDPOINT_NAME"] == ENDPOINT
    assert variables["CORS_ALLOWED_ORIGINS"] == "https://news.example.com"
    assert not any(k.startswith("AWS_") and "KEY" in k for k in variables)  # credentials come from the role
    # The zip that was uploaded is the one tools/package.sh built.
    assert function["CodeSize"] == ZIP_PATH.stat().st_size


def test_deployed_role_policy_names_the_one_endpoint(stack):
    moto_url, *_ = stack
    function = client(moto_url, "lambda").get_function(FunctionName=STACK)["Configuration"]
    role_name = function["Role"].rsplit("/", 1)[-1]
    iam = client(moto_url, "iam")
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert names == ["invoke-one-sagemaker-endpoint"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=names[0])["PolicyDocument"]
    if isinstance(document, str):  # moto keeps the document as Python's repr of it
        document = ast.literal_eval(document)
    [statement] = document["Statement"]
    assert statement["Action"] == "sagemaker:InvokeEndpoint"
    assert statement["Resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
    # (moto does not attach ManagedPolicyArns from templates; the template test checks that one.)


def test_deployed_api_proxies_post_and_options_to_the_function(stack):
    moto_url, *_ = stack
    apigateway = client(moto_url, "apigateway")
    api_id = rest_api_id(moto_url, STACK)
    [resource] = [r for r in apigateway.get_resources(restApiId=api_id)["items"] if r.get("pathPart") == "summarize"]
    assert set(resource["resourceMethods"]) == {"POST", "OPTIONS"}
    for verb in ("POST", "OPTIONS"):
        integration = apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=verb)[
            "methodIntegration"]
        assert integration["type"] == "AWS_PROXY"
        assert f"function:{STACK}/invocations" in integration["uri"]


def post_method(moto_url: str, stack_name: str) -> dict:
    apigateway = client(moto_url, "apigateway")
    api_id = rest_api_id(moto_url, stack_name)
    [resource] = [r for r in apigateway.get_resources(restApiId=api_id)["items"] if r.get("pathPart") == "summarize"]
    return apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")


def test_deploy_with_an_api_key(moto):
    result = deploy(moto, "CreateApiKey=true", stack="summarizer-with-key")
    assert result.returncode == 0, result.stderr
    # moto does not create API keys or usage plans from templates; the method's flag it does.
    assert post_method(moto, "summarizer-with-key")["apiKeyRequired"] is True
    assert post_method(moto, STACK)["apiKeyRequired"] is False


def test_deploy_without_an_endpoint_name_on_a_new_stack_says_what_is_missing(moto):
    env = aws_env(moto)
    env["STACK"] = "never-created"
    result = subprocess.run([str(REPO_ROOT / "tools/deploy.sh"), "deploy"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "set ENDPOINT_NAME" in result.stderr


def test_deployer_policy_in_the_readme_is_scoped():
    """docs/deployer-policy.json: what `make deploy` needs, with no Action or Resource "*"."""
    policy = json.loads((REPO_ROOT / "docs/deployer-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in a for a in listed), statement
        actions.update(listed)
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert all(r != "*" and r.startswith("arn:aws:") for r in resources), statement
    # What `aws cloudformation package/deploy` and the template's resource types use.
    for needed in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "s3:PutObject",
                   "iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole", "lambda:CreateFunction",
                   "lambda:AddPermission", "logs:CreateLogGroup", "logs:PutRetentionPolicy", "apigateway:POST"):
        assert needed in actions, needed
