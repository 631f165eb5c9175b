"""Scenario files: the shipped ones load, bad ones are refused with the file and key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.classes import RARE_CLASSES
from simulators.errors import ScenarioError
from simulators.scenario import builtin_names, builtin_scenario, load_scenario, resolve_scenario

GOOD = """
name = "t"
[sensor]
preset = "vlp32"
[ego]
speed = 5.0
[traffic]
car = 3.0
[rare]
rate = 0.2
mix = { dog = 1.0, deer = 2.0 }
[weather]
kind = "fog"
intensity = 0.5
[labels]
min_points = 8
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scn.toml"
    path.write_text(text)
    return path


def test_builtin_scenarios_load() -> None:
    assert {"urban", "urban_rare", "rare_heavy", "rain", "fog"} <= set(builtin_names())
    urban = builtin_scenario("urban")
    assert urban.sensor == "hdl64" and urban.rare_rate == 0.0
    assert all(urban.density[c] > 0 for c in ("car", "truck", "bus", "pedestrian", "cyclist"))
    rare = builtin_scenario("urban_rare")
    # a rare actor about every 500 s of driving at 10 Hz
    assert 0.0001 <= rare.rare_rate <= 0.0005
    assert set(rare.rare_mix) == set(RARE_CLASSES)
    assert builtin_scenario("rain").weather == "rain"
    assert builtin_scenario("fog").weather == "fog"
    assert builtin_scenario("rare_heavy").rare_rate >= 0.03


def test_a_full_file_is_read(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, GOOD))
    assert (s.sensor, s.ego_speed, s.density["car"], s.density["bus"]) == ("vlp32", 5.0, 3.0, 0.0)
    assert (s.rare_rate, s.rare_mix) == (0.2, {"dog": 1.0, "deer": 2.0})
    assert (s.weather, s.weather_intensity, s.min_points) == ("fog", 0.5, 8)
    assert s.to_dict()["rare_rate"] == 0.2
    assert resolve_scenario(str(tmp_path / "scn.toml")) == s
    assert resolve_scenario("urban").name == "urban"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('preset = "vlp32"', 'preset = "vlp31"', "sensor.preset"),
        ("speed = 5.0", 'speed = "fast"', "ego.speed"),
        ("speed = 5.0", "speed = -1.0", "ego.speed"),
        ("car = 3.0", "carr = 3.0", "traffic.carr"),
        ("rate = 0.2", "rate = 1.5", "rare.rate"),
        ("rate = 0.2", "rate = 0.2\nevent_frames = [2, 3]", "rare.event_frames"),
        ("dog = 1.0", "unicorn = 1.0", "rare.mix.unicorn"),
        ("dog = 1.0, deer = 2.0", "dog = 0.0", "rare.mix"),
        ('kind = "fog"', 'kind = "snow"', "weather.kind"),
        ("intensity = 0.5", "intensity = 2", "weather.intensity"),
        ("min_points = 8", "min_points = 0", "labels.min_points"),
        ('name = "t"', 'name = ""', "name"),
        ('name = "t"', 'name = "t"\nsensors = 1', "sensors"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert repr(key) in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(write(tmp_path, "name = [unclosed"))
    with pytest.raises(ScenarioError, match="no built-in scenario 'nowhere'"):
        resolve_scenario("nowhere")
