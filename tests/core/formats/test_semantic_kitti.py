"""SemanticKITTI ``.label`` files: round trip, bit layout, refusal of wrong sizes and ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.errors import FormatError
from core.formats.semantic_kitti import (
    decode_point_labels,
    encode_point_labels,
    read_point_labels,
    write_point_labels,
)
from tests.core.formats.strategies import corrupt


@st.composite
def label_arrays(
    draw: st.DrawFn, max_points: int = 300
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    n = draw(st.integers(0, max_points))
    semantic = draw(arrays(np.uint16, n))
    instance = draw(arrays(np.uint16, n))
    return semantic, instance


@given(labels=label_arrays())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_point_labels_round_trip(
    tmp_path: Path, labels: tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]
) -> None:
    semantic, instance = labels
    path = tmp_path / "000000.label"
    write_point_labels(path, semantic, instance)
    assert path.stat().st_size == 4 * semantic.size
    back = read_point_labels(path, num_points=semantic.size)
    assert back.semantic.dtype == back.instance.dtype == np.uint16
    assert np.array_equal(back.semantic, semantic) and np.array_equal(back.instance, instance)


def test_bit_layout_is_semantic_kitti() -> None:
    # lower 16 bits the class, upper 16 bits the instance, little-endian uint32 per point
    raw = encode_point_labels(np.array([1, 20, 0xFFFF]), np.array([0, 7, 0xFFFF]))
    assert raw == np.array([1, 20 | 7 << 16, 0xFFFFFFFF], "<u4").tobytes()
    # a record as SemanticKITTI's own loader reads it: label & 0xFFFF, label >> 16
    packed = np.frombuffer(raw, "<u4")
    assert (packed & 0xFFFF).tolist() == [1, 20, 0xFFFF]
    assert (packed >> 16).tolist() == [0, 7, 0xFFFF]
    semantic, instance = decode_point_labels(raw)
    assert semantic.tolist() == [1, 20, 0xFFFF] and instance.tolist() == [0, 7, 0xFFFF]


def test_wrong_sizes_name_the_file_and_both_counts(tmp_path: Path) -> None:
    path = tmp_path / "000003.label"
    write_point_labels(path, np.arange(5), np.zeros(5, np.int64))
    with pytest.raises(FormatError, match=r"000003\.label: expected 6 labels .*found 5"):
        read_point_labels(path, num_points=6)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(FormatError, match=r"000003\.label: size 19 bytes is not a multiple of 4"):
        read_point_labels(path)
    with pytest.raises(FormatError, match=r"missing\.label: cannot read point label file"):
        read_point_labels(tmp_path / "missing.label")


@pytest.mark.parametrize(
    ("semantic", "instance", "message"),
    [
        (np.zeros(3, np.uint16), np.zeros(2, np.uint16), "3 semantic ids but 2 instance ids"),
        (
            np.array([0, 70000]),
            np.zeros(2, np.uint16),
            r"semantic id\(s\) outside .*point 1: 70000",
        ),
        (np.zeros(2, np.uint16), np.array([-1, 3]), r"instance id\(s\) outside .*point 0: -1"),
        (np.zeros(2, np.float32), np.zeros(2, np.uint16), "semantic ids must be integers"),
        (np.zeros((2, 1), np.uint16), np.zeros(2, np.uint16), "must be one-dimensional"),
    ],
)
def test_writer_refuses_bad_ids_and_writes_nothing(
    tmp_path: Path,
    semantic: npt.NDArray[np.generic],
    instance: npt.NDArray[np.generic],
    message: str,
) -> None:
    path = tmp_path / "000001.label"
    with pytest.raises(FormatError, match=message) as info:
        write_point_labels(path, semantic, instance)
    assert str(path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


@given(data=st.data())
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_corrupt_label_files_give_format_errors_or_one_label_per_point(
    tmp_path: Path, data: st.DataObject
) -> None:
    # a damaged file is refused naming itself; a file that keeps its size still decodes into
    # exactly one (semantic, instance) pair per point: the length check is what guards it
    path = tmp_path / "points.label"
    path.write_bytes(corrupt(encode_point_labels(np.arange(10), np.arange(10) + 100), data))
    try:
        semantic, instance = read_point_labels(path, num_points=10)
    except FormatError as exc:
        assert str(path) in str(exc)
        return
    assert semantic.shape == instance.shape == (10,)
    assert semantic.dtype == instance.dtype == np.uint16
