"""Where the instructions of a callgrind dump go: self cost per function and object, and the
call tree.

Not callgrind_annotate: on a dump taken mid-run (callgrind_control --dump), the calls still
active are written with ``calls=0``, and callgrind_annotate 3.19 adds their cost to the caller's
SELF cost (``__libc_start_main`` shows 100 % "self").  Here the cost line after a ``calls=`` line
is a call's inclusive cost (a caller -> callee edge) and every other cost line is self cost.
Format: valgrind's docs/callgrind-format, as far as --dump-instr=no output uses it.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

_COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def _parse(path: Path) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], int]:
    """Self Ir per (function, object), inclusive Ir per (caller, callee), and the total."""
    names: dict[tuple[str, str], str] = {}

    def name(kind: str, value: str) -> str:
        # Name compression: "(id) name" defines an id, "(id)" alone refers to it.
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
            fields = line.split()
            if not fields:
                continue
            if line[0].isdigit() or line[0] in "+-*":  # a cost line: position(s), then Ir
                if len(fields) < 2:
                    call_cost_next = False
                elif call_cost_next:
                    call_cost_next = False
                    edges[(function, callee)] += int(fields[1])
                else:
                    costs[(function, obj)] += int(fields[1])
                    total += int(fields[1])
                continue
            # File names (fl=, fi=, cfl=, ...) are not needed and have their own id space.
            key, _, value = line.rstrip("\n").partition("=")
            if key == "fn":
                function = name("fn", value)
            elif key == "cfn":
                callee = name("fn", value)
            elif key == "ob":
                obj = name("ob", value)
            elif key == "cob":
                name("ob", value)  # may define an id that a later ob= refers to
            elif key == "calls":
                call_cost_next = True
    return costs, edges, total


def _call_tree(edges: dict[tuple[str, str], int], total: int, root: str | None = None,
               min_share: float = 0.02, max_depth: int = 8) -> list[tuple[int, int, list[str], bool]]:
    """The call tree from the program's main (or from ROOT, with all its calls) down, as
    (depth, Ir, chain, shared).

    Only calls holding at least MIN_SHARE of the total are followed.  A frame whose one
    significant callee holds >= 95 % of it is folded into a chain (main -> ... -> run loop).
    Callgrind records edges per function, not per call path, so below a function also called
    from elsewhere the split of its callees' costs between its callers is unknown: such a node
    shows this caller's share, marked shared, not expanded.  Recursion is not followed.
    """
    children: dict[str, list[tuple[str, int]]] = defaultdict(list)
    incoming: dict[str, int] = defaultdict(int)
    for (caller, callee), ir in edges.items():
        if caller != callee:
            children[caller].append((callee, ir))
            incoming[callee] += ir
    for kids in children.values():
        kids.sort(key=lambda item: -item[1])
    # The root: the program's main (SwiftPM names an executable's `main` <target>_main), else the
    # outermost frame with the most cost; not the loader's and libc's frames above main, which
    # callgrind's "(below main)" makes loop back on each other.
    if root is not None:
        if root not in children:
            return []
        roots = [(root, incoming.get(root) or sum(ir for _, ir in children[root]))]
    else:
        roots = [(caller, sum(ir for _, ir in kids)) for caller, kids in children.items()
                 if caller == "main" or caller.endswith("_main") and not caller.startswith("__")]
        roots = roots or [(caller, sum(ir for _, ir in kids)) for caller, kids in children.items()
                          if caller not in incoming]
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


def demangle(names: list[str]) -> list[str]:
    """Swift symbol names made readable (others pass through); as they are without swift."""
    try:
        result = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names) + "\n",
                                capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return names
    lines = result.stdout.splitlines()
    return lines if result.returncode == 0 and len(lines) == len(names) else names


def profile(dump: Path, invocations: int, count: int = 20) -> dict:
    """Per invocation: the COUNT functions with the most self cost, the self cost per object
    (binary or library), and the call trees, rendered: the one from main, then those of the
    biggest functions it shares between callers, biggest first, up to six."""
    costs, edges, total = _parse(dump)
    by_object: dict[str, int] = defaultdict(int)
    for (_, obj), ir in costs.items():
        by_object[Path(obj).name or "?"] += ir
    ranked = sorted(costs.items(), key=lambda item: -item[1])[:count]
    functions = [{"function": fn, "object": Path(obj).name, "ir_per_invocation": ir / invocations,
                  "percent": 100 * ir / total}
                 for fn, ((_, obj), ir) in zip(demangle([fn for (fn, _), _ in ranked]), ranked)]
    objects = [{"object": obj, "ir_per_invocation": ir / invocations, "percent": 100 * ir / total}
               for obj, ir in sorted(by_object.items(), key=lambda item: -item[1])]

    trees = [_call_tree(edges, total)]
    pending: dict[str, int] = {}
    done: set[str] = set()
    while True:
        for _, ir, chain, is_shared in trees[-1]:
            if is_shared and chain[-1] not in done:
                pending[chain[-1]] = max(pending.get(chain[-1], 0), ir)
        candidates = [(name, ir) for name, ir in pending.items() if name not in done and ir >= 0.05 * total]
        if not candidates or len(trees) > 6:
            break
        name = max(candidates, key=lambda item: item[1])[0]
        done.add(name)
        if tree := _call_tree(edges, total, root=name):
            trees.append(tree)
    names = sorted({n for tree in trees for _, _, chain, _ in tree for n in chain})
    pretty = dict(zip(names, demangle(names)))
    rendered = []
    for tree in trees:
        lines = []
        for depth, ir, chain, is_shared in tree:
            label = [pretty[n] for n in chain]
            text = " → ".join([label[0], "…", label[-1]] if len(label) > 2 else label)
            lines.append(f"{'  ' * depth}{100 * ir / total:5.1f}% {ir / invocations:>10,.0f}  {text}"
                         + ("  [shared: see below]" if is_shared else ""))
        rendered.append("\n".join(lines))
    return {"functions": functions, "objects": objects, "trees": rendered}
