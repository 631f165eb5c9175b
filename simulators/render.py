"""Top-view pictures of dataset frames: points coloured by height or intensity (with a colour
bar), ground-truth boxes as oriented rectangles with class names, range rings around the ego at
the origin. Labels are placed so that they never overlap; one that finds no free place is left
out rather than drawn over another.

The building blocks (:class:`TopView`, :class:`LabelPlacer`) are shared with
``simulators.urgent_frame``, which draws the model's detections and the candidate that fired a
trigger rule over the same picture.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats.dataset import Dataset, FrameLabels
from core.geometry.boxes import box_corners_bev
from simulators.errors import RenderError

#: colour scale limits: heights from the road (-1.73 m below the sensor) to a bus roof (m),
#: intensities over their common range
COLOR_LIMITS = {"height": (-2.0, 1.5), "intensity": (0.0, 0.6)}
COLOR_LABELS = {"height": "height z above the sensor (m)", "intensity": "intensity"}


class LabelPlacer:
    """Places text labels on an axis without overlaps: each label tries its offsets around its
    anchor in turn and takes the first place free of earlier labels; a label that finds none is
    not drawn (``skipped`` counts them). Place the most important labels first."""

    #: offsets from the anchor in points (right-up, right-down, left-up, left-down, up, down)
    OFFSETS = ((4, 4), (4, -12), (-4, 4), (-4, -12), (0, 10), (0, -16))

    def __init__(self, ax: Any) -> None:
        self.ax = ax
        self.renderer = ax.figure.canvas.get_renderer()
        self.placed: list[Any] = []  # Bbox of each label drawn, in display pixels
        self.skipped = 0

    def place(self, x: float, y: float, text: str, **style: Any) -> bool:
        """Draw ``text`` near data point (x, y) if a free place exists; True if drawn."""
        xmin, xmax = self.ax.get_xlim()
        ymin, ymax = self.ax.get_ylim()
        if not (xmin <= x <= xmax and ymin <= y <= ymax):
            return False
        axes_box = self.ax.get_window_extent(self.renderer)
        for dx, dy in self.OFFSETS:
            artist = self.ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx >= 0 else "right",
                annotation_clip=True,
                # a dark backing keeps the text readable over points and box edges
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 0.8, "linewidth": 0},
                **style,
            )
            box = artist.get_window_extent(self.renderer).expanded(1.05, 1.15)
            inside = axes_box.contains(box.x0, box.y0) and axes_box.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(other) for other in self.placed):
                self.placed.append(box)
                return True
            artist.remove()
        self.skipped += 1
        return False


class TopView:
    """One top-view figure: ``extent`` is the half width of the picture in metres, x forward
    (right in the picture), y left (up in the picture), sensor at the origin."""

    def __init__(self, extent: float, title: str = "", size_in: float = 10.0) -> None:
        # the Agg canvas directly: no pyplot, no change to the process-wide backend
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.extent = extent
        self.fig = Figure(figsize=(size_in * 1.12, size_in), dpi=100)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot(1, 1, 1)
        self.ax.set_facecolor("black")
        self.ax.set_xlim(-extent, extent)
        self.ax.set_ylim(-extent, extent)
        self.ax.set_aspect("equal")
        self.ax.set_xlabel("x forward (m)")
        self.ax.set_ylabel("y left (m)")
        if title:
            self.ax.set_title(title, fontsize=11, loc="left")
        self.labels = LabelPlacer(self.ax)

    def draw_points(self, points: npt.NDArray[np.float32], color_by: str = "height") -> None:
        """The cloud (N, 4) in the sensor frame, coloured by ``color_by`` with a colour bar."""
        if color_by not in COLOR_LIMITS:
            raise RenderError(f"color_by must be 'height' or 'intensity', got {color_by!r}")
        extent = self.extent
        near = (np.abs(points[:, 0]) < extent) & (np.abs(points[:, 1]) < extent)
        shown = points[near]
        values = shown[:, 2] if color_by == "height" else shown[:, 3]
        # draw low points first so objects are not buried under the road returns around them
        order = np.argsort(shown[:, 2], kind="stable")
        shown, values = shown[order], values[order]
        lo, hi = COLOR_LIMITS[color_by]
        sizes = np.where(shown[:, 2] > -1.4, 2.0, 0.5)  # above the kerb: bigger dots
        scatter = self.ax.scatter(
            shown[:, 0], shown[:, 1], c=values, s=sizes, cmap="turbo", vmin=lo, vmax=hi, lw=0
        )
        bar = self.fig.colorbar(scatter, ax=self.ax, fraction=0.04, pad=0.02)
        bar.set_label(COLOR_LABELS[color_by])
        ring = np.linspace(0, 2 * np.pi, 181)
        for radius in range(10, int(extent) + 1, 10):
            self.ax.plot(radius * np.cos(ring), radius * np.sin(ring), color="0.45", lw=0.5)
            self.ax.text(radius * 0.707, radius * 0.707, f"{radius} m", color="0.75", fontsize=7)
        self.ax.plot([0.0], [0.0], marker=">", color="white", markersize=8)  # the ego, facing +x

    def draw_box(
        self, box: Sequence[float], color: str, lw: float = 1.0, ls: str = "-", alpha: float = 1.0
    ) -> npt.NDArray[np.float64]:
        """An oriented box (x, y, z, l, w, h, yaw) from above, with a heading tick from its
        centre to its front edge; returns its corners (4, 2)."""
        corners = np.asarray(box_corners_bev([tuple(box)])[0], dtype=np.float64)
        closed = np.vstack([corners, corners[:1]])
        style: dict[str, Any] = {"color": color, "lw": lw, "ls": ls, "alpha": alpha}
        self.ax.plot(closed[:, 0], closed[:, 1], **style)
        front = corners[[0, 3]].mean(axis=0)
        self.ax.plot([box[0], front[0]], [box[1], front[1]], **style)
        return corners

    def save(self, out: str | os.PathLike[str]) -> None:
        try:
            self.fig.savefig(Path(out), format="png", bbox_inches="tight")
        except OSError as exc:
            raise RenderError(f"{out}: cannot write picture: {exc.strerror or exc}") from exc


def render_top_view(
    points: npt.NDArray[np.float32],
    labels: FrameLabels | None,
    out: str | os.PathLike[str],
    color_by: str = "height",
    extent: float = 60.0,
    title: str = "",
) -> None:
    """Draw ``points`` (N, 4, sensor frame) and ``labels`` seen from above into the PNG ``out``.

    ``extent`` is the half width of the picture in metres; ``color_by`` is "height" or
    "intensity".
    """
    if color_by not in COLOR_LIMITS:
        raise RenderError(f"color_by must be 'height' or 'intensity', got {color_by!r}")
    view = TopView(extent, title)
    view.draw_points(points, color_by)
    if labels is not None:
        for obj in labels.objects:
            corners = view.draw_box(obj.box, "white")
            view.labels.place(
                float(corners[0][0]),
                float(corners[0][1]),
                f"{obj.class_name} #{obj.track_id}",
                color="white",
                fontsize=7,
            )
    view.save(out)


def render_dataset_frame(
    root: str | os.PathLike[str],
    index: int,
    out: str | os.PathLike[str],
    color_by: str = "height",
    extent: float = 60.0,
) -> None:
    """Render frame ``index`` of the dataset at ``root`` into the PNG ``out`` (``extent``: half
    width in metres)."""
    points, labels = load_frame(root, index)
    render_top_view(
        points, labels, out, color_by=color_by, extent=extent, title=f"{Path(root).name} #{index}"
    )


def load_frame(
    root: str | os.PathLike[str], index: int
) -> tuple[npt.NDArray[np.float32], FrameLabels | None]:
    """Frame ``index`` of the dataset at ``root``: its points and labels (None if unlabelled)."""
    try:
        dataset = Dataset(root)
    except FormatError as exc:
        raise RenderError(str(exc)) from exc
    if index not in dataset.indices:
        raise RenderError(f"{root}: no frame {index} (the dataset has {len(dataset)} frames)")
    labels = dataset.labels(index) if dataset.has_labels(index) else None
    return dataset.points(index), labels
