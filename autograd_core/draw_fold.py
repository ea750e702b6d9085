"""What a diagram folds: layers collapsed into one box each, repeated chains, the earlier part.

``Folding`` decides, for one tape, which operations are drawn together as one box
(a ``Group``) and so which tensors still get a box of their own. Layers come from the
parameters' dotted names (``layers.0.W`` and ``layers.0.b`` make the layer ``layers.0``),
so ``autograd_core`` never needs to import ``nn``. Above ``max_nodes`` boxes, layers
collapse first, then chains of operations that each feed only the next fold into one
box, and at last the part farthest from the output becomes one box.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from .explain import Tape
from .node import Node


@dataclasses.dataclass(eq=False)
class Group:
    """Operations drawn as one box: a collapsed layer, a folded chain, or the earlier part."""

    id: str
    kind: str                     # "layer", "chain" or "rest"
    title: str
    ops: list[Node]
    detail: str = ""




class Folding:
    """The groups of one tape's operations, and which of its tensors stay visible."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.clusters = layer_clusters(tape)
        self.groups: list[Group] = []
        self.group_of: dict[Node, Group] = {}
        self._visible: set[Node] | None = None

    def plan(self, collapse: Any, max_nodes: int) -> str | None:
        """Decide which operations are drawn as one box: asked for, then as many as needed.

        Returns the caption's sentence on what was folded to stay under ``max_nodes``, if anything.
        """
        if collapse is True:
            wanted = list(self.clusters)
        elif isinstance(collapse, str):
            wanted = [collapse]
        else:
            wanted = list(collapse or ())
        unknown = [name for name in wanted if name not in self.clusters]
        if unknown:
            known = ", ".join(self.clusters) or "none (no parameter has a dotted name such as layers.0.W)"
            raise ValueError(f"draw(): collapse names {unknown}, but the layers in this graph are: {known}")
        for name in wanted:
            self._collapse_layer(name)
        if self.count() <= max_nodes:
            return None
        total = self.count()
        folded = [name for name in self.clusters if name not in wanted]
        for name in folded:
            self._collapse_layer(name)
        steps = []
        if folded and any(self.clusters[name] for name in folded):
            steps.append(f"{len(folded)} layer(s) collapsed")
        if self.count() > max_nodes:
            chains = self._fold_chains()
            if chains:
                steps.append(f"{chains} chain(s) of repeated operations folded")
        if self.count() > max_nodes:
            hidden = self._fold_rest(max_nodes)
            steps.append(f"the {hidden:,} operations farthest from the output drawn as one box")
        return (f"Large graph: {len(self.tape.operations):,} operations ({total:,} boxes) is more than "
                f"max_nodes={max_nodes}, so " + "; ".join(steps) + ". "
                "Pass max_nodes= or collapse= to choose.")

    def _add_group(self, group: Group) -> None:
        self._visible = None
        for node in group.ops:
            old = self.group_of.get(node)
            if old is not None and old is not group and old in self.groups:
                self.groups.remove(old)
            self.group_of[node] = group
        self.groups.append(group)

    def _collapse_layer(self, name: str) -> None:
        ops = self.clusters[name]
        if ops and not any(self.group_of.get(node) is not None for node in ops):
            kinds = list(dict.fromkeys(node.op.name for node in ops))
            self._add_group(Group(f"g{len(self.groups)}", "layer", name, ops, ", ".join(kinds)))

    def _units(self) -> tuple[list[Any], dict[Node, Any]]:
        """Ungrouped operations and groups, in tape order: the pieces chains are made of."""
        unit_of: dict[Node, Any] = {}
        units: list[Any] = []
        listed: set[int] = set()
        for node in self.tape.operations:
            group = self.group_of.get(node)
            unit = group if group is not None else node
            if id(unit) not in listed:
                listed.add(id(unit))
                units.append(unit)
            unit_of[node] = unit
        return units, unit_of

    def _fold_chains(self, keep: int = 2, shortest: int = 8) -> int:
        """Fold runs of operations (or layers) that each feed only the next into one box.

        A run keeps ``keep`` pieces visible at each end, so the picture still shows how
        the repeated step begins and ends; runs shorter than ``shortest`` stay as they are.
        """
        units, unit_of = self._units()
        root, consumers = self.tape.root, self.tape.consumers
        follows: dict[Any, Any] = {}        # unit -> the one unit that uses its results
        single: dict[Any, bool] = {}        # unit -> fed by exactly one other unit
        for unit in units:
            ops = unit.ops if type(unit) is Group else (unit,)
            follower, ok, feeder, feeders = None, True, None, 0
            for node in ops:
                if node is root:
                    ok = False
                for consumer, _ in consumers[node]:
                    used_by = unit_of[consumer]
                    if used_by is unit:
                        continue
                    if follower is None:
                        follower = used_by
                    elif follower is not used_by:
                        ok = False
                for parent in node.parents:
                    if parent is not None and parent.op is not None:
                        source = unit_of[parent]
                        if source is not unit and source is not feeder:
                            feeder, feeders = source, feeders + 1
            if ok and follower is not None:
                follows[unit] = follower
            single[unit] = feeders == 1
        linked = {unit: after for unit, after in follows.items() if single[after]}
        targets = set(linked.values())
        folded = 0
        for start in units:                 # in tape order
            if start not in linked or start in targets:
                continue
            run = [start]
            while run[-1] in linked:
                run.append(linked[run[-1]])
            if len(run) < shortest:
                continue
            middle = run[keep:len(run) - keep]
            ops = [node for unit in middle for node in (unit.ops if type(unit) is Group else (unit,))]
            self._add_group(Group(f"g{len(self.groups)}", "chain", _chain_title(middle), ops,
                                  f"{len(ops):,} operations"))
            folded += 1
        return folded

    def _fold_rest(self, max_nodes: int) -> int:
        """Keep the operations nearest the output; fold everything earlier into one box."""
        units, unit_of = self._units()
        budget = max(max_nodes // 2, 4)
        while True:
            kept = set()
            cost = 0
            for unit in reversed(units):                 # the latest on the tape first
                if isinstance(unit, Group):
                    cost += 3                            # the box, an exit, an input
                else:                                    # the operation, its output, its inputs
                    cost += 2 + sum(1 for p in unit.parents if p is None or p.op is None)
                if cost > budget:
                    break
                kept.add(id(unit))
            rest = [node for node in self.tape.operations if id(unit_of[node]) not in kept]
            group = Group(f"g{len(self.groups)}", "rest", "earlier part of the graph", rest,
                          _census(rest))
            saved_groups, saved_of = list(self.groups), dict(self.group_of)
            self._add_group(group)
            if self.count() <= max_nodes or budget <= 4:
                return len(rest)
            self.groups, self.group_of, self._visible = saved_groups, saved_of, None
            budget //= 2

    # ---------------------------------------------------------------- what is visible
    def visible_tensor(self, node: Node) -> bool:
        """Is ``node``'s output (or leaf) drawn as a box of its own?"""
        if self._visible is None:
            self._visible = self._visible_tensors()
        return node in self._visible

    def _visible_tensors(self) -> set[Node]:
        """Every node whose output gets a box: all but those hidden inside a folded box.

        A leaf is hidden when every operation using it is in one box; an operation's
        output when the operation and all its users are in one box (a box of the earlier
        part shows no outputs at all: its arrows go straight to the operations using them).
        """
        group_of, root = self.group_of, self.tape.root
        visible = set()
        for node, uses in self.tape.consumers.items():
            if node is root or not uses:
                visible.add(node)
                continue
            if node.op is None:
                first = group_of.get(uses[0][0])
                if first is None or any(group_of.get(c) is not first for c, _ in uses):
                    visible.add(node)
                continue
            group = group_of.get(node)
            if group is None or (group.kind != "rest" and any(group_of.get(c) is not group for c, _ in uses)):
                visible.add(node)
        return visible

    def count(self) -> int:
        """How many boxes and ellipses would be drawn now."""
        total = len(self.groups) + len(self._visible_tensors())
        group_of = self.group_of
        for node in self.tape.operations:
            group = group_of.get(node)
            if group is None:
                total += 1
            if group is None or group.kind == "layer":        # a layer's box shows its constants
                total += sum(1 for p in node.parents if p is None)
        return total




def layer_clusters(tape: Tape) -> dict[str, list[Node]]:
    """Layer name -> its operations: between the first and the last use of the layer's parameters.

    ``layers.0.W`` and ``layers.0.b`` name the layer ``layers.0``. Its operations are those
    that consume one of its parameters, and every operation on a path between two of
    them (``matmul`` between ``transpose(W)`` and ``add(·, b)``).
    """
    users: dict[str, list[Node]] = {}
    for leaf in tape.leaves:
        name = leaf.name or (leaf.tensor.name if leaf.tensor is not None else None)
        if not name or "." not in name:
            continue
        prefix = name.rsplit(".", 1)[0]
        users.setdefault(prefix, []).extend(c for c, _ in tape.consumers.get(leaf, ()))
    clusters: dict[str, list[Node]] = {}
    taken: set[Node] = set()
    for prefix, direct in users.items():
        if not direct:
            continue
        low, high = min(n.seq for n in direct), max(n.seq for n in direct)
        # Ancestors of a direct user, not before the first; descendants, not after the last.
        below = _reachable(direct, lambda node: (
            p for p in node.parents if p is not None and p.op is not None and p.seq >= low))
        above = _reachable(direct, lambda node: (
            c for c, _ in tape.consumers.get(node, ()) if c.seq <= high))
        ops = sorted((below & above) - taken, key=lambda n: n.seq)
        taken.update(ops)
        clusters[prefix] = ops
    return clusters


def cluster_leaves(tape: Tape, clusters: dict[str, list[Node]]) -> dict[str, list[Node]]:
    leaves: dict[str, list[Node]] = collections.defaultdict(list)
    for leaf in tape.leaves:
        name = leaf.name or ""
        prefix = name.rsplit(".", 1)[0] if "." in name else None
        if prefix in clusters:
            leaves[prefix].append(leaf)
    return leaves





def _chain_title(units: list[Any]) -> str:
    signature = [f"[{u.detail}]" if isinstance(u, Group) else u.op.name for u in units]
    for period in range(1, 9):
        if len(signature) >= 2 * period and all(
                signature[i] == signature[i + period] for i in range(len(signature) - period)):
            block = " → ".join(signature[:period])
            times, more = divmod(len(signature), period)
            return f"({block}) ×{times:,}" + (f" + {more}" if more else "")
    return f"chain of {len(signature):,} steps"


def _census(ops: list[Node]) -> str:
    names = collections.Counter(node.op.name for node in ops)
    parts = ", ".join(f"{name} ×{count:,}" for name, count in names.most_common(3))
    return f"{len(ops):,} operations: {parts}" + (", …" if len(names) > 3 else "")



def _reachable(start: Any, neighbours: Any) -> set:
    """Every node reachable from ``start`` through ``neighbours(node)`` (start included)."""
    seen: set = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(neighbours(node))
    return seen
