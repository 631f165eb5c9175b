"""Scenario files: the sensor, traffic densities, rare-object events, weather and ego speed.

A scenario is a TOML file (parsed with ``tomllib``)::

    name = "urban"
    description = "..."

    [sensor]
    preset = "hdl64"            # hdl64 | vlp32 | os128

    [ego]
    speed = 10.0                # m/s along the street

    [traffic]                   # instances per 100 m of street, both sides, all lanes
    car = 8.0
    truck = 1.0
    bus = 0.3
    pedestrian = 6.0
    cyclist = 1.0
    parked_fraction = 0.35      # share of cars and trucks parked at the kerb
    crossing_fraction = 0.1     # share of pedestrians crossing the road

    [rare]
    rate = 0.005                # per-frame probability that a rare actor enters the street
                                # (it stays until it has crossed or the ego has passed it)
    mix = { stroller = 1.0, deer = 0.5 }   # relative weights

    [weather]
    kind = "clear"              # clear | rain | fog
    intensity = 0.0             # 0..1

    [labels]
    min_points = 5              # an object gets a box when hit by at least this many points

Every key is optional except ``name``; unknown keys and bad values raise ``ScenarioError``
naming the file and the key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from core.classes import COMMON_CLASSES, RARE_CLASSES
from simulators.errors import ScenarioError
from simulators.sensors import PRESETS

WEATHER_KINDS: Final = ("clear", "rain", "fog")


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (see the module docstring for units and meaning)."""

    name: str
    description: str = ""
    sensor: str = "hdl64"
    ego_speed: float = 10.0
    density: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMMON_CLASSES, 0.0))
    parked_fraction: float = 0.35
    crossing_fraction: float = 0.1
    rare_rate: float = 0.0
    rare_mix: dict[str, float] = field(default_factory=dict)
    weather: str = "clear"
    weather_intensity: float = 0.0
    min_points: int = 5
    source: str = "<memory>"

    def to_dict(self) -> dict[str, Any]:
        """All settings as plain JSON-able values (for ``meta.json``)."""
        data = asdict(self)
        return data


_TOP_KEYS: Final = {"name", "description", "sensor", "ego", "traffic", "rare", "weather", "labels"}
_SECTION_KEYS: Final = {
    "sensor": {"preset"},
    "ego": {"speed"},
    "traffic": {*COMMON_CLASSES, "parked_fraction", "crossing_fraction"},
    "rare": {"rate", "mix"},
    "weather": {"kind", "intensity"},
    "labels": {"min_points"},
}


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: key {key!r}: {problem}")

    def section(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, f"must be a table, got {value!r}")
        unknown = sorted(set(value) - _SECTION_KEYS[name])
        if unknown:
            raise self.fail(
                f"{name}.{unknown[0]}", f"unknown key; allowed: {sorted(_SECTION_KEYS[name])}"
            )
        return value

    def number(
        self, table: dict[str, Any], section: str, key: str, default: float, lo: float, hi: float
    ) -> float:
        value = table.get(key, default)
        name = f"{section}.{key}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"must be a number, got {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise self.fail(name, f"must be in [{lo}, {hi}], got {value!r}")
        return float(value)

    def choice(
        self, table: dict[str, Any], section: str, key: str, default: str, allowed: tuple[str, ...]
    ) -> str:
        value = table.get(key, default)
        if value not in allowed:
            raise self.fail(f"{section}.{key}", f"must be one of {list(allowed)}, got {value!r}")
        return str(value)


def parse_scenario(data: dict[str, Any], source: str) -> Scenario:
    """Validate the parsed TOML ``data``; ``source`` names the file in error messages."""
    r = _Reader(source)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise r.fail(unknown[0], f"unknown key; allowed: {sorted(_TOP_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise r.fail("name", f"must be a non-empty string, got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise r.fail("description", f"must be a string, got {description!r}")
    sensor = r.choice(
        r.section(data, "sensor"), "sensor", "preset", "hdl64", tuple(sorted(PRESETS))
    )
    ego = r.section(data, "ego")
    traffic = r.section(data, "traffic")
    rare = r.section(data, "rare")
    weather = r.section(data, "weather")
    labels = r.section(data, "labels")

    density = {c: r.number(traffic, "traffic", c, 0.0, 0.0, 100.0) for c in COMMON_CLASSES}
    mix_raw = rare.get("mix", {})
    if not isinstance(mix_raw, dict):
        raise r.fail("rare.mix", f"must be a table of class = weight, got {mix_raw!r}")
    mix: dict[str, float] = {}
    for cls in mix_raw:
        if cls not in RARE_CLASSES:
            raise r.fail(f"rare.mix.{cls}", f"not a rare class; choose from {list(RARE_CLASSES)}")
        mix[cls] = r.number(mix_raw, "rare.mix", cls, 0.0, 0.0, 1e6)
    rate = r.number(rare, "rare", "rate", 0.0, 0.0, 1.0)
    if rate > 0 and sum(mix.values()) <= 0:
        raise r.fail("rare.mix", f"rate is {rate} but no rare class has a positive weight")
    min_points = labels.get("min_points", 5)
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 1:
        raise r.fail("labels.min_points", f"must be a positive integer, got {min_points!r}")
    kind = r.choice(weather, "weather", "kind", "clear", WEATHER_KINDS)
    intensity = r.number(weather, "weather", "intensity", 0.0, 0.0, 1.0)
    return Scenario(
        name=name,
        description=description,
        sensor=sensor,
        ego_speed=r.number(ego, "ego", "speed", 10.0, 0.0, 40.0),
        density=density,
        parked_fraction=r.number(traffic, "traffic", "parked_fraction", 0.35, 0.0, 1.0),
        crossing_fraction=r.number(traffic, "traffic", "crossing_fraction", 0.1, 0.0, 1.0),
        rare_rate=rate,
        rare_mix=mix,
        weather=kind,
        weather_intensity=intensity if kind != "clear" else 0.0,
        min_points=int(min_points),
        source=source,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    return parse_scenario(data, str(path))


def builtin_names() -> list[str]:
    """Names of the scenarios shipped in ``simulators/scenarios``."""
    folder = resources.files("simulators") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def builtin_scenario(name: str) -> Scenario:
    """A shipped scenario by name, e.g. ``builtin_scenario("urban")``."""
    if name not in builtin_names():
        raise ScenarioError(f"no built-in scenario {name!r}; choose one of {builtin_names()}")
    with resources.as_file(resources.files("simulators") / "scenarios" / f"{name}.toml") as path:
        return load_scenario(path)


def resolve_scenario(name_or_path: str) -> Scenario:
    """A scenario file path if one exists there, else a built-in scenario name."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_scenario(path)
    return builtin_scenario(name_or_path)
