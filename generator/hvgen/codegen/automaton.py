"""Content models as deterministic automata.

A content model (sequences, choices and ``xs:all`` groups of elements and
wildcards, each with its occurrences) is turned into a deterministic finite
automaton over child element names: Glushkov positions for the particles
(bounded repeats unrolled), then the subset construction, so that checking
a document costs one dictionary lookup per child element.

A bounded ``maxOccurs`` above :data:`UNROLL` is treated as unbounded (the
reader still accepts every valid document); an ``xs:all`` group of more
than :data:`ALL_LIMIT` elements is checked as a repeated choice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

UNBOUNDED = None
UNROLL = 32
ALL_LIMIT = 4


@dataclass
class Leaf:
    """An element (by name) or a wildcard (``key`` starts with ``*``)."""

    key: str
    min: int = 1
    max: int | None = 1


@dataclass
class Group:
    """A sequence (``s``), choice (``c``) or all group (``a``)."""

    kind: str
    min: int = 1
    max: int | None = 1
    children: list[Leaf | Group] = field(default_factory=list)


Particle = Leaf | Group
#: A node of the regular expression form (see below).
Node = tuple[Any, ...]


# -- regular expression form -----------------------------------------------------------
# Nodes: ("sym", position) | ("seq", [nodes]) | ("alt", [nodes]) | ("opt", node)
# | ("star", node) | ("eps",)


@dataclass
class _Builder:
    symbols: list[str] = field(default_factory=list)

    def symbol(self, key: str) -> tuple[str, int]:
        self.symbols.append(key)
        return ("sym", len(self.symbols) - 1)

    def build(self, particle: Particle) -> Node:
        low, high = particle.min, particle.max
        if high is not None and high > UNROLL:
            high = None
        if high == 0:
            return ("eps",)
        parts: list[Node] = [self._once(particle) for _ in range(low)]
        if high is None:
            parts.append(("star", self._once(particle)))
        else:
            optional: Node | None = None
            for _ in range(high - low):
                inner = self._once(particle)
                optional = ("opt", inner if optional is None else ("seq", [inner, optional]))
            if optional is not None:
                parts.append(optional)
        if not parts:
            return ("eps",)
        return parts[0] if len(parts) == 1 else ("seq", parts)

    def _once(self, particle: Particle) -> Node:
        if isinstance(particle, Leaf):
            return self.symbol(particle.key)
        if particle.kind == "s":
            return ("seq", [self.build(c) for c in particle.children]) if particle.children else ("eps",)
        if particle.kind == "c":
            return ("alt", [self.build(c) for c in particle.children]) if particle.children else ("eps",)
        return self._all(particle)

    def _all(self, group: Group) -> Node:
        children = group.children
        if len(children) > ALL_LIMIT:
            choice = Group("c", 0, None, [Leaf(c.key, 1, 1) if isinstance(c, Leaf) else c for c in children])
            return self.build(choice)
        # Every order of the members, as a choice over which member comes first.
        return self._permutations(list(children))

    def _permutations(self, members: list[Particle]) -> Node:
        if not members:
            return ("eps",)
        options = []
        for i, first in enumerate(members):
            rest = members[:i] + members[i + 1 :]
            options.append(("seq", [self._once(first), self._permutations(rest)]))
        required = all(m.min > 0 for m in members)
        alternative: Node = ("alt", options)
        if not required:
            # Optional members may be left out: any subset, in any order.
            subsets = [self._permutations(members[:i] + members[i + 1 :]) for i, m in enumerate(members) if m.min == 0]
            alternative = ("alt", options + subsets)
        return alternative


def _nullable(node: Node) -> bool:
    kind = node[0]
    if kind in ("eps", "opt", "star"):
        return True
    if kind == "sym":
        return False
    if kind == "seq":
        return all(_nullable(n) for n in node[1])
    return any(_nullable(n) for n in node[1])


def _first(node: Node) -> set[int]:
    kind = node[0]
    if kind == "sym":
        return {node[1]}
    if kind == "eps":
        return set()
    if kind in ("opt", "star"):
        return _first(node[1])
    if kind == "alt":
        return set().union(*(_first(n) for n in node[1])) if node[1] else set()
    out: set[int] = set()
    for child in node[1]:
        out |= _first(child)
        if not _nullable(child):
            break
    return out


def _last(node: Node) -> set[int]:
    kind = node[0]
    if kind == "sym":
        return {node[1]}
    if kind == "eps":
        return set()
    if kind in ("opt", "star"):
        return _last(node[1])
    if kind == "alt":
        return set().union(*(_last(n) for n in node[1])) if node[1] else set()
    out: set[int] = set()
    for child in reversed(node[1]):
        out |= _last(child)
        if not _nullable(child):
            break
    return out


def _follow(node: Node, follow: dict[int, set[int]]) -> None:
    kind = node[0]
    if kind in ("sym", "eps"):
        return
    if kind in ("opt", "star"):
        _follow(node[1], follow)
        if kind == "star":
            for p in _last(node[1]):
                follow[p] |= _first(node[1])
        return
    for child in node[1]:
        _follow(child, follow)
    if kind == "seq":
        children = node[1]
        for i, child in enumerate(children):
            # first(rest) where rest = children[i+1:], stopping at a non-nullable one
            nxt: set[int] = set()
            for later in children[i + 1 :]:
                nxt |= _first(later)
                if not _nullable(later):
                    break
            for p in _last(child):
                follow[p] |= nxt


@dataclass
class Dfa:
    """``trans[state]``: element name -> state; ``wild[state]``: wildcard key
    -> state; ``accept``: final states. State 0 is the start."""

    trans: list[dict[str, int]]
    wild: list[dict[str, int]]
    accept: set[int]


def compile_model(particle: Particle) -> Dfa:
    """The deterministic automaton of a content model."""
    builder = _Builder()
    expr = builder.build(particle)
    symbols = builder.symbols
    follow: dict[int, set[int]] = {i: set() for i in range(len(symbols))}
    _follow(expr, follow)
    first = _first(expr)
    finals = _last(expr)

    # State 0 is the start; every other state is the set of positions that
    # may have just been read.
    states: list[frozenset[int] | None] = [None]
    index: dict[frozenset[int], int] = {}
    trans: list[dict[str, int]] = []
    wild: list[dict[str, int]] = []
    accept: set[int] = set()
    i = 0
    while i < len(states):
        current = states[i]
        if current is None:
            successors = first
            if _nullable(expr):
                accept.add(i)
        else:
            successors = set().union(*(follow[p] for p in current))
            if current & finals:
                accept.add(i)
        by_key: dict[str, set[int]] = {}
        for p in successors:
            by_key.setdefault(symbols[p], set()).add(p)
        row: dict[str, int] = {}
        wrow: dict[str, int] = {}
        for key in sorted(by_key):
            target = frozenset(by_key[key])
            if target not in index:
                index[target] = len(states)
                states.append(target)
            (wrow if key.startswith("*") else row)[key] = index[target]
        trans.append(row)
        wild.append(wrow)
        i += 1
    return Dfa(trans, wild, accept)


def relaxed(keys: Iterable[str]) -> Dfa:
    """A one-state automaton accepting the keys in any order and number
    (for content models that could not be recovered exactly)."""
    row = {k: 0 for k in keys if not k.startswith("*")}
    wrow = {k: 0 for k in keys if k.startswith("*")}
    return Dfa([row], [wrow], {0})


def minimize(dfa: Dfa) -> Dfa:
    """The smallest equivalent automaton (Moore's partition refinement);
    state 0 stays the start."""
    count = len(dfa.trans)
    keys = sorted({k for row in dfa.trans for k in row} | {k for row in dfa.wild for k in row})
    block = [1 if s in dfa.accept else 0 for s in range(count)]
    while True:
        signatures: dict[tuple[object, ...], int] = {}
        new_block = []
        for s in range(count):
            moves = tuple(
                block[dfa.trans[s][k]] if k in dfa.trans[s] else block[dfa.wild[s][k]] if k in dfa.wild[s] else -1
                for k in keys
            )
            signature = (block[s], moves)
            new_block.append(signatures.setdefault(signature, len(signatures)))
        if len(signatures) == len(set(block)):
            break
        block = new_block
    # Renumber blocks in order of first appearance from the start state.
    order: dict[int, int] = {}
    queue = [0]
    while queue:
        s = queue.pop(0)
        b = block[s]
        if b in order:
            continue
        order[b] = len(order)
        queue.extend(dfa.trans[s][k] for k in sorted(dfa.trans[s]))
        queue.extend(dfa.wild[s][k] for k in sorted(dfa.wild[s]))
    size = len(order)
    trans: list[dict[str, int]] = [{} for _ in range(size)]
    wild: list[dict[str, int]] = [{} for _ in range(size)]
    accept: set[int] = set()
    for s in range(count):
        if block[s] not in order:
            continue
        b = order[block[s]]
        trans[b] = {k: order[block[v]] for k, v in dfa.trans[s].items()}
        wild[b] = {k: order[block[v]] for k, v in dfa.wild[s].items()}
        if s in dfa.accept:
            accept.add(b)
    return Dfa(trans, wild, accept)
