"""Self cost per function and object, and the call tree, from a callgrind dump.

Not callgrind_annotate: on a dump taken mid-run (callgrind_control --dump),
the calls still active at the dump are written with ``calls=0``, and
callgrind_annotate 3.19 adds such call costs to the caller's SELF cost
(it skips only lines after ``calls=`` with a count > 0), so
``__libc_start_main`` shows up with 100 % "self".  Here every line after a
``calls=`` line is a call's inclusive cost and is skipped; every other cost
line is self cost of the current function.  The call lines also give the
caller -> callee edges from which call_tree() builds the tree of the warm path.

Format reference: valgrind's docs/callgrind-format ("Callgrind Format
Specification").  Only what --dump-instr=no output uses is handled: name
compression ``(id) name`` / ``(id)``, ``ob= fl= fi= fe= fn=`` and their
``c*`` call forms, position columns that may be relative (+N, -N, *).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

_COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def _parse(path: Path) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], int]:
    """Self Ir per (function, object), inclusive Ir per (caller, callee) call
    edge, and the total."""
    names: dict[tuple[str, str], str] = {}

    def name(kind: str, value: str) -> str:
        match = _COMPRESSED.match(value)
        if not match:
            return value
        if match.group(2) is not None:
            names[(kind, match.group(1))] = match.group(2)
        return names.get((kind, match.group(1)), value)

    costs: dict[tuple[str, str], int] = defaultdict(int)
    edges: dict[tuple[str, str], int] = defaultdict(int)
    function, obj, callee = "???", "", "???"
    call_cost_next = False
    total = 0
    with open(path, errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            head = line[0]
            if head.isdigit() or head in "+-*":
                fields = line.split()
                if call_cost_next:  # the inclusive cost of the call just named
                    call_cost_next = False
                    if len(fields) >= 2:
                        edges[(function, callee)] += int(fields[1])
                    continue
                if len(fields) >= 2:
                    ir = int(fields[1])
                    costs[(function, obj)] += ir
                    total += ir
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key == "fn":
                function = name("fn", value)
            elif key == "cfn":
                callee = name("fn", value)
            elif key == "ob":
                obj = name("ob", value)
            elif key == "cob":
                name("ob", value)
            elif key in ("fl", "fi", "fe", "cfi", "cfl"):
                name("fl", value)
            elif key == "calls":
                call_cost_next = True
    return dict(costs), dict(edges), total


def call_tree(path: Path, root: str | None = None, min_share: float = 0.02,
              max_depth: int = 8) -> list[tuple[int, int, list[str], bool]]:
    """The call tree from the program's main (or from ROOT, with the costs of all
    its calls) down, as (depth, Ir, chain, shared).

    Only calls holding at least MIN_SHARE of the total are followed.  A frame
    whose one significant callee holds >= 95 % of it is a pass-through: it is
    folded into a chain (main -> ... -> run loop) instead of a level of its own.
    Costs are those of the call edges (the lines after ``calls=``).  Callgrind
    records edges per function, not per call path, so below a function that is
    also called from elsewhere (JSONDecoder.decode from two places, the HTTP
    client for three requests) the split of its callees' costs between its
    callers is unknown: such a node is shown with this caller's share and
    marked shared, not expanded.  A callee already on the path (recursion) is
    not followed again.
    """
    _, edges, total = _parse(path)
    children: dict[str, list[tuple[str, int]]] = defaultdict(list)
    incoming: dict[str, int] = defaultdict(int)
    for (caller, callee), ir in edges.items():
        if caller != callee:
            children[caller].append((callee, ir))
            incoming[callee] += ir
    for kids in children.values():
        kids.sort(key=lambda item: -item[1])
    # The root: the program's main (SwiftPM names an executable's `main` <target>_main),
    # else the outermost frame (a caller nobody calls) with the most cost.  Not the
    # loader's and libc's start-up frames above main: callgrind's "(below main)" makes
    # those loop back on each other.
    if root is not None:
        if root not in children:
            return []
        roots = [(root, incoming.get(root) or sum(ir for _, ir in children[root]))]
    else:
        roots = [(caller, sum(ir for _, ir in kids)) for caller, kids in children.items()
                 if caller == "main" or caller.endswith("_main") and not caller.startswith("__")]
    if not roots and root is None:
        roots = [(caller, sum(ir for _, ir in kids)) for caller, kids in children.items() if caller not in incoming]
    if not roots or total == 0:
        return []
    root, root_cost = max(roots, key=lambda item: item[1])
    out: list[tuple[int, int, list[str], bool]] = []

    def significant(function: str, path: frozenset) -> list[tuple[str, int]]:
        return [(c, ir) for c, ir in children.get(function, []) if c not in path and ir >= min_share * total]

    def visit(function: str, cost: int, depth: int, path: frozenset) -> None:
        chain = [function]
        kids = significant(function, path)
        while len(kids) == 1 and kids[0][1] >= 0.95 * cost and kids[0][1] >= 0.95 * incoming[kids[0][0]]:
            function = kids[0][0]
            chain.append(function)
            path = path | {function}
            kids = significant(function, path)
        out.append((depth, cost, chain, False))
        if depth >= max_depth:
            return
        for child, ir in kids:
            if ir < 0.95 * incoming[child]:
                out.append((depth + 1, ir, [child], True))
            else:
                visit(child, ir, depth + 1, path | {child})

    visit(root, root_cost, 0, frozenset([root]))
    return out


def top(path: Path, count: int) -> tuple[list[tuple[str, str, int]], dict[str, int], int]:
    """The COUNT functions with the most self Ir, self Ir per object, and the total."""
    costs, _, total = _parse(path)
    by_object: dict[str, int] = defaultdict(int)
    for (_, obj), ir in costs.items():
        by_object[Path(obj).name or "?"] += ir
    ranked = sorted(costs.items(), key=lambda item: -item[1])[:count]
    return [(fn, Path(obj).name, ir) for (fn, obj), ir in ranked], dict(by_object), total
