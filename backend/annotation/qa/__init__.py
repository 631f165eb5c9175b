"""Quality control of labels, in 3D: pure numpy/scipy, no I/O, no logging.

| module | what it holds |
| --- | --- |
| ``matching`` | per-frame two-pass Hungarian matching of cuboids (class thresholds, class mismatches), per-pair errors, summaries |
| ``grouping`` | k annotators' boxes of one frame grouped into one cluster per object |
| ``fusion`` | a cluster's boxes fused into one (median centre and size, flip-aware circular heading) with its disagreement |
| ``agreement`` | Cohen's kappa, Fleiss' kappa, Krippendorff's alpha (nominal, interval, missing values) |
| ``segmentation`` | per-class IoU and mIoU of point labels, weighted per-point consensus |
| ``gold`` | annotator accuracy on gold tasks, the calibration-outlier rule |

Box IoU comes from ``core.geometry`` (the one implementation); class aggregation with gold
answers pinned (Dawid-Skene) is the adapter ``backend.annotation.aggregation``.
"""

from backend.annotation.qa.agreement import (
    category_counts,
    cohen_kappa,
    encode_nominal,
    fleiss_kappa,
    krippendorff_alpha,
)
from backend.annotation.qa.fusion import FusedBox, fuse_boxes, fused_heading
from backend.annotation.qa.gold import (
    CalibrationVerdict,
    GoldAccuracy,
    flag_outliers,
    gold_accuracy,
)
from backend.annotation.qa.grouping import Cluster, group_boxes, reliability_tables
from backend.annotation.qa.matching import (
    FrameMatch,
    MatchSettings,
    MatchSummary,
    PairMetrics,
    match_frame,
    summarize,
)
from backend.annotation.qa.segmentation import (
    SegmentationIoU,
    confusion_matrix,
    consensus_labels,
    segmentation_iou,
)

__all__ = [
    "CalibrationVerdict",
    "Cluster",
    "FrameMatch",
    "FusedBox",
    "GoldAccuracy",
    "MatchSettings",
    "MatchSummary",
    "PairMetrics",
    "SegmentationIoU",
    "category_counts",
    "cohen_kappa",
    "confusion_matrix",
    "consensus_labels",
    "encode_nominal",
    "flag_outliers",
    "fleiss_kappa",
    "fuse_boxes",
    "fused_heading",
    "gold_accuracy",
    "group_boxes",
    "krippendorff_alpha",
    "match_frame",
    "reliability_tables",
    "segmentation_iou",
    "summarize",
]
