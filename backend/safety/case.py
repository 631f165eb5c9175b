"""The safety case as data: a Goal Structuring Notation (GSN Community Standard v3) argument read
from YAML in the schema of gsn2x, validated on load.

The file is a mapping of node ids to nodes, plus an optional ``module`` entry (gsn2x's module
information: ``name``, ``brief``)::

    module:
      name: longtail-perception
      brief: the perception model's safety case

    G1:
      text: The released model is acceptably safe for its ODD
      inContextOf: [C1, A1]
      supportedBy: [S1]
    S1:
      text: Argument over each rare class of the edge-case suite
      supportedBy: [G2, G3]
    G2:
      text: Strollers are detected no worse than by the champion
      supportedBy: [Sn1]
    G3:
      text: Classes the suite does not hold yet are handled
      undeveloped: true
    Sn1:
      text: Gate evidence, stroller recall against the champion
      spi: {slice: "class:stroller", metric: recall, check: no_regression,
            comparator: ">=", threshold: -0.05, owner: perception-safety}
    C1: {text: The operational design domain}
    A1: {text: The suite's frames are representative of the ODD}

**Kinds** follow gsn2x: an id starting ``G`` is a goal, ``Sn`` a solution, ``S`` a strategy, ``C``
a context, ``A`` an assumption, ``J`` a justification, unless ``nodeType`` (``Goal``,
``Strategy``, ``Solution``, ``Context``, ``Assumption``, ``Justification``) says otherwise. gsn2x's
layout keys (``url``, ``classes``, ``level``, ``rankIncrement``, ``horizontalIndex``,
``charWrap``, ``wordWrap``) are accepted and ignored here.

**Extension keys** (gsn2x keeps keys it does not know as the node's additional attributes and
shows them; it never reads them as links), on solutions only:

- ``spi``: a safety performance indicator (UL 4600 style) bound to one release-gate evidence row:
  ``slice`` and ``metric`` (exact names, as ``backend.evaluation.slices`` and
  ``backend.evaluation.slice_metrics`` write them; ``slice: ""`` for the data checks), ``check``
  (the evidence row's kind: ``floor``, ``ceiling``, ``no_regression``, ``label_agreement``,
  ``drift``), ``comparator`` (``>=``, ``>``, ``<=``, ``<``), ``threshold`` (a finite number in
  the metric's unit; for ``no_regression`` the paired difference candidate - champion) and
  ``owner`` (who answers for it). The claims it conditions are the goals whose ``supportedBy``
  names the solution.
- ``gate: verdict``: the solution cites the release gate's verdict on the model itself.

**Validation** reports every problem at once (``SafetyCaseError.problems``), each starting with
the node it is about: a node of unknown kind or with an unknown key; a reference to no node; a
duplicate or self reference; a link of the wrong kind (GSN: a goal is supported by goals,
strategies and solutions, a strategy by goals; only goals and strategies are in the context of
contexts, assumptions and justifications); a ``supportedBy`` cycle (named as its path); a goal or
strategy with no support that is not marked ``undeveloped`` (one that is marked is reported as
open, ``SafetyCase.undeveloped``), or one marked undeveloped that has support; a solution citing
no evidence; an SPI without a threshold or with a bad key; more than one top-level node or a top
node that is not a goal; a node the top goal does not reach; a duplicated key in the YAML.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from backend.errors import SafetyCaseError
from backend.safety.gsn import (
    CHECKS,
    COMPARATORS,
    CONTEXTUAL,
    SUPPORTS,
    Node,
    NodeKind,
    SafetyCase,
    Spi,
)

#: the case shipped with the backend: Longtail's perception model
DEFAULT_CASE_FILE: Final = Path(__file__).resolve().parent / "case.yaml"
#: a node id: gsn2x's prefixes followed by any identifier
ID_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
#: the longest node text (characters)
MAX_TEXT: Final = 2000


#: gsn2x's id prefixes, longest first ("Sn" before "S")
_PREFIXES: Final = (
    ("Sn", NodeKind.SOLUTION),
    ("G", NodeKind.GOAL),
    ("S", NodeKind.STRATEGY),
    ("C", NodeKind.CONTEXT),
    ("A", NodeKind.ASSUMPTION),
    ("J", NodeKind.JUSTIFICATION),
)
#: gsn2x's dialectic extension (counter goals and solutions): not part of this model
_COUNTER_PREFIXES: Final = ("CG", "CSn")
_NODE_TYPES: Final = {k.value.capitalize(): k for k in NodeKind}
_GSN_KEYS: Final = frozenset({"text", "supportedBy", "inContextOf", "undeveloped", "nodeType"})
_LAYOUT_KEYS: Final = frozenset(
    {"url", "classes", "level", "rankIncrement", "horizontalIndex", "charWrap", "wordWrap"}
)
_EXTENSION_KEYS: Final = frozenset({"spi", "gate"})
_NODE_KEYS: Final = _GSN_KEYS | _LAYOUT_KEYS | _EXTENSION_KEYS
_MODULE_KEYS: Final = frozenset({"name", "brief"})
_SPI_KEYS: Final = frozenset({"slice", "metric", "check", "comparator", "threshold", "owner"})
_GLOB = re.compile(r"[*?\[\]]")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (the plain loader keeps
    the last silently: a second node under an existing id would replace the first unseen)."""


class _DuplicateKeyError(yaml.YAMLError):
    """A mapping key given twice (``key`` at 1-based ``line``)."""

    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"{key}: given twice (line {line})")
        self.key, self.line = key, line


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise _DuplicateKeyError(key, key_node.start_mark.line + 1)
        seen.add(key)
    return dict(loader.construct_mapping(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _kind(node_id: str, raw: Mapping[str, Any], problems: list[str]) -> NodeKind | None:
    node_type = raw.get("nodeType")
    if node_type is not None:
        kind = _NODE_TYPES.get(node_type) if isinstance(node_type, str) else None
        if kind is None:
            problems.append(
                f"{node_id}: nodeType {node_type!r} is not one of {sorted(_NODE_TYPES)}"
            )
        return kind
    if node_id.startswith(_COUNTER_PREFIXES):
        problems.append(
            f"{node_id}: counter goals and solutions (GSN's dialectic extension) are not "
            "supported; give nodeType for an id that starts with CG or CSn"
        )
        return None
    for prefix, kind in _PREFIXES:
        if node_id.startswith(prefix):
            return kind
    problems.append(
        f"{node_id}: the id starts with no GSN prefix (G, S, Sn, C, A, J) and gives no nodeType"
    )
    return None


def _refs(node_id: str, raw: Mapping[str, Any], key: str, problems: list[str]) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{node_id}: {key} must be a list of node ids, got {value!r}")
        return ()
    for ref in sorted({v for v in value if value.count(v) > 1}):
        problems.append(f"{node_id}: {key} names {ref!r} more than once")
    if node_id in value:
        problems.append(f"{node_id}: {key} names the node itself")
    return tuple(dict.fromkeys(v for v in value if v != node_id))


def _spi(node_id: str, raw: Any, problems: list[str]) -> Spi | None:
    where = f"{node_id}: spi"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a mapping of {sorted(_SPI_KEYS)}, got {raw!r}")
        return None
    start = len(problems)
    for key in sorted(set(raw) - _SPI_KEYS, key=str):
        problems.append(f"{where}.{key}: unknown key; allowed: {sorted(_SPI_KEYS)}")
    threshold = raw.get("threshold")
    if threshold is None:
        problems.append(f"{where} has no threshold: an indicator must state the value it holds to")
    elif (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
    ):
        problems.append(f"{where}.threshold must be a finite number, got {threshold!r}")
    slice_name, metric = raw.get("slice", ""), raw.get("metric")
    if not isinstance(slice_name, str) or _GLOB.search(slice_name):
        problems.append(f"{where}.slice must be one slice's exact name, got {slice_name!r}")
    if not isinstance(metric, str) or not metric or _GLOB.search(metric):
        problems.append(f"{where}.metric must be one metric's exact name, got {metric!r}")
    check, comparator, owner = raw.get("check"), raw.get("comparator"), raw.get("owner")
    if check not in CHECKS:
        problems.append(f"{where}.check must be one of {list(CHECKS)}, got {check!r}")
    elif check in ("label_agreement", "drift") and slice_name != "":
        problems.append(f"{where}.slice must be empty for a {check} check, got {slice_name!r}")
    elif check not in ("label_agreement", "drift") and not slice_name:
        problems.append(f"{where}.slice must name a slice for a {check} check")
    if comparator not in COMPARATORS:
        problems.append(
            f"{where}.comparator must be one of {list(COMPARATORS)}, got {comparator!r}"
        )
    if not isinstance(owner, str) or not owner.strip():
        problems.append(f"{where}.owner must name who answers for the indicator, got {owner!r}")
    if len(problems) > start:
        return None
    return Spi(
        node_id,
        str(slice_name),
        str(metric),
        str(check),
        str(comparator),
        float(threshold),  # type: ignore[arg-type]
        str(owner).strip(),
    )


def _node(node_id: str, raw: Any, problems: list[str]) -> Node | None:
    if not ID_RE.match(node_id):
        problems.append(f"{node_id!r}: a node id must match {ID_RE.pattern}")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{node_id}: must be a mapping with at least 'text', got {raw!r}")
        return None
    for key in sorted(set(raw) - _NODE_KEYS, key=str):
        problems.append(f"{node_id}: unknown key {key!r}; allowed: {sorted(_NODE_KEYS)}")
    kind = _kind(node_id, raw, problems)
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        problems.append(f"{node_id}: text must be 1 to {MAX_TEXT} characters, got {text!r}")
        text = ""
    undeveloped = raw.get("undeveloped", False)
    if not isinstance(undeveloped, bool):
        problems.append(f"{node_id}: undeveloped must be true or false, got {undeveloped!r}")
        undeveloped = False
    supported_by = _refs(node_id, raw, "supportedBy", problems)
    in_context_of = _refs(node_id, raw, "inContextOf", problems)
    spi = None if "spi" not in raw else _spi(node_id, raw["spi"], problems)
    gate = raw.get("gate")
    if gate is not None and gate != "verdict":
        problems.append(f"{node_id}: gate must be 'verdict' (the gate's verdict), got {gate!r}")
    if kind is None:
        return None
    if kind is not NodeKind.SOLUTION and ("spi" in raw or gate is not None):
        problems.append(f"{node_id}: only a solution cites evidence (spi, gate); this is a {kind}")
    if kind is NodeKind.SOLUTION and "spi" in raw and gate is not None:
        problems.append(f"{node_id}: cites both an spi and the gate verdict; give one")
    if kind is NodeKind.SOLUTION and "spi" not in raw and gate is None:
        problems.append(
            f"{node_id}: a solution must cite evidence the loop produces: give it an spi "
            "(a gate evidence row and a threshold) or 'gate: verdict'"
        )
    if undeveloped and kind not in SUPPORTS:
        problems.append(
            f"{node_id}: only goals and strategies can be undeveloped; this is a {kind}"
        )
    return Node(
        node_id,
        kind,
        text.strip(),
        supported_by,
        in_context_of,
        undeveloped,
        spi,
        None if gate is None else str(gate),
    )


def _link_problems(nodes: Mapping[str, Node], broken: set[str]) -> Iterator[str]:
    """Problems of the links between parsed nodes (a reference to a node that is in the file
    but ``broken`` is left to that node's own problem)."""
    for n in nodes.values():
        for key, refs in (("supportedBy", n.supported_by), ("inContextOf", n.in_context_of)):
            for ref in refs:
                if ref not in nodes and ref not in broken:
                    hint = " (a list is written [A, B])" if "," in ref else ""
                    yield f"{n.id}: {key} names {ref!r}, which is no node of the case{hint}"
        allowed = SUPPORTS.get(n.kind, frozenset())
        for ref in n.supported_by:
            if ref in nodes and nodes[ref].kind not in allowed:
                can = ", ".join(sorted(allowed)) or "nothing"
                yield (
                    f"{n.id}: a {n.kind} cannot be supportedBy {ref} (a {nodes[ref].kind}); "
                    f"a {n.kind} is supported by {can}"
                )
        for ref in n.in_context_of:
            if n.kind not in SUPPORTS:
                yield f"{n.id}: a {n.kind} cannot have inContextOf (only goals and strategies)"
                break
            if ref in nodes and nodes[ref].kind not in CONTEXTUAL:
                yield (
                    f"{n.id}: inContextOf names {ref}, a {nodes[ref].kind}; only contexts, "
                    "assumptions and justifications give context"
                )
        if n.kind in SUPPORTS:
            if n.undeveloped and n.supported_by:
                yield f"{n.id}: is marked undeveloped but is supportedBy {list(n.supported_by)}"
            if not n.undeveloped and not n.supported_by:
                yield (
                    f"{n.id}: a {n.kind} without support; argue it (supportedBy) or mark it "
                    "'undeveloped: true'"
                )


def find_cycle(edges: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A ``supportedBy`` cycle as its path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in edges:
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def _cycle_problem(nodes: Mapping[str, Node]) -> list[str]:
    cycle = find_cycle({n.id: n.supported_by for n in nodes.values()})
    return [] if cycle is None else [f"{cycle[0]}: supportedBy forms a cycle {' -> '.join(cycle)}"]


def _structure_problems(nodes: Mapping[str, Node]) -> tuple[list[str], str | None]:
    """The top-level node (exactly one, a goal) and what it does not reach."""
    problems: list[str] = []
    referenced = {r for n in nodes.values() for r in (*n.supported_by, *n.in_context_of)}
    roots = [n.id for n in nodes.values() if n.id not in referenced]
    if len(roots) != 1:
        problems.append(
            f"{', '.join(roots) or '(none)'}: a case has exactly one top-level node (no other "
            f"node names it); found {len(roots)}"
        )
        return problems, None
    root = roots[0]
    if nodes[root].kind is not NodeKind.GOAL:
        problems.append(f"{root}: the top-level node must be a goal, not a {nodes[root].kind}")
    seen, todo = {root}, [root]
    while todo:
        n = nodes[todo.pop()]
        for ref in (*n.supported_by, *n.in_context_of):
            if ref in nodes and ref not in seen:
                seen.add(ref)
                todo.append(ref)
    for node_id in nodes:
        if node_id not in seen:
            problems.append(f"{node_id}: the top goal {root} does not reach it")
    return problems, root


def parse_case(text: str, source: str = "<memory>") -> SafetyCase:
    """Read and validate a case from its YAML ``text``; SafetyCaseError lists every problem
    (module docstring), each naming its node; ``source`` names the file in the message."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except _DuplicateKeyError as exc:
        raise SafetyCaseError(
            source, [f"{exc.key}: the key is given twice (line {exc.line}); give each once"]
        ) from exc
    except yaml.YAMLError as exc:
        raise SafetyCaseError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict) or not data:
        raise SafetyCaseError(source, ["must be a mapping of node ids to nodes"])
    problems: list[str] = []
    module = data.pop("module", None) or {}
    if not isinstance(module, dict):
        problems.append(f"module: must be a mapping with name and brief, got {module!r}")
        module = {}
    for key in sorted(set(module) - _MODULE_KEYS, key=str):
        if key in ("extends", "uses"):
            problems.append(f"module: {key}: one file holds the whole case (modules unsupported)")
    name, brief = module.get("name", Path(source).stem), module.get("brief", "")
    if not isinstance(name, str) or not isinstance(brief, str):
        problems.append(f"module: name and brief must be text, got {name!r} and {brief!r}")
        name, brief = str(name), str(brief)
    nodes: dict[str, Node] = {}
    for key, raw in data.items():
        node = _node(str(key), raw, problems)
        if node is not None:
            nodes[node.id] = node
    broken = {str(k) for k in data} - set(nodes)
    problems += _link_problems(nodes, broken)
    problems += _cycle_problem(nodes)
    root = None
    if not problems:  # one top goal and reachability only make sense over sound links
        structure, root = _structure_problems(nodes)
        problems += structure
    if problems or root is None:
        raise SafetyCaseError(source, problems)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SafetyCase(name, brief, source, text, digest, root, nodes)


def load_case(path: str | os.PathLike[str] = DEFAULT_CASE_FILE) -> SafetyCase:
    """Read and validate a case file (SafetyCaseError naming the file and every problem)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SafetyCaseError(str(p), [f"cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise SafetyCaseError(str(p), [f"not UTF-8 text: {exc}"]) from exc
    return parse_case(text, p.name)
