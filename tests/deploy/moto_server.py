"""`moto_server` for the deployment rehearsal, with corrections to moto's CloudFormation.

moto (5.2.1, still so in 5.2.5) builds a stack's Outputs when the stack is created by CreateStack or
updated by UpdateStack, but not when a change set is executed: a stack created through
CreateChangeSet + ExecuteChangeSet (what `aws cloudformation deploy` does) has no Outputs at all,
and an updated one keeps its old ones. CloudFormation evaluates Outputs after every execution, so
this re-evaluates them the way moto's own UpdateStack path does (`_parse_template`, then
`_create_output_map`). Nothing else is changed; resource types moto does not implement stay
unimplemented.

moto (5.2.1) also reads a TemplateURL on any host but "localhost" or s3*.amazonaws.com as
virtual-hosted (bucket = first label of the host). `aws cloudformation deploy --s3-bucket` (needed:
the template is over the 51,200-byte inline limit) sends a path-style URL on the endpoint it was
given, http://127.0.0.1:PORT/bucket/key, which S3 and CloudFormation read as bucket/key: so does this.

moto (5.2.1) also "modifies", on an update, every resource whose template references a parameter
that changed, including resources whose Condition was false and that were never created; one of
those that reads an attribute of another such resource (EndpointConfig -> Model) fails the whole
update. CloudFormation never touches a resource that does not exist: neither does this. And after
an update, CloudFormation creates every resource whose condition has become true (moto only those
something still references); so does this, as on a create.

moto (5.2.1) updates only resources that Ref a changed parameter, not those whose Fn::If reads
one through a condition (the POST method and AuthMode); this adds them.

moto (5.2.1) splits a CommaDelimitedList parameter again on every update, failing on the list it
made the first time (ManagedInstancesSubnetIds); this joins it back first.

moto (5.2.1) cannot update an AWS::ApiGateway::Method from a template (it keeps the old one);
CloudFormation updates it in place, which this does by putting the method again (PutMethod
replaces a method, integration included).

moto (5.2.1) does not create AWS::ApiGateway::ApiKey, UsagePlan or UsagePlanKey from a template;
this does, through moto's own API Gateway backend (so get-api-key and get-usage-plans read them).

Usage: python3 tests/deploy/moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import ipaddress
import sys
from urllib.parse import urlparse

import moto.cloudformation.models
import moto.cloudformation.responses
from moto.cloudformation.models import CloudFormationBackend
from moto.apigateway.models import Method, apigateway_backends
from moto.core.common_models import CloudFormationModel
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.utils import get_stack_from_s3_url

_execute_change_set = CloudFormationBackend.execute_change_set


def _change_set(backend, change_set_name):
    if change_set_name in backend.change_sets:  # an ARN
        return backend.change_sets[change_set_name]
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == change_set_name:
            return change_set
    return None


def execute_change_set(self, change_set_name, stack_name=None):
    _execute_change_set(self, change_set_name, stack_name)
    change_set = _change_set(self, change_set_name)
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.output_map = stack._create_output_map()


CloudFormationBackend.execute_change_set = execute_change_set


def stack_from_s3_url(template_url, account_id, partition):
    host = urlparse(template_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return get_stack_from_s3_url(template_url, account_id, partition)
    # An IP address is never a bucket: path style, like "localhost".
    return get_stack_from_s3_url(template_url.replace(host, "localhost", 1), account_id, partition)


moto.cloudformation.models.get_stack_from_s3_url = stack_from_s3_url
moto.cloudformation.responses.get_stack_from_s3_url = stack_from_s3_url


_build_resource_diff = ResourceMap.build_resource_diff


def _parameters_of_condition(conditions, name, seen=()):
    """Parameters a condition reads, through the conditions it names."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                found.add(node["Ref"])
            elif set(node) == {"Condition"} and node["Condition"] not in seen:
                found.update(_parameters_of_condition(conditions, node["Condition"], (*seen, name)))
            else:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(conditions.get(name, {}))
    return found


def _conditions_used(node):
    if isinstance(node, dict):
        used = {node["Fn::If"][0]} if "Fn::If" in node else set()
        for value in node.values():
            used |= _conditions_used(value)
        return used
    if isinstance(node, list):
        return set().union(*(_conditions_used(value) for value in node)) if node else set()
    return set()


def build_resource_diff(self, other_template, parameters=None):
    actions = _build_resource_diff(self, other_template, parameters)
    # moto only sees parameters a resource Refs; CloudFormation also updates a resource whose
    # Fn::If conditions read a parameter that changed (AuthMode -> the POST method).
    if parameters:
        changed = {p for p in parameters if self.input_parameters.get(p) != parameters[p]}
        conditions = other_template.get("Conditions", {})
        for name, resource in other_template["Resources"].items():
            read = set().union(*(_parameters_of_condition(conditions, c) for c in _conditions_used(resource)), set())
            if read & changed and name not in actions["Modify"]:
                actions["Modify"].append(name)
    actions["Modify"] = [name for name in actions["Modify"] if name in self._parsed_resources]
    return actions


ResourceMap.build_resource_diff = build_resource_diff

_update = ResourceMap.update


def update(self, template, parameters=None):
    _update(self, template, parameters)
    for name in self._ResourceMap__get_resources_in_dependency_order():
        self[name]  # creates it when its condition holds and it does not exist yet


ResourceMap.update = update

_load_parameters = ResourceMap.load_parameters


def load_parameters(self):
    # moto splits a CommaDelimitedList input on every load, and an update loads again the inputs
    # it already split: join them back so each load sees what the caller sent.
    self.input_parameters = {key: ",".join(value) if isinstance(value, list) else value
                             for key, value in self.input_parameters.items()}
    _load_parameters(self)


ResourceMap.load_parameters = load_parameters


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


# moto files every model under a service named by its module's second component.
MOTO_MODULE = "moto.apigateway.template_models"


class _Created:
    def __init__(self, physical_resource_id):
        self.physical_resource_id = physical_resource_id


def _template_model(resource_type, name_property, create):
    """Registers a moto CloudFormation model for resource_type (moto finds models as subclasses of
    CloudFormationModel); create(backend, logical id, Properties) makes it and returns its id."""

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        backend = apigateway_backends[account_id][region_name]
        return _Created(create(backend, resource_name, cloudformation_json["Properties"]))

    members = {"__module__": MOTO_MODULE, "cloudformation_type": staticmethod(lambda: resource_type),
               "create_from_cloudformation_json": classmethod(create_from_cloudformation_json)}
    if name_property:
        members["cloudformation_name_type"] = staticmethod(lambda: name_property)
    return type("Template" + resource_type.rsplit(":", 1)[-1], (CloudFormationModel,), members)


def _api_key(backend, name, properties):
    return backend.create_api_key({"name": properties.get("Name", name), "enabled": properties.get("Enabled", False),
                                   "description": properties.get("Description", "")}).id


def _usage_plan(backend, name, properties):
    plan = _lower_keys(properties)
    plan["name"] = plan.pop("usagePlanName", name)
    return backend.create_usage_plan(plan).id


def _usage_plan_key(backend, name, properties):
    plan, key = properties["UsagePlanId"], properties["KeyId"]
    backend.create_usage_plan_key(plan, {"keyId": key, "keyType": properties["KeyType"]})
    return f"{plan}:{key}"


_template_model("AWS::ApiGateway::ApiKey", "Name", _api_key)
_template_model("AWS::ApiGateway::UsagePlan", "UsagePlanName", _usage_plan)
_template_model("AWS::ApiGateway::UsagePlanKey", None, _usage_plan_key)


if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
