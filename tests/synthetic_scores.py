"""Synthetic ``hoi_scores`` artifacts built from a dataset's ground truth (seeded), for the
evaluation tests and bench/bench_fusion_eval.py. Not a test module (no ``test_`` prefix).

Per image: detections = every annotated person/object box (the SynHOI ``instances`` when the
record lists them, else the distinct boxes of its pairs), jittered by ~2% of their size, plus
Poisson false positives; pairs = kept humans x every other kept detection (humans are objects
too), as the ``spatial`` stage forms them. Logits put the true (pair, verb) high and everything
else low, with noise, so mAP is well above 0 but below 100: s_p ~ N(+3, 1.5) for true verbs of
true pairs and N(-3, 1.5) otherwise; s_b ~ N(+2, 1) / N(-2, 1); s_g ~ N(+3, 1) for the image's
classes / N(-3, 1); s_clip ~ N(+2, 1) / N(0, 1) (NaN where the class is invalid: the writer).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from weakhoi.data.records import HOIDataset
from weakhoi.scores import HOIScoresWriter, ImageScores


def _instances(rec, person: int) -> tuple[np.ndarray, np.ndarray]:
    if rec.instance_boxes is not None and len(rec.instance_boxes):
        return np.asarray(rec.instance_boxes, np.float64), np.asarray(rec.instance_labels, np.int64)
    boxes, labels = [], []
    seen: set[tuple] = set()
    for b, lab in [(b, person) for b in rec.boxes_h] + list(zip(rec.boxes_o, rec.object)):
        if not np.isfinite(b).all() or tuple(b) in seen:
            continue
        seen.add(tuple(b))
        boxes.append(b)
        labels.append(int(lab))
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(labels, np.int64)


def synthetic_scores(dataset: HOIDataset, out: Path, seed: int = 0, fp_rate: float = 1.5,
                     max_humans: int = 15, max_objects: int = 15, clip: bool = False,
                     true_drop: float = 0.1) -> Path:
    """Write a synthetic ``hoi_scores`` artifact for ``dataset`` to ``out``; returns ``out``.
    ``true_drop``: share of true (pair, verb) entries given a low score (missed interactions)."""
    rng = np.random.default_rng(seed)
    v = dataset.vocab
    N, A, C = v.num_hois, v.num_verbs, v.num_objects
    with HOIScoresWriter(out, {"synthetic": True, "seed": seed}, v, dataset.name,
                         has_clip=clip) as w:
        for rec in dataset.records:
            boxes, labels = _instances(rec, v.person)
            k = len(boxes)
            W = rec.width if rec.width > 0 else int(np.ceil(boxes[:, 2].max(initial=1.0))) + 1
            H = rec.height if rec.height > 0 else int(np.ceil(boxes[:, 3].max(initial=1.0))) + 1
            wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)            # [k, 4]
            jit = boxes + rng.normal(size=boxes.shape) * 0.02 * wh
            n_fp = int(rng.poisson(fp_rate))
            xy = rng.random((n_fp, 2)) * [W * 0.7, H * 0.7]
            fp = np.concatenate([xy, xy + (0.1 + 0.3 * rng.random((n_fp, 2))) * [W, H]], axis=1)
            fp_labels = np.where(rng.random(n_fp) < 0.4, v.person, rng.integers(0, C, n_fp))
            det = np.concatenate([jit, fp]).reshape(-1, 4)
            det[:, [0, 2]] = np.clip(det[:, [0, 2]], 0, W)
            det[:, [1, 3]] = np.clip(det[:, [1, 3]], 0, H)
            det[:, 2:] = np.maximum(det[:, 2:], det[:, :2])
            lab = np.concatenate([labels, fp_labels]).astype(np.int64)
            score = np.concatenate([rng.uniform(0.6, 1.0, k), rng.uniform(0.2, 0.6, n_fp)])
            source = np.concatenate([np.arange(k), np.full(n_fp, -1)])                  # GT instance
            humans = np.flatnonzero(lab == v.person)[:max_humans]
            others = np.flatnonzero(lab != v.person)[:max_objects]
            objs = np.concatenate([others, humans])
            hh, oo = np.meshgrid(humans, objs, indexing="ij")
            keep = hh != oo
            hh, oo = hh[keep], oo[keep]                                                 # [P]
            P = hh.size
            true = np.zeros((P, A), bool)
            inst = {tuple(b): j for j, b in enumerate(boxes.tolist())}
            for bh, bo, verb in zip(rec.boxes_h.tolist(), rec.boxes_o.tolist(), rec.verb.tolist()):
                jh, jo = inst.get(tuple(bh)), inst.get(tuple(bo))
                if jh is None or jo is None:
                    continue
                true[(source[hh] == jh) & (source[oo] == jo), verb] = True
            true &= rng.random((P, A)) >= true_drop
            s_p = np.where(true, rng.normal(3, 1.5, (P, A)), rng.normal(-3, 1.5, (P, A)))
            related = true.any(axis=1)
            s_b = np.where(related, rng.normal(2, 1, P), rng.normal(-2, 1, P))
            present = np.zeros(N, bool)
            present[rec.hoi[rec.hoi >= 0]] = True
            s_g = np.where(present, rng.normal(3, 1, N), rng.normal(-3, 1, N))
            s_clip = np.where(true, rng.normal(2, 1, (P, A)), rng.normal(0, 1, (P, A))) if clip else None
            w.append(rec.file_name, (W, H), ImageScores(
                s_g.astype(np.float32), det.astype(np.float32), score.astype(np.float32), lab,
                hh.astype(np.int64), oo.astype(np.int64), s_p.astype(np.float32),
                s_b.astype(np.float32), None if s_clip is None else s_clip.astype(np.float32)))
    return Path(out)
