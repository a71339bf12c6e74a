"""The weakly-supervised training set: image-level labels + candidate pairs, nothing else.

:class:`WeakTrainingSet` is built from a :class:`~weakhoi.data.records.WeakLabelView` (which
holds label sets only, no boxes and no reference to the annotation records) and the
detector's candidate pairs (:class:`~weakhoi.data.pairs.PairImages`); so the training path
cannot reach a box annotation by construction.

Samples are addressed by ``(epoch, index)``; the augmentation of a sample (horizontal flip) is
drawn from a generator seeded by ``(seed, epoch, index)`` (:func:`sample_rng`), never from
global RNG state, so a sample is the same whichever DataLoader worker loads it and whether a run
was resumed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .pairs import PairImages
from .records import WeakLabelView

_FLIP_STREAM = 1


def sample_rng(seed: int, epoch: int, index: int, stream: int = _FLIP_STREAM) -> np.random.Generator:
    """Generator of one sample's augmentation, a pure function of (seed, epoch, index, stream)."""
    return np.random.default_rng([int(seed), int(epoch), int(index), int(stream)])


class WeakTrainingSet:
    """``ds[(epoch, index)]`` -> network sample of image ``index`` plus its targets.

    Targets (float32 multi-hot): ``hoi`` [N] image HOI labels, ``verb`` [A] verbs, and
    ``object_labels`` [C] objects implied by the HOI labels.

    Args:
        labels: the split's weak view (``HOIDataset.weak_view()``).
        images: the split's :class:`PairImages` (same images, same order).
        flip: horizontal flip with probability 0.5 per sample.
        seed: seed of the per-sample augmentation.
    """

    def __init__(self, labels: WeakLabelView, images: PairImages, flip: bool = True,
                 seed: int = 0) -> None:
        if not isinstance(labels, WeakLabelView):
            raise TypeError(f"WeakTrainingSet takes a WeakLabelView (image-level labels only), "
                            f"got {type(labels).__name__}")
        names = [lab.file_name for lab in labels]
        theirs = [p.file_name for p in images.pairs]
        if names != theirs:
            diff = next((i for i, (a, b) in enumerate(zip(names, theirs)) if a != b),
                        min(len(names), len(theirs)))
            raise DataError(f"training labels and proposals disagree at image {diff} "
                            f"({len(names)} labelled images, {len(theirs)} in the proposals): "
                            f"re-run `detect` and `spatial` for this split")
        v = labels.vocab
        n = len(names)
        self.hoi = np.zeros((n, v.num_hois), np.float32)                       # [n, N]
        self.verb = np.zeros((n, v.num_verbs), np.float32)                     # [n, A]
        self.object = np.zeros((n, v.num_objects), np.float32)                 # [n, C]
        for i, lab in enumerate(labels):
            self.hoi[i, lab.hois] = 1.0
            self.verb[i, lab.verbs] = 1.0
            self.object[i, lab.objects] = 1.0
        self.images = images
        self.flip = bool(flip)
        self.seed = int(seed)
        self.num_hois, self.num_verbs, self.num_objects = v.num_hois, v.num_verbs, v.num_objects

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        flip = self.flip and bool(sample_rng(self.seed, epoch, index).random() < 0.5)
        s = self.images.sample(int(index), flip=flip)
        s["hoi"] = torch.from_numpy(self.hoi[index])
        s["verb"] = torch.from_numpy(self.verb[index])
        s["object_labels"] = torch.from_numpy(self.object[index])
        return s
