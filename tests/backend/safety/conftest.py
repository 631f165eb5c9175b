"""The safety stage over each database: release services whose promotions snapshot the case, a
small test case, and gate verdicts built by the real gate from crafted comparisons and stored
through the real evidence code."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.config import ReleaseConfig
from backend.evaluation.bootstrap import Estimate
from backend.evaluation.compare import Comparison
from backend.evaluation.slice_metrics import MetricRow
from backend.metadata.db import make_engine
from backend.metadata.unit_of_work import Database
from backend.release.evidence import record_verdict
from backend.release.gate import GateConfig, GateVerdict, evaluate_gate, parse_gate
from backend.release.registry import register_baseline
from backend.release.services import ReleaseServices, build_release
from backend.release.signing import Signer
from backend.safety.case import parse_case
from backend.safety.gsn import SafetyCase
from backend.safety.service import SafetyService
from backend.storage.local import LocalBlobStore
from tests.backend.annotation.world import Clock
from tests.backend.release.conftest import make_package

#: a small case over the gate below: the gate's verdict, an absolute floor, a per-class
#: no-regression, a lower-is-better figure, the data gate, and an open goal
CASE_YAML = """\
module:
  name: test-case
  brief: a small case for the tests
G1:
  text: The model is acceptably safe
  inContextOf: [C1]
  supportedBy: [S1]
C1:
  text: The test ODD
S1:
  text: Argument over the gate's evidence
  supportedBy: [G2, G3, G4, G5]
G2:
  text: The model as a whole
  supportedBy: [Sn1, Sn2, Sn3]
Sn1:
  text: The gate's verdict
  gate: verdict
Sn2:
  text: Recall floor
  spi: {slice: all, metric: recall, check: floor, comparator: ">=", threshold: 0.5, owner: alice}
Sn3:
  text: False positives per frame do not grow
  spi: {slice: all, metric: fp_per_frame, check: no_regression, comparator: "<=",
        threshold: 0.5, owner: bob}
G3:
  text: Dogs are found no worse than before
  supportedBy: [Sn4]
Sn4:
  text: Dog recall against the champion
  spi: {slice: "class:dog", metric: recall, check: no_regression, comparator: ">=",
        threshold: -0.05, owner: alice}
G4:
  text: Labels are agreed on
  supportedBy: [Sn5]
Sn5:
  text: Label agreement
  spi: {slice: "", metric: label_agreement, check: label_agreement, comparator: ">=",
        threshold: 0.7, owner: carol}
G5:
  text: Unknown objects are handled
  undeveloped: true
"""

GATE = parse_gate(
    {
        "data": {"min_label_agreement": 0.7},
        "rule": [
            {"slice": "all", "metric": "recall", "floor": 0.5, "delta": 0.02},
            {"slice": "class:*", "metric": "recall", "delta": 0.05},
            {"slice": "all", "metric": "fp_per_frame", "delta": 0.5},
        ],
    },
    "test-gate",
)
AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SUITE = "f" * 64
_RUNS = itertools.count(1)


def row(slice_name: str, metric: str, champ: float, cand: float, half: float = 0.04) -> MetricRow:
    """A figure whose intervals (the difference's too) are +-``half`` around the value."""
    d = cand - champ
    return MetricRow(
        slice_name,
        metric,
        Estimate(champ, champ - half, champ + half),
        Estimate(cand, cand - half, cand + half),
        Estimate(d, d - half, d + half),
        frames=40,
        support=100,
    )


def verdict_of(
    candidate: str,
    champion: str,
    rows: list[MetricRow],
    *,
    agreement: float | None = 0.8,
    suite: str = SUITE,
    gate: GateConfig = GATE,
) -> GateVerdict:
    """The real gate's verdict (``gate``: the test gate unless given) on a crafted comparison."""
    comparison = comparison_of(candidate, champion, rows, suite=suite)
    return evaluate_gate(gate, comparison, dataset_digest="d" * 64, label_agreement=agreement)


def comparison_of(
    candidate: str, champion: str, rows: list[MetricRow], *, suite: str = SUITE
) -> Comparison:
    """A crafted comparison of two versions on the test suite."""
    return Comparison(
        suite_name="test-suite",
        suite_version=suite,
        champion_version=champion,
        candidate_version=candidate,
        champion_classes=("car",),
        candidate_classes=("car", "dog"),
        thresholds={"car": 0.5},
        frames=40,
        n_boot=1000,
        level=0.95,
        seed=0,
        rows=tuple(rows),
    )


#: a candidate that passes: recall up, dog recall up, fp steady
GOOD = [
    row("all", "recall", 0.6, 0.7),
    row("class:dog", "recall", 0.4, 0.5),
    row("all", "fp_per_frame", 1.0, 1.1),
]


@dataclass
class SafetyWorld:
    """Release services whose promotions snapshot ``case``, over one database."""

    db: Database
    clock: Clock
    release: ReleaseServices
    safety: SafetyService
    packages: Path
    champion: str

    def register(self, version: str) -> str:
        self.release.registry.register(
            make_package(self.packages, version),
            run_id=f"run-{version}",
            dataset_digest=None,
            parent_version=None,
            metrics={},
        )
        return version

    def gate(self, verdict: GateVerdict) -> int:
        """Store ``verdict`` through the real evidence code; its id."""
        self.clock.advance(60)
        return record_verdict(
            self.db, verdict, run_id=f"run-{next(_RUNS)}", at=self.clock(), details={}
        )


def build_world(db_url: str, tmp_path: Path, case: SafetyCase) -> SafetyWorld:
    db = Database(make_engine(db_url))
    clock = Clock()
    safety = SafetyService(db, case, clock)
    release = build_release(
        db,
        LocalBlobStore(tmp_path / "blobs"),
        ReleaseConfig(),
        clock,
        signer=Signer.generate(),
        on_promote=(safety.record_release,),
    )
    (tmp_path / "packages").mkdir()
    baseline = register_baseline(release.registry)
    return SafetyWorld(db, clock, release, safety, tmp_path / "packages", baseline.version)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[SafetyWorld]:
    w = build_world(db_url, tmp_path, parse_case(CASE_YAML, "test-case.yaml"))
    try:
        yield w
    finally:
        w.db.close()
