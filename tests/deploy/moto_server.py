"""moto with corrections to its CloudFormation (5.2.1) where it differs from CloudFormation, each
explained where it is made; resource types moto does not implement stay unimplemented. Importing
this applies them (test_deploy.py); run it as moto_server for tools/deploy.sh rehearse:
python3 tests/deploy/moto_server.py -H 127.0.0.1 -p PORT
"""

import importlib.util
import ipaddress
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import moto.cloudformation.responses
from moto.cloudformation.models import CloudFormationBackend
from moto.apigateway.models import Method, apigateway_backends
from moto.budgets.models import budgets_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.utils import get_stack_from_s3_url

# tools/scan-template.py knows which parameters a piece of template reads through its conditions.
_spec = importlib.util.spec_from_file_location(
    "scan_template", Path(__file__).resolve().parents[2] / "tools" / "scan-template.py")
scan_template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scan_template)

# moto builds a stack's Outputs on CreateStack and UpdateStack but not when a change set is
# executed (what `aws cloudformation deploy` does): the stack had none, or kept its old ones.
# CloudFormation evaluates Outputs after every execution; this does it as moto's UpdateStack does.
_execute_change_set = CloudFormationBackend.execute_change_set


def execute_change_set(self, change_set_name, stack_name=None):
    _execute_change_set(self, change_set_name, stack_name)
    stack = self.stacks[self.change_sets[change_set_name].stack_id]  # the CLI names it by its ARN
    stack._parse_template()
    stack.output_map = stack._create_output_map()


CloudFormationBackend.execute_change_set = execute_change_set


# moto reads a TemplateURL on any host but "localhost" or s3*.amazonaws.com as virtual-hosted
# (bucket = first label of the host). `aws cloudformation deploy --s3-bucket` (the template is over
# the 51,200-byte inline limit) sends http://127.0.0.1:PORT/bucket/key, which S3 reads path-style.
# (Its other caller, nested stacks, the template does not use.)
def stack_from_s3_url(template_url, account_id, partition):
    host = urlparse(template_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return get_stack_from_s3_url(template_url, account_id, partition)
    # An IP address is never a bucket: path style, like "localhost".
    return get_stack_from_s3_url(template_url.replace(host, "localhost", 1), account_id, partition)


moto.cloudformation.responses.get_stack_from_s3_url = stack_from_s3_url


_build_resource_diff = ResourceMap.build_resource_diff


def build_resource_diff(self, other_template, parameters=None):
    actions = _build_resource_diff(self, other_template, parameters)
    # moto updates only resources that Ref a changed parameter; CloudFormation also those whose
    # Fn::If reads one through a condition (AuthMode -> the POST method).
    if parameters:
        changed = {p for p in parameters if self.input_parameters.get(p) != parameters[p]}
        for name, resource in other_template["Resources"].items():
            if scan_template.parameters_read(other_template, resource) & changed and name not in actions["Modify"]:
                actions["Modify"].append(name)
    # moto "modifies" resources whose Condition was false and that were never created; one that
    # reads an attribute of another such resource (EndpointConfig -> Model) fails the update.
    # CloudFormation never touches a resource that does not exist.
    actions["Modify"] = [name for name in actions["Modify"] if name in self._parsed_resources]
    return actions


ResourceMap.build_resource_diff = build_resource_diff

_update = ResourceMap.update


def update(self, template, parameters=None):
    # After an update CloudFormation creates every resource whose condition has become true (moto
    # only those something still references), as on a create.
    _update(self, template, parameters)
    for name in self._ResourceMap__get_resources_in_dependency_order():
        self[name]  # creates it when its condition holds and it does not exist yet


ResourceMap.update = update

_load_parameters = ResourceMap.load_parameters


def load_parameters(self):
    # moto splits a CommaDelimitedList input on every load, and an update loads again the inputs
    # it already split (ManagedInstancesSubnetIds): join them back so each load sees what was sent.
    self.input_parameters = {key: ",".join(value) if isinstance(value, list) else value
                             for key, value in self.input_parameters.items()}
    _load_parameters(self)


ResourceMap.load_parameters = load_parameters


# moto cannot update an AWS::ApiGateway::Method from a template (it keeps the old one);
# CloudFormation updates it in place, as PutMethod (which replaces a method, integration included).
@classmethod
def update_method(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)


Method.update_from_cloudformation_json = update_method


def _lower_keys(node):
    """CloudFormation's UsagePlan properties (ApiStages, RateLimit) in the API's spelling (apiStages, rateLimit)."""
    if isinstance(node, dict):
        return {key[0].lower() + key[1:]: _lower_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_lower_keys(value) for value in node]
    return node


# moto does not create AWS::ApiGateway::ApiKey, UsagePlan or UsagePlanKey from a template; these
# models do, through moto's own API Gateway backend (so get-api-key and get-usage-plans read them).
# moto files every model under a service named by its module's second component.
MOTO_MODULE = "moto.apigateway.template_models"


class _Created(SimpleNamespace):
    """What a model below made: its physical id and the attributes Fn::GetAtt reads."""

    def get_cfn_attribute(self, name):
        return self.attributes[name]

    def delete(self, account_id, region_name):
        self.on_delete()


def _template_model(resource_type, backend=lambda account, region: apigateway_backends[account][region],
                    name_property=None):
    """Registers the decorated create(backend, Properties) -> physical id, or _Created, as moto's
    CloudFormation model for resource_type (moto finds models as subclasses of CloudFormationModel).
    With name_property, moto names an unnamed resource <stack>-<logical id>-<random>, as CloudFormation does."""

    def register(create):
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            made = create(backend(account_id, region_name), {"Name": resource_name, **cloudformation_json["Properties"]})
            if isinstance(made, str):
                made = _Created(physical_resource_id=made, attributes={}, on_delete=lambda: None)
            return made

        members = {"__module__": MOTO_MODULE, "cloudformation_type": staticmethod(lambda: resource_type),
                   "create_from_cloudformation_json": classmethod(create_from_cloudformation_json)}
        if name_property:
            members["cloudformation_name_type"] = staticmethod(lambda: name_property)
        type("Template" + resource_type.rsplit(":", 1)[-1], (CloudFormationModel,), members)
        return create

    return register


# template.json names the key and the plan (Name, UsagePlanName).
@_template_model("AWS::ApiGateway::ApiKey")
def _api_key(backend, properties):
    return backend.create_api_key({"name": properties["Name"], "enabled": properties.get("Enabled", False),
                                   "description": properties.get("Description", "")}).id


@_template_model("AWS::ApiGateway::UsagePlan")
def _usage_plan(backend, properties):
    plan = _lower_keys(properties)
    plan["name"] = plan.pop("usagePlanName")
    return backend.create_usage_plan(plan).id


@_template_model("AWS::ApiGateway::UsagePlanKey")
def _usage_plan_key(backend, properties):
    plan, key = properties["UsagePlanId"], properties["KeyId"]
    backend.create_usage_plan_key(plan, {"keyId": key, "keyType": properties["KeyType"]})
    return f"{plan}:{key}"


# moto has no Lambda capacity providers (Managed Instances) and no AWS::Budgets::Budget model.
# A capacity provider is a name and an ARN here (nothing launches); the budget goes into moto's
# Budgets backend, so describe-budget reads it.
@_template_model("AWS::Lambda::CapacityProvider", backend=lambda account, region: (account, region),
                 name_property="CapacityProviderName")
def _capacity_provider(where, properties):
    account, region = where
    name = properties.get("CapacityProviderName") or properties["Name"]
    return _Created(physical_resource_id=name, on_delete=lambda: None,
                    attributes={"Arn": f"arn:aws:lambda:{region}:{account}:capacity-provider:{name}"})


@_template_model("AWS::Budgets::Budget", backend=lambda account, region: (account, budgets_backends[account]["aws"]))
def _budget(where, properties):
    account, backend = where
    budget = properties["Budget"]
    limit = budget["BudgetLimit"]
    backend.create_budget(account, {**budget, "BudgetLimit": {"Amount": str(limit["Amount"]), "Unit": limit["Unit"]}},
                          properties.get("NotificationsWithSubscribers", []))
    name = budget["BudgetName"]
    return _Created(physical_resource_id=name, attributes={},
                    on_delete=lambda: backend.delete_budget(account_id=account, budget_name=name))

# moto does not create AWS::CloudWatch::Alarm from a template; this model does, through moto's own
# CloudWatch backend (so DescribeAlarms, and `make alarms`, read them), named as CloudFormation
# names them: AlarmName, else a generated name (here the logical id).
def _create_alarm(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
        name=properties.get("AlarmName", resource_name), namespace=properties["Namespace"],
        metric_name=properties["MetricName"], comparison_operator=properties["ComparisonOperator"],
        evaluation_periods=int(properties["EvaluationPeriods"]), period=int(properties["Period"]),
        threshold=float(properties["Threshold"]), statistic=properties.get("Statistic"),
        extended_statistic=properties.get("ExtendedStatistic"), description=properties.get("AlarmDescription", ""),
        dimensions=properties.get("Dimensions", []), alarm_actions=properties.get("AlarmActions", []),
        ok_actions=properties.get("OKActions", []), datapoints_to_alarm=properties.get("DatapointsToAlarm"),
        unit=properties.get("Unit"), treat_missing_data=properties.get("TreatMissingData"))
    return SimpleNamespace(physical_resource_id=alarm.name)


type("TemplateAlarm", (CloudFormationModel,), {
    "__module__": "moto.cloudwatch.template_models",
    "cloudformation_type": staticmethod(lambda: "AWS::CloudWatch::Alarm"),
    "create_from_cloudformation_json": classmethod(_create_alarm)})


if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
