"""tools/deploy.sh without an AWS account: `deploy` against moto_server on loopback, the created
resources read back with boto3, and `invoke-remote` in each AuthMode against a stand-in of API
Gateway. moto checks the CloudFormation wiring, not IAM nor the function; template.json on its own
is test_template.py."""

from __future__ import annotations

import ast
import http.server
import importlib.util
import json
import os
import subprocess
import threading
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.server import ThreadedMotoServer

# Applies moto_server's corrections to moto in this process.
spec = importlib.util.spec_from_file_location("moto_server", Path(__file__).with_name("moto_server.py"))
moto_server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(moto_server)
scan_template = moto_server.scan_template

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
ENDPOINT = "pegasus-financial-summarizer"
STACK = "summarizer-rehearsal"


GIVEN_ZIP: Path | None = None  # what every deploy here uploads, as make deploy ZIP=path does


@pytest.fixture(scope="module", autouse=True)
def given_zip(tmp_path_factory):
    """A package deployed with ZIP=: deploy.sh uploads it as it is (nothing here runs it)."""
    global GIVEN_ZIP
    GIVEN_ZIP = tmp_path_factory.mktemp("package") / "given.zip"
    with zipfile.ZipFile(GIVEN_ZIP, "w") as package:
        package.writestr("bootstrap", "#!/bin/sh\nexit 0\n")


@pytest.fixture(scope="module")
def moto():
    """moto_server.py's corrected moto, in a thread on loopback (start() returns once it listens)."""
    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    yield "http://{}:{}".format(*server.get_host_and_port())
    server.stop()


def deploy_sh(moto_url: str | None, *arguments: str, **variables: str) -> subprocess.CompletedProcess:
    """tools/deploy.sh against moto with fake credentials, none of this machine's AWS settings
    (MOTO_URL None: the script sets up its own, as `rehearse` does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if moto_url is not None:
        env.update(AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env["ZIP"] = str(GIVEN_ZIP)
    env.update(variables)
    return subprocess.run([str(REPO_ROOT / "tools/deploy.sh"), *arguments], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def deploy(moto_url: str, *overrides: str, stack: str = STACK) -> subprocess.CompletedProcess:
    return deploy_sh(moto_url, "deploy", *overrides, STACK=stack, ENDPOINT_NAME=ENDPOINT)


def client(moto_url: str, service: str):
    return boto3.client(service, endpoint_url=moto_url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def stack_outputs(moto_url: str, stack_name: str) -> dict[str, str]:
    [described] = client(moto_url, "cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


@pytest.fixture(scope="module")
def stack(moto):
    first = deploy(moto, "CorsAllowedOrigin=https://news.example.com", "LogLevel=DEBUG")
    assert first.returncode == 0, first.stderr
    return moto, first


def test_deploy_prints_the_url_of_a_stack_with_the_function_api_and_log_group(stack):
    moto_url, first = stack
    api_id = stack_outputs(moto_url, STACK)["RestApiId"]
    assert first.stdout.strip() == f"https://{api_id}.execute-api.{REGION}.amazonaws.com/prod/summarize"
    cloudformation = client(moto_url, "cloudformation")
    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] in (
        "CREATE_COMPLETE", "UPDATE_COMPLETE")
    kinds = {r["LogicalResourceId"]: r["ResourceType"]
             for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    assert {"FunctionRole", "FunctionLogGroup", "Function", "Api", "SummarizeResource", "SummarizePostMethod",
            "SummarizeOptionsMethod", "AccessLogGroup", "ApiInvokePermission"} <= set(kinds)
    # One deployment, the one of the default AuthMode.
    assert [n for n, kind in kinds.items() if kind == "AWS::ApiGateway::Deployment"][0].startswith("DeploymentApiKey")
    assert "AuthMode api-key" in first.stderr and "WARNING" not in first.stderr
    # The API proxies POST and OPTIONS to the function.
    for verb in ("POST", "OPTIONS"):
        integration = post_method(moto_url, STACK, verb)["methodIntegration"]
        assert integration["type"] == "AWS_PROXY"
        assert f"function:{STACK}/invocations" in integration["uri"]


def test_deployed_function_and_its_role(stack):
    moto_url, *_ = stack
    function = client(moto_url, "lambda").get_function(FunctionName=STACK)["Configuration"]
    assert function["Handler"] == "bootstrap"  # runtime, architecture, timeout: test_template.py
    variables = function["Environment"]["Variables"]
    assert variables["ENDPOINT_NAME"] == ENDPOINT
    assert variables["CORS_ALLOWED_ORIGINS"] == "https://news.example.com"
    assert not any(k.startswith("AWS_") and "KEY" in k for k in variables)  # credentials come from the role
    assert str(variables["MAX_NUM_BEAMS"]) == "8"  # the cost caps arrive (each one: test_template.py)
    # The zip that was uploaded is the one given as ZIP, as it was.
    assert function["CodeSize"] == GIVEN_ZIP.stat().st_size

    # Its role's one inline policy names the one endpoint.
    role_name = function["Role"].rsplit("/", 1)[-1]
    iam = client(moto_url, "iam")
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert names == ["summarizer-function"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=names[0])["PolicyDocument"]
    if isinstance(document, str):  # moto keeps the document as Python's repr of it
        document = ast.literal_eval(document)
    # Each statement's actions: test_template.py. Here, what the references resolve to.
    logs, invoke = document["Statement"]
    # CloudFormation's Arn of a log group ends in ":*" (its streams too); moto's stops at the name.
    assert logs["Resource"].removesuffix(":*") == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{STACK}"
    assert invoke["Resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"


def post_method(moto_url: str, stack_name: str, verb: str = "POST", cors: bool = True) -> dict:
    """GetMethod of VERB /summarize in the stack's API (POST there, and OPTIONS with CORS origins)."""
    apigateway = client(moto_url, "apigateway")
    api_id = stack_outputs(moto_url, stack_name)["RestApiId"]
    [resource] = [r for r in apigateway.get_resources(restApiId=api_id)["items"] if r.get("pathPart") == "summarize"]
    assert set(resource["resourceMethods"]) == ({"POST", "OPTIONS"} if cors else {"POST"})
    return apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=verb)


def test_deploy_without_an_endpoint_name_on_a_new_stack_says_what_is_missing(moto):
    result = deploy_sh(moto, "deploy", STACK="never-created")
    assert result.returncode != 0
    assert "set ENDPOINT_NAME" in result.stderr


# --------------------------------------------------------------------------
# Authentication modes, rehearsed on one stack (moto_server.py makes moto create API keys and usage
# plans from templates, and update methods whose Fn::If reads a changed parameter, as CloudFormation
# does), and make invoke-remote in each mode.


class StandInApi(http.server.BaseHTTPRequestHandler):
    """API Gateway on loopback, checking what it checks: the x-api-key value, or a SigV4 signature
    (service execute-api) made with the caller's credentials."""

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
        if not (authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
                and f"/{REGION}/execute-api/aws4_request" in authorization):
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


def switch(moto_url: str, stack_name: str, mode: str, authorization: str, key_required: bool):
    """Deploy AuthMode MODE; its POST method and the deployment made for it. The result and outputs."""
    result = deploy(moto_url, f"AuthMode={mode}", stack=stack_name)
    assert result.returncode == 0, result.stderr
    method = post_method(moto_url, stack_name, cors=False)  # no CorsAllowedOrigin: no OPTIONS
    assert (method["authorizationType"], method["apiKeyRequired"]) == (authorization, key_required)
    outputs = stack_outputs(moto_url, stack_name)
    items = client(moto_url, "apigateway").get_deployments(restApiId=outputs["RestApiId"])["items"]
    newest = max(items, key=lambda d: d["createdDate"])
    assert newest["description"] == f"POST /summarize (AuthMode {mode}), proxied to the function."
    return result, outputs, len(items)


def invoke_remote(moto_url: str, stack_name: str, url: str, mode: str,
                  api_key: str = "") -> subprocess.CompletedProcess:
    """make invoke-remote against the stand-in, which accepts what AuthMode MODE accepts."""
    StandInApi.mode, StandInApi.api_key = mode, api_key
    return deploy_sh(moto_url, "invoke-remote", STACK=stack_name, INVOKE_URL=url)


def test_each_auth_mode_on_one_stack_and_invoke_remote_in_it(moto, stand_in):
    """AuthMode none on a new stack, then api-key and iam as updates: each changes the method
    and makes a new deployment (API Gateway serves only what a deployment holds). Which deployment
    the stage serves, and that the old ones go, moto cannot show (it has no AWS::ApiGateway::Stage
    from templates and keeps removed resources): test_template.py checks that on the template."""
    name = "summarizer-switch"
    result, _, count = switch(moto, name, "none", "NONE", False)
    assert count == 1
    assert "WARNING: AuthMode none" in result.stderr  # open only when asked for, and said so
    assert result.stdout.strip().endswith("/prod/summarize")  # stdout stays the URL alone
    result = invoke_remote(moto, name, stand_in, "none")
    assert result.returncode == 0, result.stdout + result.stderr
    headers = {h.lower() for h in StandInApi.seen[-1]["headers"]}
    assert "x-api-key" not in headers and "authorization" not in headers

    # The update creates the key and a usage plan capping it.
    _, outputs, _ = switch(moto, name, "api-key", "NONE", True)
    apigateway = client(moto, "apigateway")
    key = apigateway.get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)
    assert key["enabled"] is True
    [plan] = [p for p in apigateway.get_usage_plans()["items"]
              if any(s["apiId"] == outputs["RestApiId"] for s in p["apiStages"])]
    assert plan["throttle"] == {"rateLimit": 2.0, "burstLimit": 5}
    assert plan["quota"] == {"limit": 2000, "period": "DAY"}
    assert [k["id"] for k in apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [outputs["ApiKeyId"]]
    result = invoke_remote(moto, name, stand_in, "api-key", key["value"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == [{"summary_text": "Shares rose."}]
    assert StandInApi.seen[-1]["body"] == (REPO_ROOT / "events/article.txt").read_bytes()
    assert key["value"] not in result.stdout + result.stderr  # the key is sent, never shown
    # The stand-in refuses a wrong key, so the check above can fail.
    assert invoke_remote(moto, name, stand_in, "api-key", "another-key-entirely-0123456789").returncode != 0

    result, outputs, _ = switch(moto, name, "iam", "AWS_IAM", False)
    assert "ApiKeyId" not in outputs
    assert outputs["InvokeArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{outputs['RestApiId']}/prod/POST/summarize"
    assert f"need execute-api:Invoke on {outputs['InvokeArn']}" in result.stderr
    result = invoke_remote(moto, name, stand_in, "iam")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == [{"summary_text": "Shares rose."}]
    assert "x-api-key" not in {h.lower() for h in StandInApi.seen[-1]["headers"]}
    assert "testing" not in result.stdout + result.stderr.replace("AuthMode", "")


def test_make_rehearse_deploy_runs_its_own_moto_server():
    # The user's command: deploy.sh starts moto_server.py as a script, deploys, prints the stack.
    result = deploy_sh(None, "rehearse")
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    assert "CREATE_COMPLETE" in lines, result.stdout  # describe-stacks: the stack's own status
    assert "Function\tAWS::Lambda::Function\tCREATE_COMPLETE" in lines, result.stdout


# --------------------------------------------------------------------------
# make deploy ZIP=, Architecture, every parameter set, make delete


def test_deploy_takes_the_zip_it_is_given_and_says_which_one_is_missing(moto, tmp_path):
    missing = deploy_sh(moto, "deploy", STACK="zip-missing", ENDPOINT_NAME=ENDPOINT, ZIP=str(tmp_path / "none.zip"))
    assert missing.returncode != 0 and f"ZIP={tmp_path / 'none.zip'}: no such file" in missing.stderr
    # arm64 names its own package and never falls back to the x86_64 one.
    arm = deploy_sh(moto, "deploy", "Architecture=arm64", STACK="zip-arm64", ENDPOINT_NAME=ENDPOINT, ZIP="")
    if not (REPO_ROOT / "dist" / "summarizer-lambda-arm64.zip").exists():
        assert arm.returncode != 0
        assert "dist/summarizer-lambda-arm64.zip is missing: build the arm64 package first (make package ARCH=arm64)" in arm.stderr
    given = deploy_sh(moto, "deploy", "Architecture=arm64", STACK="zip-given-arm64", ENDPOINT_NAME=ENDPOINT)
    assert given.returncode == 0, given.stderr
    assert "(arm64)" in given.stderr
    # (moto's function keeps x86_64 whatever the template says: the stack's parameter is what was sent.)
    [described] = client(moto, "cloudformation").describe_stacks(StackName="zip-given-arm64")["Stacks"]
    assert {"ParameterKey": "Architecture", "ParameterValue": "arm64"} in described["Parameters"]


def test_the_artifact_bucket_expires_old_packages(stack):
    moto_url, first = stack
    bucket = f"sagemaker-summarizer-artifacts-{ACCOUNT}-{REGION}"
    [rule] = client(moto_url, "s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Status"] == "Enabled" and rule["Expiration"] == {"Days": 90}
    # Only a plain-http stand-in keeps it open to plain http (the upload would be refused otherwise).
    assert f"AWS_ENDPOINT_URL is plain http: {bucket} is not made TLS-only" in first.stderr


def test_deploy_sh_makes_the_bucket_tls_only():
    script = (REPO_ROOT / "tools" / "deploy.sh").read_text()
    function = script[script.index("tls_only_policy() {"):]
    function = function[:function.index("\n}\n") + 3]
    policy = json.loads(subprocess.run(["bash", "-c", function + "tls_only_policy b-1"], capture_output=True,
                                       text=True, check=True).stdout)
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Resource"] == ["arn:aws:s3:::b-1", "arn:aws:s3:::b-1/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("name", list(scan_template.PARAMETER_SETS))
def test_every_parameter_set_scan_template_renders_deploys(moto, name):
    """The rehearsal of each rendering checkov and cfn-lint see, Managed Instances and the budget included."""
    parameters = scan_template.PARAMETER_SETS[name]
    stack_name = f"set-{name}"
    # Each its own endpoint: two stacks creating one endpoint's log group collide, on AWS as in moto.
    result = deploy_sh(moto, "deploy", *(f"{k}={v}" for k, v in parameters.items()), STACK=stack_name,
                       ENDPOINT_NAME=f"summarizer-{name}")
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = {r["LogicalResourceId"]: r["ResourceType"] for r in
             client(moto, "cloudformation").list_stack_resources(StackName=stack_name)["StackResourceSummaries"]}
    assert ("CapacityProvider" in kinds) == (parameters.get("ManagedInstances") == "true")
    assert ("Model" in kinds) == (parameters.get("CreateEndpoint") == "true")
    assert ("SummarizeOptionsMethod" in kinds) == bool(parameters.get("CorsAllowedOrigin"))
    if "MonthlyBudgetUsd" in parameters:
        budget = client(moto, "budgets").describe_budget(AccountId=ACCOUNT, BudgetName=f"{stack_name}-monthly")["Budget"]
        assert float(budget["BudgetLimit"]["Amount"]) == float(parameters["MonthlyBudgetUsd"])


def test_delete_asks_says_what_goes_and_what_stays(moto):
    name = "summarizer-delete"
    assert deploy(moto, "ConfigureApiGatewayAccount=true", stack=name).returncode == 0
    # No terminal to ask on and no CONFIRM: nothing is deleted.
    refused = deploy_sh(moto, "delete", STACK=name)
    assert refused.returncode != 0 and f"set CONFIRM={name}" in refused.stderr
    wrong = deploy_sh(moto, "delete", STACK=name, CONFIRM="another-stack")
    assert wrong.returncode != 0
    cloudformation = client(moto, "cloudformation")
    assert cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    deleted = deploy_sh(moto, "delete", STACK=name, CONFIRM=name)
    assert deleted.returncode == 0, deleted.stderr
    assert f"goes with the stack: log group /aws/lambda/{name}" in deleted.stderr
    assert f"goes with the stack: log group /aws/apigateway/{name}/access" in deleted.stderr
    assert f"stays: log group /aws/sagemaker/Endpoints/{ENDPOINT}" in deleted.stderr
    assert "stays: API Gateway's account logging role" in deleted.stderr
    statuses = [s["StackStatus"] for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == name]
    assert statuses == ["DELETE_COMPLETE"]
    groups = client(moto, "logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert groups == []
    again = deploy_sh(moto, "delete", STACK=name, CONFIRM=name)
    assert again.returncode == 0 and "nothing to delete" in again.stderr


def test_a_stack_left_in_rollback_complete_is_explained_and_can_be_deleted(moto):
    from moto.cloudformation.models import cloudformation_backends

    name = "summarizer-rolled-back"
    assert deploy(moto, stack=name).returncode == 0
    # What CloudFormation leaves after a failed first create (moto cannot fail a create the same way).
    [stack] = [s for s in cloudformation_backends[ACCOUNT][REGION].stacks.values() if s.name == name]
    stack.status = "ROLLBACK_COMPLETE"
    refused = deploy(moto, stack=name)
    assert refused.returncode != 0
    assert f"stack {name} is in ROLLBACK_COMPLETE: its first create failed" in refused.stderr
    assert "make delete" in refused.stderr
    deleted = deploy_sh(moto, "delete", STACK=name, CONFIRM=name)
    assert deleted.returncode == 0, deleted.stderr
    assert "ROLLBACK_COMPLETE: its first create failed and was rolled back, so nothing of it runs" in deleted.stderr


def test_make_deploy_zip_and_make_delete_build_nothing(moto):
    """The user's commands: `make deploy ZIP=path` deploys that package as it is, `make delete` removes it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=moto, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               STACK="summarizer-make", ENDPOINT_NAME=ENDPOINT, CONFIRM="summarizer-make")
    made = subprocess.run(["make", "--no-print-directory", "deploy", f"ZIP={GIVEN_ZIP}", "PARAMS=AuthMode=iam"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "package.sh" not in made.stdout + made.stderr and f"packaging {GIVEN_ZIP} (x86_64)" in made.stderr
    function = client(moto, "lambda").get_function(FunctionName="summarizer-make")["Configuration"]
    assert function["CodeSize"] == GIVEN_ZIP.stat().st_size
    deleted = subprocess.run(["make", "--no-print-directory", "delete"], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    assert "deleted stack summarizer-make" in deleted.stderr
