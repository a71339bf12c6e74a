"""V-COCO ground truth for :mod:`weakhoi.eval.vcoco` built from an :class:`HOIDataset`, for
when only the ``instances_vcoco_*.json`` layout is at hand (the official evaluation needs
``vcoco_*.json`` + the COCO 2014 instances file + the split ids: use
:func:`weakhoi.eval.vcoco.load_vcoco_ground_truth` when you have them).

What the dataset gives and what it cannot (the approximation, documented):

* persons = the distinct human boxes of the image's pairs (first appearance order; two pairs
  with the same box are the same person). Every person is "in V-COCO" (none ignored). Official
  ground truth also holds the V-COCO persons without any action and the COCO persons outside
  V-COCO (ignored); both only change which person a detection is assigned to, so results agree
  with the official ones exactly when every person of an image takes part in some pair.
* actions = the V-COCO actions with at least one action-role class in the vocabulary, in the
  official order, each with its roles in the official order (the 4 agent-only actions stand,
  walk, run, smile are not in the layout; neither is ``point`` in the 24-class layout). A
  person has an action when one of its pairs has one of the action's roles. Agent AP therefore
  covers only these actions; role AP covers every (action, role) class of the vocabulary.
* role boxes: the object box of the person's pair of that action-role (the first such pair);
  a pair without a role object (NaN box, V-COCO official reader) is a missing role object.

Box frame: the official ground truth is ``[x, y, x + w - 1, y + h - 1]`` (COCO's xywh in
inclusive pixel indices, 0-based), clipped to ``[0, W - 1] x [0, H - 1]``, float32, compared
with the +1 IoU. Continuous weakhoi boxes ``[x, y, x + w, y + h]`` map to it with
:func:`continuous_to_vcoco` (x2 - 1, y2 - 1); detections are converted the same way, so a
detection equal to a ground-truth box has IoU 1.
"""
from __future__ import annotations

import numpy as np

from ..data.records import HOIDataset
from ..data.vcoco import VCOCO_ACTIONS, VCOCO_ROLES
from ..errors import DataError
from .vcoco import VCOCOGroundTruth

F32 = np.float32


def continuous_to_vcoco(boxes: np.ndarray) -> np.ndarray:
    """Continuous xyxy [..., 4] -> the official V-COCO frame (x2 - 1, y2 - 1), float64."""
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    b[:, 2:] -= 1.0
    return b


def vcoco_actions_of(verbs: tuple[str, ...] | list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(action, roles) of the V-COCO actions that have an action-role verb in ``verbs``
    ('hold_obj', ...), official action and role order."""
    have = set(verbs)
    out = []
    for action in VCOCO_ACTIONS:
        roles = tuple(r for r in VCOCO_ROLES[action] if f"{action}_{r}" in have)
        if roles:
            out.append((action, roles))
    return out


def _clean(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    b = continuous_to_vcoco(boxes)
    if width > 0 and height > 0:      # sizes unknown (0 x 0) in the instances layout: no clipping
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0.0, width - 1.0)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0.0, height - 1.0)
    return b.astype(F32)


def dataset_image_ids(dataset: HOIDataset) -> np.ndarray:
    """[n] int64 COCO image id of every record (DataError naming the image when absent)."""
    ids = []
    for i, r in enumerate(dataset.records):
        if r.image_id is None:
            raise DataError(f"{dataset.source or dataset.name}: image {i} ({r.file_name}) has no "
                            f"COCO image id")
        ids.append(int(r.image_id))
    return np.asarray(ids, dtype=np.int64)


def vcoco_ground_truth_from_dataset(dataset: HOIDataset) -> VCOCOGroundTruth:
    """Person-level V-COCO ground truth of ``dataset`` (see the module docstring). Needs the
    COCO image id of every record (``image_id``); DataError naming the file otherwise."""
    v = dataset.vocab
    src = dataset.source or dataset.name
    acts = vcoco_actions_of(v.verbs)
    if not acts:
        raise DataError(f"{src}: the vocabulary has no V-COCO action-role verbs ('hold_obj', ...)")
    A = len(acts)
    verb_slot = {}                                             # verb index -> (action, role slot)
    for a, (action, roles) in enumerate(acts):
        for r, role in enumerate(roles):
            verb_slot[v.verbs.index(f"{action}_{role}")] = (a, r)
    image_ids = dataset_image_ids(dataset)
    if np.unique(image_ids).size != image_ids.size:
        raise DataError(f"{src}: COCO image ids are not unique")

    p_img, p_box, p_act, p_role = [], [], [], []
    for i, rec in enumerate(dataset.records):
        if rec.num_pairs == 0:
            continue
        hb = _clean(rec.boxes_h, rec.width, rec.height)        # [P, 4] official frame
        missing = ~np.isfinite(rec.boxes_o).all(axis=1)        # [P] no role object
        ob = _clean(np.where(missing[:, None], 0.0, rec.boxes_o), rec.width, rec.height)
        keys: dict[tuple, int] = {}
        for k in range(rec.num_pairs):
            slot = verb_slot.get(int(rec.verb[k]))
            if slot is None:
                raise DataError(f"{src}: image {i} ({rec.file_name}), pair {k}: verb "
                                f"{v.verbs[int(rec.verb[k])]!r} is not a V-COCO action-role")
            key = tuple(hb[k].tolist())
            if key not in keys:
                keys[key] = len(p_img)
                p_img.append(i)
                p_box.append(hb[k])
                p_act.append(np.zeros(A, np.int64))
                p_role.append(np.full((A, 2, 4), -1.0, F32))
            m = keys[key]
            a, r = slot
            p_act[m][a] = 1
            if not missing[k] and (p_role[m][a, r] == -1).all():
                p_role[m][a, r] = ob[k]
    M = len(p_img)
    return VCOCOGroundTruth(
        tuple(a for a, _ in acts), tuple(("agent", *roles) for _, roles in acts), image_ids,
        np.asarray(p_img, np.int64), np.asarray(p_box, F32).reshape(M, 4), np.zeros(M, bool),
        np.asarray(p_act, np.int64).reshape(M, A), np.asarray(p_role, F32).reshape(M, A, 2, 4))
