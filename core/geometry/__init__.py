"""Box geometry shared by the perception runtime, training, evaluation and annotation QA (see
``boxes``)."""

from core.geometry.boxes import (
    bev_iou_matrix,
    bev_iou_pairs,
    box_corners_3d,
    box_corners_bev,
    heading_error,
    iou3d_matrix,
    iou3d_pairs,
    points_in_boxes,
    valid_box_mask,
)

__all__ = [
    "bev_iou_matrix",
    "bev_iou_pairs",
    "box_corners_3d",
    "box_corners_bev",
    "heading_error",
    "iou3d_matrix",
    "iou3d_pairs",
    "points_in_boxes",
    "valid_box_mask",
]
