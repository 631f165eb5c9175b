"""The safety case's model: Goal Structuring Notation (GSN Community Standard v3) core elements,
their links, and the evidence a solution cites (an SPI or the gate's verdict). Read and
validated from YAML by ``backend.safety.case``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class NodeKind(StrEnum):
    """The GSN core elements."""

    GOAL = "goal"
    STRATEGY = "strategy"
    SOLUTION = "solution"
    CONTEXT = "context"
    ASSUMPTION = "assumption"
    JUSTIFICATION = "justification"


#: what may support what, and what may be in the context of what (GSN v3 core)
SUPPORTS: Final = {
    NodeKind.GOAL: frozenset({NodeKind.GOAL, NodeKind.STRATEGY, NodeKind.SOLUTION}),
    NodeKind.STRATEGY: frozenset({NodeKind.GOAL}),
}
CONTEXTUAL: Final = frozenset({NodeKind.CONTEXT, NodeKind.ASSUMPTION, NodeKind.JUSTIFICATION})
#: evidence kinds an SPI may read (``backend.release.gate.Check.kind``)
CHECKS: Final = ("floor", "ceiling", "no_regression", "label_agreement", "drift")
COMPARATORS: Final = (">=", ">", "<=", "<")


@dataclass(frozen=True)
class Spi:
    """A safety performance indicator: the evidence row it reads (``check`` on ``slice`` /
    ``metric``), the comparison that holds when the claim holds, and its owner."""

    node: str
    slice: str
    metric: str
    check: str
    comparator: str
    threshold: float
    owner: str

    def holds(self, value: float) -> bool:
        """Whether ``value`` is on the good side of the threshold."""
        t = self.threshold
        return {">=": value >= t, ">": value > t, "<=": value <= t, "<": value < t}[self.comparator]

    @property
    def higher_is_better(self) -> bool:
        return self.comparator in (">=", ">")

    def describe(self) -> str:
        where = f"{self.slice} {self.metric}" if self.slice else self.metric
        return f"{where} ({self.check}) {self.comparator} {self.threshold:g}"

    def to_json(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "metric": self.metric,
            "check": self.check,
            "comparator": self.comparator,
            "threshold": self.threshold,
            "owner": self.owner,
        }


@dataclass(frozen=True)
class Node:
    """One GSN element; ``spi`` or ``gate`` only on solutions (what evidence it cites)."""

    id: str
    kind: NodeKind
    text: str
    supported_by: tuple[str, ...] = ()
    in_context_of: tuple[str, ...] = ()
    undeveloped: bool = False
    spi: Spi | None = None
    gate: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "text": self.text,
            "supported_by": list(self.supported_by),
            "in_context_of": list(self.in_context_of),
            "undeveloped": self.undeveloped,
            "spi": None if self.spi is None else self.spi.to_json(),
            "gate": self.gate,
        }


@dataclass(frozen=True)
class Link:
    """One edge of the argument: ``kind`` is ``supportedBy`` or ``inContextOf``."""

    source: str
    target: str
    kind: str


@dataclass(frozen=True)
class SafetyCase:
    """A validated case: its nodes in file order, the top goal, and the text it was read from
    (``digest`` = SHA-256 of that text, UTF-8: the case's version)."""

    name: str
    brief: str
    source: str
    text: str
    digest: str
    root: str
    nodes: Mapping[str, Node]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def parents(self, node_id: str) -> tuple[str, ...]:
        """The nodes whose ``supportedBy`` names ``node_id``, in file order."""
        return tuple(n.id for n in self if node_id in n.supported_by)

    def claims(self, node_id: str) -> tuple[str, ...]:
        """The goals a solution supports: the claims its evidence conditions."""
        return tuple(p for p in self.parents(node_id) if self.nodes[p].kind is NodeKind.GOAL)

    def spis(self) -> list[Spi]:
        return [n.spi for n in self if n.spi is not None]

    @property
    def undeveloped(self) -> list[str]:
        """Goals and strategies marked undeveloped: the argument's open items."""
        return [n.id for n in self if n.undeveloped]

    def links(self) -> list[Link]:
        out = [Link(n.id, t, "supportedBy") for n in self for t in n.supported_by]
        out += [Link(n.id, t, "inContextOf") for n in self for t in n.in_context_of]
        return out

    def to_json(self) -> dict[str, Any]:
        """Name, digest, top goal and every node (what a snapshot keeps of the structure)."""
        return {
            "name": self.name,
            "brief": self.brief,
            "digest": self.digest,
            "root": self.root,
            "nodes": [n.to_json() for n in self],
        }
