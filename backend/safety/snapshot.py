"""Immutable snapshots of the safety case as it stood when a model was released, and the diff
between two of them (pure).

A snapshot keeps everything needed to read the case of a release later without the file or the
code that judged it: the YAML text and its digest, the parsed structure, every node's status and
reason, every SPI with its numbers, and the ids of the evidence rows and of the gate verdict the
statuses rest on. Its ``digest`` is the SHA-256 of the canonical JSON of that content (sorted
keys, no whitespace): two snapshots with the same digest state the same case, statuses and
evidence. A sign-off records the digest of what was signed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from backend.safety.spi import Assessment

#: the layout of ``SnapshotContent.to_json`` (a reader of stored snapshots checks it)
FORMAT = 1


@dataclass(frozen=True)
class SnapshotContent:
    """What a snapshot states (``to_json`` is what is stored and digested)."""

    model_version: str
    case_name: str
    case_digest: str
    case_text: str
    structure: dict[str, Any]
    top_status: str
    statuses: dict[str, dict[str, Any]]
    spis: list[dict[str, Any]]
    evidence_ids: list[int]
    verdict_id: int | None
    verdict_suite: str | None
    current_suite: str | None

    @classmethod
    def of(cls, assessment: Assessment) -> SnapshotContent:
        case, verdict = assessment.case, assessment.verdict
        return cls(
            model_version=assessment.model_version,
            case_name=case.name,
            case_digest=case.digest,
            case_text=case.text,
            structure=case.to_json(),
            top_status=assessment.top.value,
            statuses={
                n.node: {
                    "status": None if n.status is None else n.status.value,
                    "reason": n.reason,
                    "evidence_ids": list(n.evidence_ids),
                }
                for n in assessment.nodes.values()
            },
            spis=[r.to_json() for r in assessment.spis.values()],
            evidence_ids=list(assessment.evidence_ids),
            verdict_id=None if verdict is None else verdict.id,
            verdict_suite=None if verdict is None else verdict.suite_version,
            current_suite=assessment.current_suite,
        )

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **self.__dict__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SnapshotContent:
        """The content ``to_json`` wrote (ValueError for another format)."""
        if data.get("format") != FORMAT:
            raise ValueError(f"snapshot format {data.get('format')!r} is not {FORMAT}")
        fields = {k: v for k, v in data.items() if k != "format"}
        return cls(**fields)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the content."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: what of an SPI a diff compares
_SPI_FIELDS = ("value", "lo", "hi", "threshold", "comparator", "status", "evidence_id")


def _nodes(content: SnapshotContent) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in content.structure["nodes"]}


def _links(content: SnapshotContent) -> set[tuple[str, str, str]]:
    out = set()
    for n in content.structure["nodes"]:
        out |= {(n["id"], t, "supportedBy") for t in n["supported_by"]}
        out |= {(n["id"], t, "inContextOf") for t in n["in_context_of"]}
    return out


def diff(base: SnapshotContent, target: SnapshotContent) -> dict[str, Any]:
    """What changed from ``base`` to ``target``: nodes added, removed or with changed text,
    kind or evidence binding; links added and removed; status changes; SPI changes (value,
    interval, threshold, status, evidence row). JSON-safe."""
    old, new = _nodes(base), _nodes(target)
    link_old, link_new = _links(base), _links(target)
    spi_old = {s["node"]: s for s in base.spis}
    spi_new = {s["node"]: s for s in target.spis}

    def brief(n: dict[str, Any]) -> dict[str, Any]:
        return {"id": n["id"], "kind": n["kind"], "text": n["text"]}

    changed = []
    for node_id in (i for i in new if i in old):
        a, b = old[node_id], new[node_id]
        fields = [k for k in ("text", "kind", "undeveloped", "spi", "gate") if a[k] != b[k]]
        if fields:
            changed.append(
                {
                    "id": node_id,
                    "fields": fields,
                    "before": {k: a[k] for k in fields},
                    "after": {k: b[k] for k in fields},
                }
            )
    statuses = [
        {
            "id": node_id,
            "before": base.statuses[node_id]["status"],
            "after": target.statuses[node_id]["status"],
        }
        for node_id in target.statuses
        if node_id in base.statuses
        and base.statuses[node_id]["status"] != target.statuses[node_id]["status"]
    ]
    spis = []
    for node_id in (i for i in spi_new if i in spi_old):
        a, b = spi_old[node_id], spi_new[node_id]
        fields = [k for k in _SPI_FIELDS if a.get(k) != b.get(k)]
        if fields:
            spis.append(
                {
                    "id": node_id,
                    "slice": b["slice"],
                    "metric": b["metric"],
                    "fields": fields,
                    "before": {k: a.get(k) for k in _SPI_FIELDS},
                    "after": {k: b.get(k) for k in _SPI_FIELDS},
                }
            )

    def link(t: tuple[str, str, str]) -> dict[str, str]:
        return {"source": t[0], "target": t[1], "kind": t[2]}

    return {
        "base": base.model_version,
        "target": target.model_version,
        "case_changed": base.case_digest != target.case_digest,
        "case_digest": {"before": base.case_digest, "after": target.case_digest},
        "top_status": {"before": base.top_status, "after": target.top_status},
        "nodes_added": [brief(new[i]) for i in new if i not in old],
        "nodes_removed": [brief(old[i]) for i in old if i not in new],
        "nodes_changed": changed,
        "links_added": [link(t) for t in sorted(link_new - link_old)],
        "links_removed": [link(t) for t in sorted(link_old - link_new)],
        "status_changes": statuses,
        "spi_changes": spis,
    }
