"""Evaluation with the official protocols.

* :mod:`weakhoi.eval.ap` -- 11-point (HICO-DET, MATLAB-exact) and all-point (V-COCO) AP.
* :mod:`weakhoi.eval.detections` -- the HOI detections interchange JSON (0-based HOI ids).
* :mod:`weakhoi.eval.hicodet` -- HICO-DET mAP (Default / Known-Object), vectorised.
* :mod:`weakhoi.eval.vcoco` -- V-COCO agent and role AP (scenarios 1 and 2).
"""
from .ap import VOC11_THRESHOLDS, precision_recall, voc_ap_11point, voc_ap_allpoint
from .detections import HOIDetections, read_detections_json, write_detections_json
from .hicodet import (HICODetResult, evaluate_hicodet, image_objects_from_anno_mat, image_objects_from_boxes,
                      image_objects_from_hoi_labels)

__all__ = [
    "VOC11_THRESHOLDS", "precision_recall", "voc_ap_11point", "voc_ap_allpoint",
    "HOIDetections", "read_detections_json", "write_detections_json",
    "HICODetResult", "evaluate_hicodet", "image_objects_from_anno_mat", "image_objects_from_boxes",
    "image_objects_from_hoi_labels",
]
