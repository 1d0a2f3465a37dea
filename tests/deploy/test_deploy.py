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
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import http.server
import threading

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import harness  # tools/harness.py: one free_port for every test

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


def test_role_may_write_its_own_log_group_and_invoke_one_endpoint_and_nothing_else(template):
    role = template["Resources"]["FunctionRole"]["Properties"]
    # No AWSLambdaBasicExecutionRole: it allows logs:CreateLogGroup and PutLogEvents on every group.
    assert "ManagedPolicyArns" not in role
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


# Actions IAM cannot scope to a resource: the only ones allowed `"Resource": "*"` (the optional
# endpoint's SageMaker role needs them to pull its image and publish metrics).
NO_RESOURCE_LEVEL_PERMISSIONS = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


def statements_of(policy: dict) -> list[dict]:
    """The statements of an inline policy, each optional one (Fn::If) taken as if present."""
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in policy["PolicyDocument"]["Statement"]]


def test_no_wildcards_beyond_actions_that_cannot_be_scoped(template):
    roles = resources_of_type(template, "AWS::IAM::Role")
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
        if name not in managed:
            assert "ManagedPolicyArns" not in role["Properties"], name
        assert role["Properties"]["PermissionsBoundary"] == {
            "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}, name
        for policy in role["Properties"].get("Policies", []):
            for statement in statements_of(policy):
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


def test_endpoint_is_optional_and_the_api_key_is_the_default(template):
    for name in ("Model", "EndpointConfig", "Endpoint", "SageMakerRole"):
        assert template["Resources"][name]["Condition"] == "ShouldCreateEndpoint"
    for name in ("ApiKey", "UsagePlan", "UsagePlanKey"):
        assert template["Resources"][name]["Condition"] == "UseApiKey"
    assert template["Parameters"]["CreateEndpoint"]["Default"] == "false"
    assert template["Parameters"]["AuthMode"]["Default"] == "api-key"


# --------------------------------------------------------------------------
# The deploy path against moto


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    if not ZIP_PATH.exists():
        pytest.fail(f"{ZIP_PATH} is missing: run tools/package.sh (make test does)")
    port = harness.free_port()
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
                 "SummarizePostMethod", "SummarizeOptionsMethod", "AccessLogGroup", "ApiInvokePermission"):
        assert name in kinds
    # One deployment, the one of the default AuthMode.
    assert [n for n, kind in kinds.items() if kind == "AWS::ApiGateway::Deployment"][0].startswith("DeploymentApiKey")
    assert "Endpoint" not in kinds  # the optional endpoint stays off by default
    assert {"ApiKey", "UsagePlan", "UsagePlanKey"} <= set(kinds)  # AuthMode api-key by default


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
    # The cost caps, at the template's defaults.
    assert {k: str(variables[k]) for k in ("MAX_RETURN_SEQUENCES", "MAX_NUM_BEAMS", "MAX_GENERATION_TOKENS",
                                      "MAX_BATCH_ARTICLES")} == {
        "MAX_RETURN_SEQUENCES": "8", "MAX_NUM_BEAMS": "8", "MAX_GENERATION_TOKENS": "1024", "MAX_BATCH_ARTICLES": "32"}
    # The zip that was uploaded is the one tools/package.sh built.
    assert function["CodeSize"] == ZIP_PATH.stat().st_size


def test_deployed_role_policy_names_the_one_endpoint(stack):
    moto_url, *_ = stack
    function = client(moto_url, "lambda").get_function(FunctionName=STACK)["Configuration"]
    role_name = function["Role"].rsplit("/", 1)[-1]
    iam = client(moto_url, "iam")
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert names == ["summarizer-function"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=names[0])["PolicyDocument"]
    if isinstance(document, str):  # moto keeps the document as Python's repr of it
        document = ast.literal_eval(document)
    logs, invoke = document["Statement"]
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    # CloudFormation's Arn of a log group ends in ":*" (its streams too); moto's stops at the name.
    assert logs["Resource"].removesuffix(":*") == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{STACK}"
    assert invoke["Action"] == "sagemaker:InvokeEndpoint"
    assert invoke["Resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []


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
    """GetMethod of POST /summarize in the stack's API."""
    apigateway = client(moto_url, "apigateway")
    api_id = rest_api_id(moto_url, stack_name)
    [resource] = [r for r in apigateway.get_resources(restApiId=api_id)["items"] if r.get("pathPart") == "summarize"]
    return apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")


def test_deploy_without_an_endpoint_name_on_a_new_stack_says_what_is_missing(moto):
    env = aws_env(moto)
    env["STACK"] = "never-created"
    result = subprocess.run([str(REPO_ROOT / "tools/deploy.sh"), "deploy"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "set ENDPOINT_NAME" in result.stderr




# --------------------------------------------------------------------------
# Authentication modes, rehearsed (moto_server.py makes moto create API keys and usage plans from
# templates, and update methods whose Fn::If reads a changed parameter, as CloudFormation does).


def deployments(moto_url: str, stack_name: str) -> list[str]:
    """Descriptions of the API's deployments, oldest first (each names the AuthMode it captured)."""
    items = client(moto_url, "apigateway").get_deployments(restApiId=rest_api_id(moto_url, stack_name))["items"]
    return [d["description"] for d in sorted(items, key=lambda d: d["createdDate"])]


def test_default_stack_requires_an_api_key_capped_by_a_usage_plan(stack):
    moto_url, first = stack
    method = post_method(moto_url, STACK)
    assert method["apiKeyRequired"] is True and method["authorizationType"] == "NONE"
    outputs = stack_outputs(moto_url, STACK)
    assert outputs["AuthMode"] == "api-key"
    apigateway = client(moto_url, "apigateway")
    key = apigateway.get_api_key(apiKey=outputs["ApiKeyId"])
    assert key["enabled"] is True
    [plan] = [p for p in apigateway.get_usage_plans()["items"]
              if any(s["apiId"] == outputs["RestApiId"] for s in p["apiStages"])]
    assert plan["throttle"] == {"rateLimit": 2.0, "burstLimit": 5}
    assert plan["quota"] == {"limit": 2000, "period": "DAY"}
    assert [k["id"] for k in apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [outputs["ApiKeyId"]]
    assert "AuthMode api-key" in first.stderr and "WARNING" not in first.stderr


def test_iam_mode_requires_sigv4_and_has_no_key(moto):
    result = deploy(moto, "AuthMode=iam", stack="summarizer-iam")
    assert result.returncode == 0, result.stderr
    method = post_method(moto, "summarizer-iam")
    assert method["authorizationType"] == "AWS_IAM" and method["apiKeyRequired"] is False
    outputs = stack_outputs(moto, "summarizer-iam")
    assert "ApiKeyId" not in outputs
    assert outputs["InvokeArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{outputs['RestApiId']}/prod/POST/summarize"
    assert f"need execute-api:Invoke on {outputs['InvokeArn']}" in result.stderr


def test_none_mode_is_open_only_when_asked_for_and_warns(moto):
    result = deploy(moto, "AuthMode=none", stack="summarizer-open")
    assert result.returncode == 0, result.stderr
    method = post_method(moto, "summarizer-open")
    assert method["authorizationType"] == "NONE" and method["apiKeyRequired"] is False
    assert "WARNING: AuthMode none" in result.stderr
    assert result.stdout.strip().endswith("/prod/summarize")  # stdout stays the URL alone


def test_changing_auth_mode_on_an_existing_stack_updates_the_method_and_redeploys(moto):
    stack_name = "summarizer-switch"
    assert deploy(moto, "AuthMode=none", stack=stack_name).returncode == 0
    assert deployments(moto, stack_name) == ["POST and OPTIONS /summarize (AuthMode none), proxied to the function."]

    result = deploy(moto, "AuthMode=api-key", stack=stack_name)
    assert result.returncode == 0, result.stderr
    method = post_method(moto, stack_name)
    assert method["apiKeyRequired"] is True and method["authorizationType"] == "NONE"
    # A new deployment captured the changed method: API Gateway serves only what a deployment holds.
    assert deployments(moto, stack_name)[-1] == "POST and OPTIONS /summarize (AuthMode api-key), proxied to the function."
    assert "ApiKeyId" in stack_outputs(moto, stack_name)

    result = deploy(moto, "AuthMode=iam", stack=stack_name)
    assert result.returncode == 0, result.stderr
    assert post_method(moto, stack_name)["authorizationType"] == "AWS_IAM"
    assert deployments(moto, stack_name)[-1] == "POST and OPTIONS /summarize (AuthMode iam), proxied to the function."
    # Which deployment the stage serves, and that the old ones go, moto cannot show (it has no
    # AWS::ApiGateway::Stage from templates and keeps removed resources): tests/deploy/test_template.py
    # checks that on the template.


# --------------------------------------------------------------------------
# make invoke-remote in each mode, against a stand-in of API Gateway on loopback that checks what
# API Gateway checks: the x-api-key value, or a SigV4 signature (service execute-api) made with the
# caller's credentials.


class StandInApi(http.server.BaseHTTPRequestHandler):
    mode = "none"
    api_key = ""
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def answer(self, status: int, document: dict):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append({"headers": dict(self.headers), "body": body})
        if self.mode == "api-key" and self.headers.get("x-api-key") != self.api_key:
            return self.answer(403, {"message": "Forbidden"})
        if self.mode == "iam" and not self.signature_is_valid(body):
            return self.answer(403, {"message": "The request signature we calculated does not match"})
        self.answer(200, [{"summary_text": "Shares rose."}])

    def signature_is_valid(self, body: bytes) -> bool:
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/"):
            return False
        if f"/{REGION}/execute-api/aws4_request" not in authorization:
            return False
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        request = AWSRequest(method="POST", url=f"http://{self.headers['Host']}{self.path}", data=body,
                             headers={name: self.headers[name] for name in signed if name != "host"})
        request.context["timestamp"] = self.headers["X-Amz-Date"]
        signer = SigV4Auth(Credentials("testing", "testing"), "execute-api", REGION)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        return authorization.endswith(f"Signature={expected}")


@pytest.fixture
def stand_in():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandInApi)
    StandInApi.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prod/summarize"
    server.shutdown()
    server.server_close()


def invoke_remote(moto_url: str, stack_name: str, url: str) -> subprocess.CompletedProcess:
    env = aws_env(moto_url)
    env.update(STACK=stack_name, INVOKE_URL=url)
    return subprocess.run([str(REPO_ROOT / "tools/deploy.sh"), "invoke-remote"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def ensure_stack(moto_url: str, stack_name: str, *overrides: str) -> None:
    """The stack an earlier test deployed, or deploy it now (when run alone)."""
    if stack_name not in {s["StackName"] for s in client(moto_url, "cloudformation").describe_stacks()["Stacks"]}:
        assert deploy(moto_url, *overrides, stack=stack_name).returncode == 0


def test_invoke_remote_sends_the_stacks_api_key(stack, stand_in):
    moto_url, _ = stack
    outputs = stack_outputs(moto_url, STACK)
    StandInApi.mode = "api-key"
    StandInApi.api_key = client(moto_url, "apigateway").get_api_key(
        apiKey=outputs["ApiKeyId"], includeValue=True)["value"]
    result = invoke_remote(moto_url, STACK, stand_in)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == [{"summary_text": "Shares rose."}]
    assert StandInApi.seen[0]["body"] == (REPO_ROOT / "events/article.txt").read_bytes()
    assert StandInApi.api_key not in result.stdout + result.stderr  # the key is sent, never shown
    # The stand-in refuses a wrong key, so the test above can fail.
    StandInApi.api_key = "another-key-entirely-0123456789"
    assert invoke_remote(moto_url, STACK, stand_in).returncode != 0


def test_invoke_remote_signs_with_sigv4_in_iam_mode(moto, stand_in):
    ensure_stack(moto, "summarizer-iam", "AuthMode=iam")
    StandInApi.mode = "iam"
    result = invoke_remote(moto, "summarizer-iam", stand_in)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == [{"summary_text": "Shares rose."}]
    headers = StandInApi.seen[0]["headers"]
    assert "x-api-key" not in {h.lower() for h in headers}
    assert "testing" not in result.stdout + result.stderr.replace("AuthMode", "")


def test_invoke_remote_sends_no_credentials_in_none_mode(moto, stand_in):
    ensure_stack(moto, "summarizer-open", "AuthMode=none")
    StandInApi.mode = "none"
    result = invoke_remote(moto, "summarizer-open", stand_in)
    assert result.returncode == 0, result.stdout + result.stderr
    headers = {h.lower() for h in StandInApi.seen[0]["headers"]}
    assert "x-api-key" not in headers and "authorization" not in headers
