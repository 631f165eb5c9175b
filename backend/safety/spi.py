"""The status of every node of a safety case for one model version, from the evidence the release
gate stored (pure: the records are passed in).

The evidence of a model version is its **newest gate verdict** (``gate_verdicts`` where
``model_version`` is the version: the gate's answer on it as a candidate) and that verdict's
evidence rows. An SPI reads the first row of that verdict with the SPI's ``check`` (the row's
kind), ``slice`` and ``metric``; its ``value`` and 95 % interval ``[lo, hi]`` are compared with the
SPI's own threshold (the row's ``threshold`` is the gate's and is reported beside it).

Statuses (``Status``):

- **supported**: the evidence holds with confidence: the whole interval is on the good side of
  the threshold (``lo`` for ``>=``/``>``, ``hi`` for ``<=``/``<``); a figure without an interval
  (label agreement) holds by its value. A ``gate: verdict`` solution: the verdict passed.
- **violated**: the evidence breaks the threshold with confidence: the whole interval is on the
  bad side (a figure without an interval: its value is). A ``gate: verdict`` solution: the
  verdict failed and nobody bypassed it. A violation stays a violation when it is stale.
- **challenged**: the evidence cannot carry the claim either way: (a) the interval straddles the
  threshold; (b) the evidence is *missing*: the version has no gate verdict, its verdict holds no
  row for the SPI's check, slice and metric (the suite had no such frames, or the gate has no
  such rule), or the row's value is undefined (NULL: NaN, e.g. no object to measure); (c) the
  evidence is *stale*: the verdict was measured on another suite version than the current one
  (``current_suite``: the suite of the newest verdict stored), so the version was never
  assessed on the suite the loop uses now. A ``gate: verdict`` solution whose failed verdict an
  admin bypassed is challenged, as is one without a verdict or with a stale one.
- **undeveloped**: a goal or strategy marked ``undeveloped`` (the argument's open items).

A goal or strategy with support takes the worst status of what supports it, in the order
violated > challenged > undeveloped > supported. Contexts, assumptions and justifications carry
no status (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from backend.metadata.repositories.evidence import EvidenceRecord, VerdictRecord
from backend.safety.gsn import NodeKind, SafetyCase, Spi


class Status(StrEnum):
    """The status of a claim or of the evidence behind it (module docstring)."""

    SUPPORTED = "supported"
    UNDEVELOPED = "undeveloped"
    CHALLENGED = "challenged"
    VIOLATED = "violated"


#: worse statuses are larger; a goal takes the largest of its support
SEVERITY: Final = {
    Status.SUPPORTED: 0,
    Status.UNDEVELOPED: 1,
    Status.CHALLENGED: 2,
    Status.VIOLATED: 3,
}


def worst(statuses: Sequence[Status]) -> Status:
    return max(statuses, key=SEVERITY.__getitem__)


@dataclass(frozen=True)
class SpiResult:
    """One SPI judged on one version's evidence: the row it read (``evidence_id`` None when
    missing), the numbers (None where undefined), the gate's own threshold and pass, and why it
    has its status."""

    spi: Spi
    claims: tuple[str, ...]
    status: Status
    reason: str
    evidence_id: int | None = None
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    gate_threshold: float | None = None
    gate_passed: bool | None = None
    stale: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.spi.node,
            **self.spi.to_json(),
            "claims": list(self.claims),
            "status": self.status.value,
            "reason": self.reason,
            "evidence_id": self.evidence_id,
            "value": self.value,
            "lo": self.lo,
            "hi": self.hi,
            "gate_threshold": self.gate_threshold,
            "gate_passed": self.gate_passed,
            "stale": self.stale,
        }


@dataclass(frozen=True)
class NodeStatus:
    """A node's status (None for contexts, assumptions, justifications) and the reason."""

    node: str
    status: Status | None
    reason: str
    evidence_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """The case judged for one model version on its newest verdict (None: never gated)."""

    case: SafetyCase
    model_version: str
    verdict: VerdictRecord | None
    current_suite: str | None
    nodes: dict[str, NodeStatus]
    spis: dict[str, SpiResult]

    @property
    def top(self) -> Status:
        status = self.nodes[self.case.root].status
        assert status is not None  # the root is a goal
        return status

    @property
    def evidence_ids(self) -> tuple[int, ...]:
        """Every evidence row the statuses rest on, ascending."""
        return tuple(sorted({i for n in self.nodes.values() for i in n.evidence_ids}))

    @property
    def stale(self) -> bool:
        return (
            self.verdict is not None
            and self.current_suite is not None
            and self.verdict.suite_version != self.current_suite
        )


def _interval_status(spi: Spi, value: float, lo: float | None, hi: float | None) -> Status:
    if lo is None or hi is None:
        return Status.SUPPORTED if spi.holds(value) else Status.VIOLATED
    worst_end, best_end = (lo, hi) if spi.higher_is_better else (hi, lo)
    if spi.holds(worst_end):
        return Status.SUPPORTED
    if not spi.holds(best_end):
        return Status.VIOLATED
    return Status.CHALLENGED


def judge_spi(
    spi: Spi,
    claims: tuple[str, ...],
    verdict: VerdictRecord | None,
    rows: Sequence[EvidenceRecord],
    current_suite: str | None,
) -> SpiResult:
    """One SPI on a verdict's rows (module docstring for the rules)."""
    if verdict is None:
        return SpiResult(spi, claims, Status.CHALLENGED, "missing: the version has no gate verdict")
    row = next(
        (
            r
            for r in rows
            if r.kind == spi.check and r.slice == spi.slice and r.metric == spi.metric
        ),
        None,
    )
    if row is None:
        return SpiResult(
            spi,
            claims,
            Status.CHALLENGED,
            f"missing: gate verdict {verdict.id} holds no {spi.check} row for "
            f"{spi.slice or '(data)'} {spi.metric}",
        )
    numbers = {
        "evidence_id": row.id,
        "value": row.value,
        "lo": row.lo,
        "hi": row.hi,
        "gate_threshold": row.threshold,
        "gate_passed": row.passed,
    }
    stale = current_suite is not None and verdict.suite_version != current_suite
    if row.value is None:
        return SpiResult(
            spi,
            claims,
            Status.CHALLENGED,
            f"missing: evidence {row.id} has no defined value",
            stale=stale,
            **numbers,  # type: ignore[arg-type]
        )
    status = _interval_status(spi, row.value, row.lo, row.hi)
    interval = "" if row.lo is None or row.hi is None else f" [{row.lo:.4g}, {row.hi:.4g}]"
    figure = f"{row.value:.4g}{interval} vs {spi.comparator} {spi.threshold:g}"
    reason = {
        Status.SUPPORTED: f"holds: {figure}",
        Status.VIOLATED: f"broken: {figure}",
        Status.CHALLENGED: f"uncertain: the interval straddles the threshold, {figure}",
    }[status]
    if stale and status is not Status.VIOLATED:
        status = Status.CHALLENGED
        reason = (
            f"stale: measured on suite {verdict.suite_version[:12]}, the current suite is "
            f"{(current_suite or '')[:12]} ({figure})"
        )
    return SpiResult(spi, claims, status, reason, stale=stale, **numbers)  # type: ignore[arg-type]


def _gate_status(
    verdict: VerdictRecord | None, rows: Sequence[EvidenceRecord], current_suite: str | None
) -> NodeStatus:
    if verdict is None:
        return NodeStatus("", Status.CHALLENGED, "missing: the version has no gate verdict")
    ids = tuple(r.id for r in rows if r.kind in ("verdict", "bypass"))
    if verdict.passed:
        if current_suite is not None and verdict.suite_version != current_suite:
            return NodeStatus(
                "",
                Status.CHALLENGED,
                f"stale: verdict {verdict.id} passed on suite {verdict.suite_version[:12]}, "
                f"the current suite is {current_suite[:12]}",
                ids,
            )
        return NodeStatus("", Status.SUPPORTED, f"gate verdict {verdict.id} passed", ids)
    failed = ", ".join(verdict.details.get("failed_slices", [])) or "see its evidence"
    if verdict.bypassed:
        return NodeStatus(
            "",
            Status.CHALLENGED,
            f"gate verdict {verdict.id} failed ({failed}) and an admin bypassed it",
            ids,
        )
    return NodeStatus("", Status.VIOLATED, f"gate verdict {verdict.id} failed ({failed})", ids)


def assess(
    case: SafetyCase,
    model_version: str,
    verdict: VerdictRecord | None,
    rows: Sequence[EvidenceRecord],
    current_suite: str | None,
) -> Assessment:
    """Every node's status for ``model_version`` from its newest ``verdict`` and its evidence
    ``rows`` (None and [] when it was never gated); ``current_suite`` decides staleness."""
    if verdict is not None and any(r.verdict_id != verdict.id for r in rows):
        raise ValueError(f"evidence rows of another verdict than {verdict.id} passed in")
    spis: dict[str, SpiResult] = {}
    nodes: dict[str, NodeStatus] = {}

    def visit(node_id: str) -> NodeStatus:
        if node_id in nodes:
            return nodes[node_id]
        node = case.node(node_id)
        if node.kind in (NodeKind.CONTEXT, NodeKind.ASSUMPTION, NodeKind.JUSTIFICATION):
            result = NodeStatus(node_id, None, f"a {node.kind}: no status")
        elif node.spi is not None:
            judged = judge_spi(node.spi, case.claims(node_id), verdict, rows, current_suite)
            spis[node_id] = judged
            ids = () if judged.evidence_id is None else (judged.evidence_id,)
            result = NodeStatus(node_id, judged.status, judged.reason, ids)
        elif node.gate is not None:
            gate = _gate_status(verdict, rows, current_suite)
            result = NodeStatus(node_id, gate.status, gate.reason, gate.evidence_ids)
        elif node.undeveloped:
            result = NodeStatus(node_id, Status.UNDEVELOPED, "undeveloped: argument not given")
        else:
            below = [visit(child) for child in node.supported_by]
            status = worst([b.status for b in below if b.status is not None])
            culprits = [b.node for b in below if b.status is status]
            reason = (
                f"all {len(below)} supporting node(s) supported"
                if status is Status.SUPPORTED
                else f"{status} by {', '.join(culprits)}"
            )
            result = NodeStatus(node_id, status, reason)
        nodes[node_id] = result
        return result

    for node in case:
        visit(node.id)
    return Assessment(case, model_version, verdict, current_suite, nodes, spis)


@dataclass(frozen=True)
class TrendPoint:
    """One SPI on one model version's newest verdict."""

    model_version: str
    verdict_id: int | None
    at: datetime | None
    suite_version: str | None
    result: SpiResult


def trend(assessments: Sequence[Assessment]) -> dict[str, list[TrendPoint]]:
    """Each SPI's results across ``assessments`` (one per model version, oldest first)."""
    out: dict[str, list[TrendPoint]] = {}
    for a in assessments:
        for node_id, result in a.spis.items():
            v = a.verdict
            out.setdefault(node_id, []).append(
                TrendPoint(
                    a.model_version,
                    None if v is None else v.id,
                    None if v is None else v.created_at,
                    None if v is None else v.suite_version,
                    result,
                )
            )
    return out
