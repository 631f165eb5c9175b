"""Top-view pictures of dataset frames: points coloured by height or intensity, ground-truth
boxes as oriented rectangles with class names, range rings around the ego at the origin."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats.dataset import Dataset, FrameLabels
from core.geometry.boxes import box_corners_bev
from simulators.errors import RenderError


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
    # the Agg canvas directly: no pyplot, no change to the process-wide backend
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if color_by not in ("height", "intensity"):
        raise RenderError(f"color_by must be 'height' or 'intensity', got {color_by!r}")
    fig = Figure(figsize=(10, 10), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor("black")
    near = (np.abs(points[:, 0]) < extent) & (np.abs(points[:, 1]) < extent)
    shown = points[near]
    values = shown[:, 2] if color_by == "height" else shown[:, 3]
    # draw low points first so objects are not buried under the road returns around them
    order = np.argsort(shown[:, 2], kind="stable")
    shown, values = shown[order], values[order]
    # heights from the road (-1.73 m) to a bus roof; intensities over their common range
    lo, hi = (-2.0, 1.5) if color_by == "height" else (0.0, 0.6)
    sizes = np.where(shown[:, 2] > -1.4, 2.0, 0.5)  # above the kerb: bigger dots
    ax.scatter(
        shown[:, 0], shown[:, 1], c=values, s=sizes, cmap="turbo", vmin=lo, vmax=hi, linewidths=0
    )
    ring = np.linspace(0, 2 * np.pi, 181)
    for radius in range(10, int(extent) + 1, 10):
        ax.plot(radius * np.cos(ring), radius * np.sin(ring), color="0.45", lw=0.5)
        ax.text(radius * 0.707, radius * 0.707, f"{radius} m", color="0.75", fontsize=7)
    ax.plot([0.0], [0.0], marker=">", color="white", markersize=8)  # the ego, facing +x
    if labels is not None:
        for obj in labels.objects:
            corners = box_corners_bev([obj.box])[0]
            closed = np.vstack([corners, corners[:1]])
            ax.plot(closed[:, 0], closed[:, 1], color="white", lw=1.0)
            # a tick from the centre to the front edge shows the heading
            front = corners[[0, 3]].mean(axis=0)
            ax.plot([obj.box[0], front[0]], [obj.box[1], front[1]], color="white", lw=1.0)
            ax.text(
                corners[0][0],
                corners[0][1],
                f"{obj.class_name} #{obj.track_id}",
                color="white",
                fontsize=6,
            )
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xlabel("x forward (m)")
    ax.set_ylabel("y left (m)")
    if title:
        ax.set_title(title)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.95)
    try:
        fig.savefig(Path(out), format="png")
    except OSError as exc:
        raise RenderError(f"{out}: cannot write picture: {exc.strerror or exc}") from exc


def render_dataset_frame(
    root: str | os.PathLike[str],
    index: int,
    out: str | os.PathLike[str],
    color_by: str = "height",
    extent: float = 60.0,
) -> None:
    """Render frame ``index`` of the dataset at ``root`` into the PNG ``out`` (``extent``: half
    width in metres)."""
    try:
        dataset = Dataset(root)
    except FormatError as exc:
        raise RenderError(str(exc)) from exc
    if index not in dataset.indices:
        raise RenderError(f"{root}: no frame {index} (the dataset has {len(dataset)} frames)")
    labels = dataset.labels(index) if dataset.has_labels(index) else None
    render_top_view(
        dataset.points(index),
        labels,
        out,
        color_by=color_by,
        extent=extent,
        title=f"{Path(root).name} #{index}",
    )
