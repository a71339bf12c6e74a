"""The ``hoi_scores`` artifact: the raw, model-dependent score components of every test image,
written by the ``infer`` stage and read by ``evaluate`` / ``export`` (score fusion,
:mod:`weakhoi.fusion`, happens after it, so gamma and the fusion switches never re-run the model).

Layout (HDF5 ``.h5`` or Zarr ``.zarr`` through :mod:`weakhoi.artifacts`; one artifact per split)::

    file_names    [n]        strings, dataset order (identical to the proposals artifact)
    image_sizes   [n, 2]     int64 (width, height)
    s_g           [n, N]     float32 global HOI logits (pre-sigmoid)
    hoi_verb      [N]        int64 verb of each HOI class   } the vocabulary's class table, so a
    hoi_object    [N]        int64 object of each HOI class } reader can check it is the same one
    detections/   ragged: boxes [R, 4] float32 (continuous xyxy, original image pixels),
                          scores [R] float32 (detector score in [0, 1]),
                          labels [R] int64 (dataset object index)
    pairs/        ragged: human [P] int64, object [P] int64 (row indices into the same image's
                          detections), s_p [P, A] float32 (verb logits), s_b [P] float32
                          (relatedness logit), and, when ``has_clip_scores``, s_clip [P, A]
                          float32 (zero-shot CLIP logits of the union region against the prompt
                          of HOI class (verb a, the pair's object class); NaN where (a, object)
                          is not an HOI class)

Root attributes besides the provenance: ``num_hois`` N, ``num_verbs`` A, ``num_objects`` C,
``dataset`` (kind: hicodet / synhoi / vcoco), ``vocabulary`` (vocabulary name),
``person_label`` and ``has_clip_scores``.

Writing streams one image at a time::

    with HOIScoresWriter(out, params, vocab, "synhoi", inputs=[...]) as w:
        for name, size, ... in images:
            w.append(name, size, ImageScores(s_g, boxes, det_scores, labels, human, object,
                                             s_p, s_b))

Reading loads everything into memory (``read_hoi_scores(path)``; a HICO-DET test split is a few
hundred MB at most): ``len(scores)``, ``scores.image(i) -> ImageScores``, and the flat arrays for
vectorised use. Both sides validate: the writer raises ValueError (shapes, indices) or DataError
(non-finite values, detector scores outside [0, 1]) naming the image; the reader raises
ArtifactError naming the file and the image.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ArtifactError, DataError
from .vocab import Vocabulary

ARTIFACT_TYPE = "hoi_scores"


@dataclass(frozen=True, eq=False)
class ImageScores:
    """Raw score components of one image (numpy arrays or CPU tensors on input)."""

    s_g: np.ndarray            # [N] float32 global HOI logits
    boxes: np.ndarray          # [R, 4] float32 continuous xyxy, original image pixels
    det_scores: np.ndarray     # [R] float32 detector scores in [0, 1]
    labels: np.ndarray         # [R] int64 dataset object index
    human: np.ndarray          # [P] int64 row into boxes
    object: np.ndarray         # [P] int64 row into boxes
    s_p: np.ndarray            # [P, A] float32 verb logits
    s_b: np.ndarray            # [P] float32 relatedness logit
    s_clip: np.ndarray | None = None   # [P, A] float32 zero-shot CLIP logits (NaN: no class)

    @property
    def num_pairs(self) -> int:
        return int(np.shape(self.human)[0])

    @property
    def num_detections(self) -> int:
        return int(np.shape(self.det_scores)[0])


class _Invalid(Exception):
    """A validation failure: ``image`` (index into the checked images, None when not tied to
    one) and whether it is a shape/index problem (ValueError on write) or a value problem
    (DataError on write)."""

    def __init__(self, image: int | None, message: str, value: bool) -> None:
        super().__init__(message)
        self.image, self.message, self.value = image, message, value


def _first_image(indptr: np.ndarray, bad_rows: np.ndarray) -> int:
    """Image holding the first flagged row of a ragged column."""
    row = int(np.flatnonzero(bad_rows)[0])
    return int(np.searchsorted(indptr, row, side="right") - 1)


def _validate(num_hois: int, s_g: np.ndarray, det_indptr: np.ndarray, boxes: np.ndarray,
              det_scores: np.ndarray, labels: np.ndarray, pair_indptr: np.ndarray,
              human: np.ndarray, obj: np.ndarray, s_p: np.ndarray, s_b: np.ndarray,
              s_clip: np.ndarray | None, table: np.ndarray) -> None:
    """Check n images given as flat arrays + CSR offsets [n + 1] (vectorised; the writer passes
    one image). ``table`` is the [A, C] verb-object -> HOI table. Raises :class:`_Invalid`."""
    A, C = table.shape
    n = len(det_indptr) - 1
    R, P = int(det_indptr[-1]), int(pair_indptr[-1])
    shapes = [("s_g", s_g, (n, num_hois)), ("boxes", boxes, (R, 4)), ("det_scores", det_scores, (R,)),
              ("labels", labels, (R,)), ("human", human, (P,)), ("object", obj, (P,)),
              ("s_p", s_p, (P, A)), ("s_b", s_b, (P,))]
    if s_clip is not None:
        shapes.append(("s_clip", s_clip, (P, A)))
    for name, a, want in shapes:
        if a.shape != want:
            raise _Invalid(0 if n == 1 else None,
                           f"{name} has shape {list(a.shape)}, expected {list(want)}", False)
    for name, a in (("labels", labels), ("human", human), ("object", obj)):
        if a.size and a.dtype.kind not in "iu":
            raise _Invalid(0 if n == 1 else None, f"{name} must be integers, got {a.dtype}", False)
    bad = (labels < 0) | (labels >= C)
    if bad.any():
        raise _Invalid(_first_image(det_indptr, bad), f"detection label outside 0..{C - 1}", False)
    pair_image = np.repeat(np.arange(n), np.diff(pair_indptr))                      # [P]
    n_det = np.diff(det_indptr)[pair_image]                                         # [P]
    for name, a in (("human", human), ("object", obj)):
        bad = (a < 0) | (a >= n_det)
        if bad.any():
            k = _first_image(pair_indptr, bad)
            raise _Invalid(k, f"pair {name} index outside the image's "
                              f"{int(np.diff(det_indptr)[k])} detections", False)
    bad = ~np.isfinite(s_g).all(axis=1)
    if bad.any():
        raise _Invalid(int(np.flatnonzero(bad)[0]), "s_g is not finite", True)
    bad = ~np.isfinite(boxes).all(axis=1)
    what = "detection box is not finite"
    if not bad.any():
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        what = "detection box with x2 < x1 or y2 < y1"
    if bad.any():
        raise _Invalid(_first_image(det_indptr, bad), what, True)
    bad = ~((det_scores >= 0) & (det_scores <= 1))
    if bad.any():
        raise _Invalid(_first_image(det_indptr, bad), "detector score outside [0, 1]", True)
    for name, a in (("s_p", s_p), ("s_b", s_b.reshape(P, 1))):
        bad = ~np.isfinite(a).all(axis=1)
        if bad.any():
            raise _Invalid(_first_image(pair_indptr, bad), f"{name} is not finite", True)
    if s_clip is not None and P:
        valid = table[:, labels[det_indptr[pair_image] + obj]].T >= 0   # [P, A]
        bad = (valid & ~np.isfinite(s_clip)).any(axis=1)
        if bad.any():
            raise _Invalid(_first_image(pair_indptr, bad),
                           "s_clip is not finite for a valid HOI class of the pair", True)


def _class_table(hoi_verb: np.ndarray, hoi_object: np.ndarray, num_verbs: int,
                 num_objects: int) -> np.ndarray:
    """[A, C] int64 HOI class of (verb, object), -1 where invalid."""
    table = np.full((num_verbs, num_objects), -1, dtype=np.int64)
    table[hoi_verb, hoi_object] = np.arange(len(hoi_verb))
    return table


class HOIScoresWriter:
    """Streams a ``hoi_scores`` artifact one image at a time (context manager; atomic: nothing is
    left at ``path`` unless the ``with`` block completes).

    ``vocab`` gives N, A, C and the class table; ``dataset`` is the dataset kind recorded in the
    attributes; ``has_clip`` declares whether every image carries ``s_clip``. ``params``,
    ``inputs``, ``extra`` and ``known_hashes`` go to the provenance (see
    :class:`weakhoi.artifacts.ArtifactWriter`). ``file_names``, ``image_sizes`` and ``s_g`` are
    buffered (n x N float32) and written on a clean exit; the ragged groups stream.
    Where (verb, object) is not an HOI class, ``s_clip`` is stored as NaN whatever was given.
    """

    def __init__(self, path: Path | str, params: Mapping[str, Any], vocab: Vocabulary,
                 dataset: str, inputs: Sequence[Path | str] = (),
                 extra: Mapping[str, Any] | None = None, has_clip: bool = False,
                 known_hashes: Mapping[str, str] | None = None) -> None:
        from .artifacts import ArtifactWriter

        self.path = Path(path)
        self.vocab = vocab
        self.has_clip = bool(has_clip)
        self._table = vocab.verb_object_to_hoi()          # [A, C]
        attrs = {"num_hois": vocab.num_hois, "num_verbs": vocab.num_verbs,
                 "num_objects": vocab.num_objects, "dataset": str(dataset),
                 "vocabulary": vocab.name, "person_label": int(vocab.person),
                 "has_clip_scores": self.has_clip}
        clash = sorted(set(attrs) & set(extra or {}))
        if clash:
            raise ValueError(f"hoi_scores: extra attribute(s) {clash} are set by the writer")
        self._writer = ArtifactWriter(self.path, ARTIFACT_TYPE, params, inputs=inputs,
                                      extra={**attrs, **(extra or {})}, known_hashes=known_hashes)
        self._names: list[str] = []
        self._seen: set[str] = set()
        self._sizes: list[tuple[int, int]] = []
        self._s_g: list[np.ndarray] = []
        self._det = self._pairs = None

    def __enter__(self) -> "HOIScoresWriter":
        self._writer.__enter__()
        try:
            A = self.vocab.num_verbs
            self._det = self._writer.ragged_appender(
                "detections", boxes=(np.float32, (4,)), scores=np.float32, labels=np.int64)
            cols: dict[str, Any] = dict(human=np.int64, object=np.int64, s_p=(np.float32, (A,)),
                                        s_b=np.float32)
            if self.has_clip:
                cols["s_clip"] = (np.float32, (A,))
            self._pairs = self._writer.ragged_appender("pairs", **cols)
        except BaseException as e:
            self._writer.__exit__(type(e), e, e.__traceback__)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                v = self.vocab
                self._writer.write_strings("file_names", self._names)
                self._writer.write_array("image_sizes", np.asarray(self._sizes, np.int64).reshape(-1, 2))
                s_g = (np.stack(self._s_g) if self._s_g
                       else np.zeros((0, v.num_hois), np.float32))          # [n, N]
                self._writer.write_array("s_g", s_g)
                self._writer.write_array("hoi_verb", np.asarray(v.hoi_verb, np.int64))
                self._writer.write_array("hoi_object", np.asarray(v.hoi_object, np.int64))
            except BaseException as e:
                self._writer.__exit__(type(e), e, e.__traceback__)
                raise
        return self._writer.__exit__(exc_type, exc, tb)

    def __len__(self) -> int:
        return len(self._names)

    def append(self, file_name: str, image_size: Sequence[int], scores: ImageScores) -> None:
        """Add the next image (dataset order). ValueError / DataError naming the image."""
        if self._det is None:
            raise RuntimeError("HOIScoresWriter must be used inside a `with` block")
        where = f"{self.path}: image {len(self._names)} ({file_name})"
        if not isinstance(file_name, str) or not file_name:
            raise ValueError(f"{where}: file_name must be a non-empty string")
        if file_name in self._seen:
            raise ValueError(f"{where}: file_name appended twice")
        size = np.asarray(image_size).reshape(-1)
        if size.shape != (2,) or size.dtype.kind not in "iu" or (size <= 0).any():
            raise ValueError(f"{where}: image_size must be two positive integers (w, h), got "
                             f"{list(np.asarray(image_size).reshape(-1))}")
        s = scores
        a = {k: np.asarray(getattr(s, k)) for k in
             ("s_g", "boxes", "det_scores", "labels", "human", "object", "s_p", "s_b")}
        with np.errstate(over="ignore"):      # checked as stored: overflow -> inf -> DataError
            for k in ("s_g", "boxes", "det_scores", "s_p", "s_b"):
                a[k] = a[k].astype(np.float32)
        if a["boxes"].size == 0:
            a["boxes"] = a["boxes"].reshape(0, 4)
        if a["s_p"].size == 0:
            a["s_p"] = a["s_p"].reshape(0, self.vocab.num_verbs)
        clip = None
        if self.has_clip != (s.s_clip is not None):
            raise ValueError(f"{where}: s_clip {'missing' if self.has_clip else 'given'}, but the "
                             f"writer was created with has_clip={self.has_clip}")
        if s.s_clip is not None:
            with np.errstate(over="ignore"):
                clip = np.asarray(s.s_clip).astype(np.float32)
            if clip.size == 0:
                clip = clip.reshape(0, self.vocab.num_verbs)
        R = a["det_scores"].shape[0] if a["det_scores"].ndim == 1 else 0
        P = a["human"].shape[0] if a["human"].ndim == 1 else 0
        try:
            if a["s_g"].shape != (self.vocab.num_hois,):
                raise _Invalid(0, f"s_g has shape {list(a['s_g'].shape)}, expected "
                                  f"[{self.vocab.num_hois}]", False)
            _validate(self.vocab.num_hois, a["s_g"][None], np.array([0, R]), a["boxes"],
                      a["det_scores"], a["labels"], np.array([0, P]), a["human"], a["object"],
                      a["s_p"], a["s_b"], clip, self._table)
        except _Invalid as e:
            raise (DataError if e.value else ValueError)(f"{where}: {e.message}") from None
        if clip is not None and P > 0:
            valid = self._table[:, a["labels"][a["object"]]].T >= 0       # [P, A]
            clip = np.where(valid, clip, np.float32(np.nan)).astype(np.float32)
        self._det.append(boxes=a["boxes"], scores=a["det_scores"], labels=a["labels"].astype(np.int64))
        cols = dict(human=a["human"].astype(np.int64), object=a["object"].astype(np.int64),
                    s_p=a["s_p"], s_b=a["s_b"])
        if clip is not None:
            cols["s_clip"] = clip
        self._pairs.append(**cols)
        self._names.append(file_name)
        self._seen.add(file_name)
        self._sizes.append((int(size[0]), int(size[1])))
        self._s_g.append(a["s_g"])


@dataclass(frozen=True, eq=False)
class HOIScores:
    """A whole ``hoi_scores`` artifact in memory (see the module docstring); flat CSR arrays."""

    path: Path
    attrs: dict
    file_names: list[str]           # [n]
    image_sizes: np.ndarray         # [n, 2] int64 (w, h)
    s_g: np.ndarray                 # [n, N] float32
    hoi_verb: np.ndarray            # [N] int64
    hoi_object: np.ndarray          # [N] int64
    det_indptr: np.ndarray          # [n + 1] int64
    boxes: np.ndarray               # [R, 4] float32
    det_scores: np.ndarray          # [R] float32
    labels: np.ndarray              # [R] int64
    pair_indptr: np.ndarray         # [n + 1] int64
    human: np.ndarray               # [P] int64, row within the image's detections
    object: np.ndarray              # [P] int64
    s_p: np.ndarray                 # [P, A] float32
    s_b: np.ndarray                 # [P] float32
    s_clip: np.ndarray | None       # [P, A] float32 or None

    def __len__(self) -> int:
        return len(self.file_names)

    @property
    def num_hois(self) -> int:
        return int(self.s_g.shape[1])

    @property
    def num_verbs(self) -> int:
        return int(self.attrs["num_verbs"])

    @property
    def num_objects(self) -> int:
        return int(self.attrs["num_objects"])

    @property
    def has_clip(self) -> bool:
        return self.s_clip is not None

    @property
    def num_pairs(self) -> int:
        return int(self.pair_indptr[-1])

    def verb_object_to_hoi(self) -> np.ndarray:
        """[A, C] int64 HOI class of (verb, object) as stored, -1 where invalid."""
        return _class_table(self.hoi_verb, self.hoi_object, self.num_verbs, self.num_objects)

    def pair_image(self) -> np.ndarray:
        """[P] int64 image index of every pair."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.pair_indptr))

    def pair_detections(self) -> tuple[np.ndarray, np.ndarray]:
        """([P], [P]) int64 global rows (into ``boxes``) of every pair's human and object."""
        base = self.det_indptr[self.pair_image()]
        return base + self.human, base + self.object

    def image(self, i: int) -> ImageScores:
        """Score components of image ``i`` (copies)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.path}: image {i} out of range ({n} images)")
        i %= n
        d0, d1 = int(self.det_indptr[i]), int(self.det_indptr[i + 1])
        p0, p1 = int(self.pair_indptr[i]), int(self.pair_indptr[i + 1])
        return ImageScores(self.s_g[i].copy(), self.boxes[d0:d1].copy(), self.det_scores[d0:d1].copy(),
                           self.labels[d0:d1].copy(), self.human[p0:p1].copy(), self.object[p0:p1].copy(),
                           self.s_p[p0:p1].copy(), self.s_b[p0:p1].copy(),
                           None if self.s_clip is None else self.s_clip[p0:p1].copy())


def _int_attr(attrs: Mapping[str, Any], key: str, path: Path) -> int:
    v = attrs.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ArtifactError(f"{path}: hoi_scores attribute {key!r} missing or not a count ({v!r})")
    return int(v)


def read_hoi_scores(path: Path | str) -> HOIScores:
    """Read and validate a whole ``hoi_scores`` artifact (ArtifactError naming the file and,
    for per-image problems, the image)."""
    from .artifacts import open_artifact

    path = Path(path)
    with open_artifact(path, ARTIFACT_TYPE) as art:
        attrs = dict(art.attrs)
        N, A, C = (_int_attr(attrs, k, path) for k in ("num_hois", "num_verbs", "num_objects"))
        has_clip = attrs.get("has_clip_scores")
        if not isinstance(has_clip, (bool, np.bool_)):
            raise ArtifactError(f"{path}: hoi_scores attribute 'has_clip_scores' missing")
        names = art.strings("file_names")
        sizes = np.asarray(art.array("image_sizes"), dtype=np.int64)
        s_g = np.asarray(art.array("s_g"), dtype=np.float32)
        hoi_verb = np.asarray(art.array("hoi_verb"), dtype=np.int64).reshape(-1)
        hoi_object = np.asarray(art.array("hoi_object"), dtype=np.int64).reshape(-1)
        det = art.ragged("detections")
        pairs = art.ragged("pairs")
        want = {"boxes", "scores", "labels"}
        if set(det.columns) != want:
            raise ArtifactError(f"{path}: 'detections' has columns {sorted(det.columns)}, expected {sorted(want)}")
        want = {"human", "object", "s_p", "s_b"} | ({"s_clip"} if has_clip else set())
        if set(pairs.columns) != want:
            raise ArtifactError(f"{path}: 'pairs' has columns {sorted(pairs.columns)}, expected {sorted(want)}")
        cols = {c: pairs.column(c) for c in pairs.columns}
        dcols = {c: det.column(c) for c in det.columns}
        n = len(names)
        if sizes.shape != (n, 2) or len(det) != n or len(pairs) != n or s_g.shape != (n, N):
            raise ArtifactError(f"{path}: file_names ({n}), image_sizes {list(sizes.shape)}, s_g "
                                f"{list(s_g.shape)}, detections ({len(det)}) and pairs ({len(pairs)}) "
                                f"disagree (N = {N})")
        if hoi_verb.shape != (N,) or hoi_object.shape != (N,) or (N and (
                hoi_verb.min() < 0 or hoi_verb.max() >= A or hoi_object.min() < 0 or hoi_object.max() >= C)):
            raise ArtifactError(f"{path}: hoi_verb/hoi_object do not describe {N} classes over "
                                f"{A} verbs x {C} objects")
        bad = np.flatnonzero((sizes <= 0).any(axis=1))
        if bad.size:
            raise ArtifactError(f"{path}: image {int(bad[0])} ({names[int(bad[0])]}): image size is not positive")
        table = _class_table(hoi_verb, hoi_object, A, C)
        try:
            _validate(N, s_g, det.indptr, dcols["boxes"], dcols["scores"], dcols["labels"], pairs.indptr,
                      cols["human"], cols["object"], cols["s_p"], cols["s_b"], cols.get("s_clip"), table)
        except _Invalid as e:
            where = f"image {e.image} ({names[e.image]}): " if e.image is not None else ""
            raise ArtifactError(f"{path}: {where}{e.message}") from None
        return HOIScores(path, attrs, names, sizes, s_g, hoi_verb, hoi_object, det.indptr,
                         dcols["boxes"].astype(np.float32), dcols["scores"].astype(np.float32),
                         dcols["labels"].astype(np.int64), pairs.indptr, cols["human"].astype(np.int64),
                         cols["object"].astype(np.int64), cols["s_p"].astype(np.float32),
                         cols["s_b"].astype(np.float32),
                         cols["s_clip"].astype(np.float32) if has_clip else None)
