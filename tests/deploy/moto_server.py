"""`moto_server` for the deployment rehearsal, with one correction to moto's CloudFormation.

moto (5.2.1, still so in 5.2.5) builds a stack's Outputs when the stack is created by CreateStack or
updated by UpdateStack, but not when a change set is executed: a stack created through
CreateChangeSet + ExecuteChangeSet (what `aws cloudformation deploy` does) has no Outputs at all,
and an updated one keeps its old ones. CloudFormation evaluates Outputs after every execution, so
this re-evaluates them the way moto's own UpdateStack path does (`_parse_template`, then
`_create_output_map`). Nothing else is changed; resource types moto does not implement stay
unimplemented.

Usage: python3 tests/deploy/moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import sys

from moto.cloudformation.models import CloudFormationBackend

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

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
