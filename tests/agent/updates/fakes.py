"""A cheap analyzer that runs "the model of a package": ``IntensityAnalyzer`` (the daemon tests'
deterministic analyzer) reporting the version written in the package's metadata, so swap tests
see which package analysed each frame without paying for ONNX and the scoring kernels."""

from __future__ import annotations

import json
from pathlib import Path

from agent.config import PerceptionConfig
from agent.perception.package import METADATA_FILE, default_package_path
from tests.agent.daemon.fakes import IntensityAnalyzer


class PackageAnalyzer(IntensityAnalyzer):
    """``IntensityAnalyzer`` whose ``model_version`` is the package's."""

    def __init__(self, package: Path) -> None:
        super().__init__()
        self.package = package
        self.model_version = str(json.loads((package / METADATA_FILE).read_text())["version"])


def make_package_analyzer(config: PerceptionConfig) -> PackageAnalyzer:
    """The ``perception.factory`` entry point: the configured package, or the baseline."""
    return PackageAnalyzer(Path(config.package) if config.package else default_package_path())


class Slot:
    """Where a model runs, as the swapper sees the pipeline."""

    def __init__(self, analyzer: PackageAnalyzer) -> None:
        self.analyzer = analyzer
        self.schema: object = None

    def use_model(self, analyzer: object, schema: object) -> None:
        assert isinstance(analyzer, PackageAnalyzer)
        self.analyzer, self.schema = analyzer, schema
