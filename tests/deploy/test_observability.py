"""What an operator gets from template.json besides the function: alarms with documented
thresholds and a notification topic, a dashboard, X-Ray tracing with its permissions, and the
function's own metrics wired to the names the function writes. rendered() resolves the conditions
as CloudFormation does (tools/scan-template.py); the moto rehearsal is in test_deploy.py."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from test_template import REPO_ROOT, as_list, of_type, rendered, scan_template

# The function's outcome metrics, read from the Swift enum that names them.
EMF_SOURCE = (REPO_ROOT / "Sources" / "Metrics" / "EMFRecord.swift").read_text()
OUTCOME_METRICS = re.findall(r'case \w+ = "(\w+)"', EMF_SOURCE.split("enum Outcome")[1].split("public var metricName")[0])

# alarm -> (namespace, metric, the threshold parameter, TreatMissingData)
ALARMS = {
    "FunctionErrorsAlarm": ("AWS/Lambda", "Errors", "FunctionErrorsAlarmThreshold", "notBreaching"),
    "FunctionThrottlesAlarm": ("AWS/Lambda", "Throttles", "FunctionThrottlesAlarmThreshold", "notBreaching"),
    "FunctionDurationAlarm": ("AWS/Lambda", "Duration", "FunctionDurationP99AlarmMs", "ignore"),
    "Api5XXErrorAlarm": ("AWS/ApiGateway", "5XXError", "Api5XXErrorAlarmThreshold", "notBreaching"),
    "ApiLatencyAlarm": ("AWS/ApiGateway", "Latency", "ApiLatencyP99AlarmMs", "ignore"),
    "EndpointInvocation5XXAlarm": ("AWS/SageMaker", "Invocation5XXErrors", "EndpointInvocation5XXAlarmThreshold", "notBreaching"),
    "EndpointModelLatencyAlarm": ("AWS/SageMaker", "ModelLatency", "EndpointModelLatencyP99AlarmMicroseconds", "ignore"),
    "ModelErrorsAlarm": ("Team/Summarizer", "ModelErrors", "ModelErrorsAlarmThreshold", "notBreaching"),
    "UpstreamUnreachableAlarm": ("Team/Summarizer", "UpstreamUnreachable", "UpstreamUnreachableAlarmThreshold", "notBreaching"),
    "ThrottledAlarm": ("Team/Summarizer", "Throttled", "ThrottledAlarmThreshold", "notBreaching"),
}


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads((REPO_ROOT / "template.json").read_text())


def test_the_outcome_metrics_are_read_from_the_source():
    assert {"ModelErrors", "UpstreamUnreachable", "Throttled", "Timeouts", "ResponseTooLarge"} <= set(OUTCOME_METRICS)


def test_every_alarm_watches_its_metric_with_a_documented_threshold_and_a_chosen_missing_data_rule(template):
    stack = rendered(template, "alarms-email")  # MetricsNamespace=Team/Summarizer
    alarms = of_type(stack, "AWS::CloudWatch::Alarm")
    assert set(alarms) == set(ALARMS)
    readme = (REPO_ROOT / "README.md").read_text()
    for name, (namespace, metric, threshold, missing) in ALARMS.items():
        properties = alarms[name]["Properties"]
        assert (properties["Namespace"], properties["MetricName"]) == (namespace, metric), name
        assert properties["Threshold"] == stack["Parameters"][threshold]["Default"], name
        assert template["Resources"][name]["Properties"]["Threshold"] == {"Ref": threshold}
        assert len(template["Parameters"][threshold]["Description"]) > 40, threshold
        assert threshold in readme, f"README does not document {threshold}"
        assert properties["TreatMissingData"] == missing, name
        # Latency alarms want a sustained p99; counts act on one bad period.
        if missing == "ignore":
            assert properties["ExtendedStatistic"] == "p99" and properties["EvaluationPeriods"] == 3, name
        else:
            assert properties["Statistic"] == "Sum" and properties["EvaluationPeriods"] == 1, name
        # Each alarm's first step is in its description, and the README names it.
        assert "First:" in properties["AlarmDescription"], name
        assert f"`{properties['AlarmName']['Fn::Sub'].removeprefix('${AWS::StackName}-')}`" in readme, name
        if namespace == "Team/Summarizer":
            assert metric in OUTCOME_METRICS
            assert properties["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]


def test_alarms_notify_a_topic_made_for_the_email_or_the_one_given(template):
    quiet = rendered(template)
    assert "AlarmTopic" not in quiet["Resources"] and "AlarmTopicArn" not in quiet["Outputs"]
    for alarm in of_type(quiet, "AWS::CloudWatch::Alarm").values():
        assert "AlarmActions" not in alarm["Properties"] and "OKActions" not in alarm["Properties"]

    emailed = rendered(template, "alarms-email")
    topic = emailed["Resources"]["AlarmTopic"]["Properties"]
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": "ops@example.com"}]
    assert "KmsMasterKeyId" not in topic  # CloudWatch cannot publish to a topic under aws/sns
    for alarm in of_type(emailed, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == alarm["Properties"]["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert rendered(template, "alarms-email-kms")["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"]

    given = rendered(template, "alarms-topic")  # AlarmEmail too: the existing topic wins
    assert "AlarmTopic" not in given["Resources"]
    arn = "arn:aws:sns:us-east-1:123456789012:ops-alarms"
    assert given["Outputs"]["AlarmTopicArn"]["Value"] == arn
    for alarm in of_type(given, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [arn]


def test_endpoint_alarms_watch_the_endpoint_the_function_calls(template):
    named = of_type(rendered(template), "AWS::CloudWatch::Alarm")["EndpointInvocation5XXAlarm"]["Properties"]
    assert named["Dimensions"] == [{"Name": "EndpointName", "Value": "summarizer-scan"},
                                   {"Name": "VariantName", "Value": "AllTraffic"}]
    owned = of_type(rendered(template, "endpoint-hub"), "AWS::CloudWatch::Alarm")["EndpointModelLatencyAlarm"]["Properties"]
    assert owned["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["Endpoint", "EndpointName"]}
    variants = template["Resources"]["EndpointConfig"]["Properties"]["ProductionVariants"]
    assert [v["VariantName"] for v in variants] == [template["Parameters"]["EndpointVariantName"]["Default"]]


def dashboard(stack: dict) -> dict:
    """The dashboard body with Fn::Sub's variables filled in with placeholders."""
    text, variables = stack["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert set(variables) == {"EndpointName"}
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m[1]}>", text))


def test_the_dashboard_shows_rate_errors_by_type_latency_at_three_layers_and_throttles(template):
    stack = rendered(template)
    body = dashboard(stack)
    shown = {}  # (namespace, metric) -> statistics
    for widget in body["widgets"]:
        last = None
        for row in widget["properties"]["metrics"]:
            options = row[-1] if isinstance(row[-1], dict) else {}
            if row[0] != "...":
                last = (row[0], row[1])
            shown.setdefault(last, set()).add(options.get("stat", widget["properties"]["stat"]))
    assert ("AWS/ApiGateway", "Count") in shown and ("AWS/Lambda", "Invocations") in shown
    for metric in OUTCOME_METRICS:
        if metric != "Succeeded":
            assert ("<MetricsNamespace>", metric) in shown, metric
    for layer in (("AWS/ApiGateway", "Latency"), ("AWS/Lambda", "Duration"), ("<MetricsNamespace>", "SageMakerLatency"),
                  ("AWS/SageMaker", "ModelLatency")):
        assert {"p50", "p99"} <= shown[layer], layer
    assert ("AWS/Lambda", "Throttles") in shown and ("<MetricsNamespace>", "Throttled") in shown
    url = stack["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${AWS::Region}.console.") and "#dashboards:name=${Dashboard}" in url
    assert "DashboardUrl" in (REPO_ROOT / "tools" / "deploy.sh").read_text()


def test_tracing_is_on_by_default_on_the_function_and_the_stage(template):
    default = rendered(template)["Resources"]
    assert default["Function"]["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert default["Stage"]["Properties"]["TracingEnabled"] is True
    off = rendered(template, "tracing-off")["Resources"]
    assert off["Function"]["Properties"]["TracingConfig"] == {"Mode": "PassThrough"}
    assert off["Stage"]["Properties"]["TracingEnabled"] is False
    assert rendered(template, "tracing-off", ApiTracing="true")["Resources"]["Stage"]["Properties"]["TracingEnabled"] is True
    variables = default["Function"]["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SageMakerSummarizer"
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}


def test_the_role_may_write_traces_and_the_boundary_and_deployer_allow_it(template):
    policy = template["Resources"]["FunctionTracingPolicy"]
    assert policy["Type"] == "AWS::IAM::RolePolicy" and policy["Properties"]["RoleName"] == {"Ref": "FunctionRole"}
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    # X-Ray's write actions have no resource-level permissions: "*" and nothing else.
    assert (statement["Effect"], set(statement["Action"]), statement["Resource"]) == (
        "Allow", {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*")
    # Lambda checks the role before it turns Active tracing on.
    assert template["Resources"]["Function"]["DependsOn"] == "FunctionTracingPolicy"
    boundary = json.loads((REPO_ROOT / "docs" / "deployer-boundary.json").read_text())
    allowed = {a for s in boundary["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert set(statement["Action"]) <= allowed
    deployer = json.loads((REPO_ROOT / "docs" / "deployer-policy.json").read_text())
    granted = {a for s in deployer["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert {"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:PutDashboard",
            "cloudwatch:DeleteDashboards", "sns:CreateTopic", "sns:Subscribe", "sns:DeleteTopic"} <= granted
    for s in deployer["Statement"]:
        if any(a.startswith(("cloudwatch:", "sns:")) for a in as_list(s["Action"])) and s.get("Sid") != "EndpointMetricsOnly":
            assert all("sagemaker-summarizer" in r for r in as_list(s["Resource"])), s


def test_cfn_lint_finds_nothing_in_any_rendering(template, tmp_path):
    """Each parameter set as CloudFormation would resolve it (scan-template renders the same sets for
    checkov). W2001, a parameter no longer referenced, is what rendering does by design."""
    paths = []
    for name in scan_template.PARAMETER_SETS:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(rendered(template, name), indent=2))
        paths.append(str(path))
    result = subprocess.run(["cfn-lint", "--ignore-checks", "W2001", "--", *paths],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
