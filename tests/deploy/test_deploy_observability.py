"""The rehearsal (tools/deploy.sh against moto, test_deploy.py) creates what an operator watches:
the alarms (through moto_server.py's model), the topic they notify, the dashboard, whose URL
`deploy` prints, and `alarms` lists them. What moto does not implement (the X-Ray role policy,
the stage's tracing) is proven on the template by test_observability.py and the scans."""

from __future__ import annotations

import json

import pytest
from test_deploy import ACCOUNT, REGION, client, deploy, deploy_sh, moto, stack_outputs  # noqa: F401 (fixture)

STACK = "summarizer-watched"


@pytest.fixture(scope="module")
def watched(moto):  # noqa: F811 (the fixture imported above)
    result = deploy(moto, "AlarmEmail=ops@example.com", "MetricsNamespace=Team/Summarizer", stack=STACK)
    assert result.returncode == 0, result.stderr
    return moto, result


def test_deploy_creates_the_alarms_notifying_a_topic_for_the_email(watched):
    moto_url, _ = watched
    topic = stack_outputs(moto_url, STACK)["AlarmTopicArn"]
    assert topic.startswith(f"arn:aws:sns:{REGION}:{ACCOUNT}:")
    subscriptions = client(moto_url, "sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]

    alarms = client(moto_url, "cloudwatch").describe_alarms(AlarmNamePrefix=f"{STACK}-")["MetricAlarms"]
    assert {a["AlarmName"].removeprefix(f"{STACK}-") for a in alarms} == {
        "function-errors", "function-throttles", "function-duration-p99", "api-5xx", "api-latency-p99",
        "endpoint-5xx", "endpoint-model-latency-p99", "model-errors", "upstream-unreachable", "sagemaker-throttled"}
    for alarm in alarms:
        assert alarm["AlarmActions"] == alarm["OKActions"] == [topic], alarm["AlarmName"]
        assert alarm["TreatMissingData"] in ("notBreaching", "ignore")
    by_name = {a["AlarmName"].removeprefix(f"{STACK}-"): a for a in alarms}
    model_errors = by_name["model-errors"]
    assert (model_errors["Namespace"], model_errors["Dimensions"]) == (
        "Team/Summarizer", [{"Name": "service", "Value": STACK}])
    assert by_name["function-errors"]["Dimensions"] == [{"Name": "FunctionName", "Value": STACK}]
    assert by_name["endpoint-5xx"]["Dimensions"][0] == {"Name": "EndpointName", "Value": "pegasus-financial-summarizer"}


def test_deploy_prints_the_dashboard_url_and_the_dashboard_exists(watched):
    moto_url, result = watched
    url = stack_outputs(moto_url, STACK)["DashboardUrl"]
    assert url == f"https://{REGION}.console.amazonaws.com/cloudwatch/home?region={REGION}#dashboards:name={STACK}"
    assert f"dashboard: {url}" in result.stderr
    assert result.stdout.strip().endswith("/summarize")  # stdout stays the URL alone, for scripts
    body = json.loads(client(moto_url, "cloudwatch").get_dashboard(DashboardName=STACK)["DashboardBody"])
    metrics = [row for widget in body["widgets"] for row in widget["properties"]["metrics"]]
    assert ["AWS/Lambda", "Invocations", "FunctionName", STACK, {"label": "function invocations"}] in metrics
    assert any(row[:2] == ["AWS/SageMaker", "ModelLatency"] and "pegasus-financial-summarizer" in row for row in metrics)
    assert all(widget["properties"]["region"] == REGION for widget in body["widgets"])


def test_alarms_lists_each_alarm_with_its_state(watched):
    moto_url, _ = watched
    listed = deploy_sh(moto_url, "alarms", STACK=STACK)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 10
    for line in lines:
        state, name, *_ = line.split("\t")
        assert state in ("OK", "ALARM", "INSUFFICIENT_DATA") and name.startswith(f"{STACK}-"), line


def test_alarms_of_a_stack_that_is_not_there_say_so(moto):  # noqa: F811
    result = deploy_sh(moto, "alarms", STACK="summarizer-nowhere")
    assert result.returncode != 0 and "cannot read stack summarizer-nowhere" in result.stderr
