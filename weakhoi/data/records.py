"""The one in-memory form every dataset reader produces.

* :class:`ImageAnnotation`: one image with box-level (human box, object box, HOI class) pairs.
  Boxes are continuous xyxy (see :mod:`weakhoi.boxes`). Used by evaluation and by the
  ``simulated`` detector; never by training.
* :class:`HOIDataset`: a split of a dataset: vocabulary + records + where the images live.
* :class:`WeakLabelView`: what training may see: image-level labels only. It is built by
  copying the label sets out of a dataset and holds no reference to the dataset, its records
  or any box, so weak supervision is enforced by structure.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import DataError
from ..vocab import Vocabulary


@dataclass(frozen=True, eq=False)
class ImageAnnotation:
    file_name: str
    width: int
    height: int
    boxes_h: np.ndarray            # [P, 4] float64, continuous xyxy
    boxes_o: np.ndarray            # [P, 4] float64; NaN rows where the role object is absent (V-COCO)
    hoi: np.ndarray                # [P] int64, HOI class (0-based, vocabulary order); -1 where
                                   #     the role object is absent (V-COCO)
    verb: np.ndarray               # [P] int64
    object: np.ndarray             # [P] int64 object class; -1 where absent
    image_id: int | None = None    # dataset-specific id (COCO image id for V-COCO)
    # Every annotated person/object box of the image, also those in no pair, when the source
    # lists them (SynHOI `instances`, the QPIC layout's `annotations`); None otherwise.
    instance_boxes: np.ndarray | None = None   # [E, 4] float64, continuous xyxy
    instance_labels: np.ndarray | None = None  # [E] int64 object class

    @property
    def num_pairs(self) -> int:
        return int(self.hoi.shape[0])


@dataclass(frozen=True)
class ImageLabels:
    """Image-level labels of one training image (sorted unique indices)."""

    file_name: str
    width: int
    height: int
    hois: np.ndarray               # [H] int64
    verbs: np.ndarray              # [V] int64, verbs implied by the HOI labels
    objects: np.ndarray            # [O] int64, objects implied by the HOI labels (never 'person'
                                   #            unless a HOI class has a person as its object)


class HOIDataset:
    """A split of an HOI dataset with box-level annotations."""

    def __init__(self, name: str, split: str, vocab: Vocabulary, records: Sequence[ImageAnnotation],
                 image_root: Path | str | None = None, source: Path | str | None = None):
        self.name = name
        self.split = split
        self.vocab = vocab
        self.records = tuple(records)
        self.image_root = Path(image_root) if image_root is not None else None
        self.source = Path(source) if source is not None else None
        self._index = {r.file_name: i for i, r in enumerate(self.records)}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> ImageAnnotation:
        return self.records[i]

    def __iter__(self) -> Iterator[ImageAnnotation]:
        return iter(self.records)

    def index_of(self, file_name: str) -> int:
        """Index of the record named ``file_name``; DataError if there is none."""
        try:
            return self._index[file_name]
        except KeyError:
            raise DataError(f"{self.source or self.name}: no image named {file_name!r}") from None

    @property
    def file_names(self) -> list[str]:
        return [r.file_name for r in self.records]

    @property
    def image_sizes(self) -> np.ndarray:
        """[num_images, 2] int64 (width, height)."""
        return np.array([(r.width, r.height) for r in self.records], dtype=np.int64).reshape(-1, 2)

    def image_path(self, i: int) -> Path:
        """Path of image ``i``; DataError naming the file if it is missing."""
        if self.image_root is None:
            raise DataError(f"{self.name}/{self.split}: no image root configured")
        p = self.image_root / self.records[i].file_name
        if not p.is_file():
            raise DataError(f"missing image {p} (entry {i} of {self.source or self.name})")
        return p

    def hoi_counts(self) -> np.ndarray:
        """[N] number of annotated pairs per HOI class."""
        allh = np.concatenate([r.hoi for r in self.records]) if self.records else np.zeros(0, np.int64)
        return np.bincount(allh[allh >= 0], minlength=self.vocab.num_hois)

    def weak_view(self) -> "WeakLabelView":
        return WeakLabelView.from_dataset(self)


class WeakLabelView:
    """Image-level labels only: the training side of weak supervision."""

    def __init__(self, name: str, split: str, vocab: Vocabulary, labels: Sequence[ImageLabels],
                 image_root: Path | None):
        self.name = name
        self.split = split
        self.vocab = vocab
        self.image_root = image_root
        self._labels = tuple(labels)

    @classmethod
    def from_dataset(cls, ds: HOIDataset) -> "WeakLabelView":
        v = ds.vocab
        labels = []
        for r in ds.records:
            hois = np.unique(r.hoi[r.hoi >= 0]).astype(np.int64)    # -1: V-COCO pair without object
            verbs = np.unique(np.concatenate([v.hoi_verb[hois], r.verb])).astype(np.int64)
            labels.append(ImageLabels(r.file_name, r.width, r.height, hois, verbs,
                                      np.unique(v.hoi_object[hois]).astype(np.int64)))
        return cls(ds.name, ds.split, v, labels, ds.image_root)

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i: int) -> ImageLabels:
        return self._labels[i]

    def __iter__(self) -> Iterator[ImageLabels]:
        return iter(self._labels)

    def image_path(self, i: int) -> Path:
        if self.image_root is None:
            raise DataError(f"{self.name}/{self.split}: no image root configured")
        p = self.image_root / self._labels[i].file_name
        if not p.is_file():
            raise DataError(f"missing image {p} (entry {i} of {self.name}/{self.split})")
        return p

    def hoi_matrix(self) -> np.ndarray:
        """[num_images, N] float32 multi-hot HOI labels."""
        m = np.zeros((len(self), self.vocab.num_hois), dtype=np.float32)
        for i, l in enumerate(self._labels):
            m[i, l.hois] = 1.0
        return m
