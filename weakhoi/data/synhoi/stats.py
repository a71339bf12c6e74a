"""Summary statistics of a generated split (counts, distractor share, nearest-object mispairing)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...vocab import Vocabulary
from .scene import ImageRecord
from .vocabulary import OBJECTS, VERBS

def nearest_object_mispair_rate(split: dict[str, Any]) -> float:
    """Share of interacting pairs of a split's JSON dict whose person's nearest object (box
    centre distance, over every drawn object in ``instances``) is not its true object: what
    proximity alone gets wrong. Ties go to the first object listed."""
    person = split["objects"].index("person")
    ni = split["verbs"].index("no_interaction")
    wrong = total = 0
    for a, inst in zip(split["annotation"], split["instances"]):
        objs = np.array([b for b, o in zip(inst["boxes"], inst["object"]) if o != person])  # [O, 4]
        centres = (objs[:, :2] + objs[:, 2:]) / 2                                          # [O, 2]
        for bh, bo, v in zip(a["boxes_h"], a["boxes_o"], a["verb"]):
            if v == ni:
                continue
            ch = np.array([(bh[0] + bh[2]) / 2, (bh[1] + bh[3]) / 2])
            k = int(np.argmin(np.linalg.norm(centres - ch, axis=1)))
            total += 1
            wrong += int(objs[k].tolist() != list(bo))
    return wrong / max(total, 1)


def summarize(records: Sequence[ImageRecord], vocab: Vocabulary, split: dict[str, Any]) -> dict[str, Any]:
    """Statistics of one split (``split``: its JSON dict)."""
    person = OBJECTS.index("person")
    hoi = [p[2] for r in records for p in r.pairs]
    counts = np.bincount(np.asarray(hoi, dtype=np.int64), minlength=vocab.num_hois)
    npeople = [int((r.labels == person).sum()) for r in records]
    nobj = [int((r.labels != person).sum()) for r in records]
    ni = VERBS.index("no_interaction")
    return {
        "images": len(records),
        "pairs": len(hoi),
        "interaction_pairs": int(sum(1 for r in records for p in r.pairs if p[4] != ni)),
        "no_interaction_pairs": int(sum(1 for r in records for p in r.pairs if p[4] == ni)),
        "classes_present": int((counts > 0).sum()),
        "distractor_share": float(np.mean([r.has_distractor for r in records])) if records else 0.0,
        "people_per_image": [min(npeople, default=0), max(npeople, default=0)],
        "objects_per_image": [min(nobj, default=0), max(nobj, default=0)],
        "nearest_object_mispair_rate": nearest_object_mispair_rate(split),
        "hoi_counts": counts.tolist(),
    }
