"""``longtail sim drive`` and ``longtail sim render`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.cli import main
from core.formats.dataset import Dataset
from simulators.scenario import builtin_names

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_drive_writes_a_dataset_that_loads_back(tmp_path: Path) -> None:
    out = tmp_path / "drive"
    rc = main(["sim", "drive", "--scenario", "urban", "--frames", "2", "--seed", "5", "--out", str(out), "--no-progress"])  # fmt: skip
    assert rc == 0
    dataset = Dataset(out)
    assert len(dataset) == 2
    meta = dataset.meta()
    assert meta["seed"] == 5 and meta["frames"] == 2
    assert meta["sensor"]["preset"] == "hdl64" and meta["sensor"]["beams"] == 64
    assert meta["scenario"]["name"] == "urban" and meta["scenario"]["density"]["car"] > 0
    counted: dict[str, int] = {}
    for points, labels in dataset:
        assert labels is not None and points.shape[0] > 100_000
        for name in labels.class_names():
            counted[name] = counted.get(name, 0) + 1
    assert meta["class_counts"] == counted

    png = tmp_path / "top.png"
    assert main(["sim", "render", str(out), "--index", "1", "--out", str(png)]) == 0
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    import matplotlib.image

    image = matplotlib.image.imread(str(png))
    assert image.shape[0] >= 500 and image.shape[1] >= 500
    assert np.unique(image.reshape(-1, image.shape[2]), axis=0).shape[0] > 50  # not blank


def test_drive_from_a_scenario_file(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text('name = "tiny"\n[sensor]\npreset = "vlp32"\n[traffic]\ncar = 5.0\n')
    out = tmp_path / "tiny"
    assert (
        main(["sim", "drive", "--scenario", str(scenario), "--frames", "1", "--out", str(out)]) == 0
    )
    assert Dataset(out).meta()["sensor"]["beams"] == 32


def test_user_errors_are_one_line_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[weather]\nkind = "hail"\n')
    assert (
        main(
            ["sim", "drive", "--scenario", str(bad), "--frames", "1", "--out", str(tmp_path / "x")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "bad.toml" in err and "'weather.kind'" in err and "Traceback" not in err
    assert main(["sim", "render", str(tmp_path / "nothing"), "--out", str(tmp_path / "a.png")]) == 2
    assert "not a dataset directory" in capsys.readouterr().err


def test_an_existing_dataset_is_not_overwritten_by_accident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d"
    args = ["sim", "drive", "--scenario", "urban", "--frames", "2", "--seed", "1", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    before = Dataset(out).points(1).tobytes()
    assert main([*args[:5], "1", *args[6:]]) == 2
    assert "choose an empty directory or pass --overwrite" in (capsys.readouterr().err)
    assert Dataset(out).points(1).tobytes() == before  # untouched
    # with --overwrite the old frames go: the one-frame drive leaves exactly one frame
    assert main([*args[:5], "1", *args[6:], "--overwrite"]) == 0
    assert len(Dataset(out)) == 1 and Dataset(out).meta()["frames"] == 1
    assert main([*args[:5], "0", *args[6:], "--overwrite"]) == 2
    assert "frames must be at least 1" in capsys.readouterr().err


def test_help_is_plain_text_and_lists_every_built_in_scenario(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (["sim", "--help"], ["sim", "drive", "--help"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        text = capsys.readouterr().out
        assert "`" not in text  # no RST markup in a terminal
        listed = " ".join(text.split())  # argparse wraps long lines
        assert ", ".join(builtin_names()) in listed
    assert "demo" in builtin_names()
