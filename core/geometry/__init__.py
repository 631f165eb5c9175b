"""Box geometry shared by the perception runtime, training and evaluation (see ``boxes``)."""

from core.geometry.boxes import (
    bev_iou_matrix,
    box_corners_3d,
    box_corners_bev,
    iou3d_matrix,
    points_in_boxes,
)

__all__ = [
    "bev_iou_matrix",
    "box_corners_3d",
    "box_corners_bev",
    "iou3d_matrix",
    "points_in_boxes",
]
