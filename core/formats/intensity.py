"""Intensity normalisation: one stated rule that maps every file's intensity into [0, 1].

Sensors and tools write intensity on different scales: KITTI and most PCD writers use floats in
[0, 1], nuScenes and many ROS/PCL pipelines floats or 8-bit integers on 0..255, LAS files 16-bit
integers. The model was trained on [0, 1]; feeding it another scale silently ruins its classes
(issue 12: a 0..255 sweep turned 73 of 90 candidates into "bus"). The rule, applied once per
file (never per point, so a frame keeps one scale):

* **integer field** (uint8/16/32, int8/16/32/64): the values are counts on the sensor's scale:
  maximum <= 255 -> divided by 255 (8-bit, also 8-bit values stored in a wider field);
  maximum <= 65535 -> divided by 65535 (16-bit, the LAS convention);
* **float field**: maximum <= 1 -> kept (already normalised); maximum <= 255 -> divided by 255
  (the 0..255 scale written as floats, as nuScenes does);
* **refused** (FormatError naming the file and the values): a NaN or infinite value, a negative
  value, an integer above 65535, a float above 255 (no known scale fits: most likely a field that
  is not intensity at all, or corrupt data).

A file format that documents its scale (KITTI ``.bin``: [0, 1]; nuScenes ``.pcd.bin``: 0..255)
passes it as ``declared``. Values within the declared range are scaled by it (a dark nuScenes
sweep stays dark; when all its values are <= 1 a warning says the writer may have normalised
them already). Values beyond it (a KITTI file holding values up to 255, as many tools write
them) contradict the format: the rule above decides, and a warning names the contradiction and
what was done. LAS declares no scale here: its specification asks for 16-bit values but many
writers store 8-bit ones, so the integer rule decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from core.errors import FormatError

#: the scale a file format documents for its intensity
DeclaredScale = Literal["unit", "8bit", "16bit"]

_DECLARED_RULE: dict[DeclaredScale, str] = {
    "unit": "kept (already in [0, 1])",
    "8bit": "divided by 255",
    "16bit": "divided by 65535",
}
_DECLARED_TOP: dict[DeclaredScale, float] = {"unit": 1.0, "8bit": 255.0, "16bit": 65535.0}
_DECLARED_TEXT: dict[DeclaredScale, str] = {
    "unit": "[0, 1]",
    "8bit": "0..255",
    "16bit": "0..65535",
}


@dataclass(frozen=True)
class ScaledIntensity:
    """Intensity in [0, 1] (float32), the rule that produced it, and a warning when the data
    contradicted the format's declared scale."""

    values: npt.NDArray[np.float32]
    rule: str
    warning: str | None = None


def _divide(values: npt.NDArray[np.floating[Any]], divisor: float) -> npt.NDArray[np.float32]:
    """``values / divisor`` in the values' own precision, as float32."""
    quotient: npt.NDArray[np.floating[Any]] = np.divide(values, values.dtype.type(divisor))
    return quotient.astype(np.float32)


def scale_intensity(
    values: npt.NDArray[np.generic], source: str, *, declared: DeclaredScale | None = None
) -> ScaledIntensity:
    """Scale raw intensity ``values`` into [0, 1] by the module's rule; ``source`` names the file
    in errors and warnings. See the module docstring for the rule and what is refused."""
    if values.size == 0:
        return ScaledIntensity(np.zeros(0, dtype=np.float32), "none (no points)")
    integer = np.issubdtype(values.dtype, np.integer)
    # float32 stays float32 (exact min/max, and the division nuScenes' devkit does); others
    # widen to float64. Signalling NaNs raise FE_INVALID when converted.
    work = np.float32 if values.dtype == np.float32 else np.float64
    with np.errstate(invalid="ignore"):
        as_float: npt.NDArray[np.floating[Any]] = values.astype(work, copy=False)
        low, high = float(as_float.min()), float(as_float.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int((~np.isfinite(as_float)).sum())
        raise FormatError(f"{source}: intensity has {bad} non-finite value(s) (NaN or inf)")
    if low < 0.0:
        raise FormatError(
            f"{source}: intensity has negative values (minimum {low!r}); no intensity scale "
            f"has negative values"
        )
    if declared is not None and high <= _DECLARED_TOP[declared]:
        # the data fit the format's own scale: it decides (a dark 0..255 frame stays dark)
        rule, divisor = _DECLARED_RULE[declared], _DECLARED_TOP[declared]
        warning = None
        if declared != "unit" and 0.0 < high <= 1.0:
            warning = (
                f"intensity is {_DECLARED_TEXT[declared]} for this format and all values are "
                f"<= 1 (maximum {high:g}): {rule}; a very dark frame, or intensity already "
                f"normalised by the writer"
            )
        return ScaledIntensity(_divide(as_float, divisor), rule, warning)
    if integer and high <= 255.0:
        rule, divisor = "divided by 255", 255.0
    elif integer and high <= 65535.0:
        rule, divisor = "divided by 65535", 65535.0
    elif not integer and high <= 1.0:
        rule, divisor = "kept (already in [0, 1])", 1.0
    elif not integer and high <= 255.0:
        rule, divisor = "divided by 255", 255.0
    else:
        kind = f"{values.dtype} integer" if integer else "float"
        limit = "16-bit integer" if integer else "[0, 1] or 0..255"
        raise FormatError(
            f"{source}: {kind} intensity range [{low:g}, {high:g}] fits no known scale "
            f"({limit}); refusing to guess"
        )
    warning = None
    if declared is not None:
        warning = (
            f"intensity should be {_DECLARED_TEXT[declared]} for this format but the file holds "
            f"[{low:g}, {high:g}]: {rule}"
        )
    return ScaledIntensity(_divide(as_float, divisor), rule, warning)
