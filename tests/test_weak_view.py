"""The weak view exposes image-level labels only: nothing reachable from it holds a box array or
a reference to the box-level records."""
from __future__ import annotations

import array
import collections
import functools
import gc
import types
from pathlib import Path

import numpy as np
import pytest

from weakhoi.data.hicodet import read_hicodet_instances_json
from weakhoi.data.records import HOIDataset, ImageAnnotation, WeakLabelView
from weakhoi.vocab import hicodet_vocabulary

V = hicodet_vocabulary()


def _hoi(verb: str, obj: str) -> int:
    i = V.hoi_index(V.verbs.index(verb), V.objects.index(obj))
    assert i >= 0
    return i


def _record(name, hois):
    n = len(hois)
    rng = np.random.default_rng(len(name))
    xy = rng.uniform(0, 50, (n, 2))
    boxes = np.concatenate([xy, xy + 10], axis=1)  # [n, 4]
    return ImageAnnotation(name, 100, 80, boxes, boxes + 1, np.asarray(hois, np.int64),
                           V.hoi_verb[np.asarray(hois, np.int64)], V.hoi_object[np.asarray(hois, np.int64)])


@pytest.fixture()
def small_ds() -> HOIDataset:
    recs = [
        _record("a.jpg", [_hoi("ride", "bicycle"), _hoi("hold", "cup"), _hoi("ride", "bicycle")]),
        _record("b.jpg", [_hoi("hold", "bicycle"), _hoi("hold", "cup"), _hoi("no_interaction", "person")]),
        _record("c.jpg", []),
    ]
    return HOIDataset("hicodet", "train", V, recs, image_root=Path("/nonexistent"))


_TERMINAL = (str, int, float, complex, bool, type(None), Path, np.generic, type, types.ModuleType,
             types.CodeType, types.BuiltinFunctionType)


def _walk(obj, seen, path="view"):
    """Yield (path, value) for everything reachable from ``obj``: attributes (``vars``, slots),
    containers, array bases, closures (cells), defaults, bound methods, partials and whatever
    else the interpreter says an object refers to (``gc.get_referents``); modules, classes and
    function globals are not followed."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield path, obj
    if isinstance(obj, _TERMINAL) or isinstance(obj, (bytes, bytearray, memoryview, array.array)):
        return
    if isinstance(obj, np.ndarray):
        if obj.base is not None:
            yield from _walk(obj.base, seen, f"{path}.base")
        return
    if isinstance(obj, dict):
        for k, v in list(obj.items()):
            yield from _walk(k, seen, f"{path}[{k!r}]#key")
            yield from _walk(v, seen, f"{path}[{k!r}]")
        return
    if isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
        for i, v in enumerate(list(obj)):
            yield from _walk(v, seen, f"{path}[{i}]")
        return
    if isinstance(obj, types.CellType):
        try:
            contents = obj.cell_contents
        except ValueError:          # empty cell
            return
        yield from _walk(contents, seen, f"{path}.cell_contents")
        return
    if isinstance(obj, types.FunctionType):
        for i, cell in enumerate(obj.__closure__ or ()):
            yield from _walk(cell, seen, f"{path}.__closure__[{i}]")
        for name in ("__defaults__", "__kwdefaults__", "__dict__"):
            yield from _walk(getattr(obj, name), seen, f"{path}.{name}")
        return
    if isinstance(obj, types.MethodType):
        yield from _walk(obj.__self__, seen, f"{path}.__self__")
        yield from _walk(obj.__func__, seen, f"{path}.__func__")
        return
    if isinstance(obj, functools.partial):
        for name in ("func", "args", "keywords"):
            yield from _walk(getattr(obj, name), seen, f"{path}.{name}")
        return
    try:
        attrs = dict(vars(obj))
    except TypeError:
        attrs = {}
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                attrs[slot] = getattr(obj, slot)
    for k, v in attrs.items():
        yield from _walk(v, seen, f"{path}.{k}")
    for k, ref in enumerate(gc.get_referents(obj)):
        if not isinstance(ref, (type, types.ModuleType)) and ref is not getattr(obj, "__dict__", None):
            yield from _walk(ref, seen, f"{path}<ref {k}>")


def _assert_image_level_only(view: WeakLabelView, ds: HOIDataset):
    """Nothing reachable from ``view`` is a record, the dataset, a box array, a box buffer, a
    coordinate value of a (non-integer) box corner, or the bytes of a box."""
    box_arrays = [a for r in ds for a in (r.boxes_h, r.boxes_o)]
    box_ids = {id(a) for a in box_arrays} | {id(a.base) for a in box_arrays if a.base is not None}
    coords = np.concatenate([a.reshape(-1) for a in box_arrays]) if box_arrays else np.zeros(0)
    coords = coords[np.isfinite(coords) & (coords != np.round(coords))]       # [C] telling values
    values = np.unique(np.concatenate([coords, coords.astype(np.float32).astype(np.float64)]))
    rows = [b.tobytes() for a in box_arrays for b in (a.astype(np.float64), a.astype(np.float32))
            for b in b if np.isfinite(b).all()]
    n = 0
    for path, v in _walk(view, set()):
        n += 1
        assert not isinstance(v, (ImageAnnotation, HOIDataset)), f"{path} references the dataset"
        if isinstance(v, np.ndarray):
            assert not (v.ndim >= 2 and v.shape[-1] == 4 and v.dtype.kind == "f"), f"{path} is a box array"
            assert id(v) not in box_ids and id(v.base) not in box_ids, f"{path} shares a box buffer"
        floats = None
        if isinstance(v, float):
            floats = np.array([v])
        elif isinstance(v, np.ndarray) and v.dtype.kind == "f":
            floats = v.reshape(-1).astype(np.float64)
        elif isinstance(v, array.array) and v.typecode in "fd":
            floats = np.array(v, dtype=np.float64)
        if floats is not None and floats.size:
            assert not np.isin(floats, values).any(), f"{path} holds box coordinates"
        if isinstance(v, (bytes, bytearray, memoryview, array.array)):
            raw = bytes(v)
            assert not any(r in raw for r in rows), f"{path} holds the bytes of a box"
    assert n > len(view)   # the walk did visit the labels


def test_view_has_no_boxes(small_ds):
    view = small_ds.weak_view()
    assert isinstance(view, WeakLabelView) and len(view) == 3
    _assert_image_level_only(view, small_ds)
    # the walker itself catches a planted reference (it can fail)
    view.leak = [small_ds[0]]
    with pytest.raises(AssertionError, match="references the dataset"):
        _assert_image_level_only(view, small_ds)
    view.leak = {"b": small_ds[0].boxes_h.copy()}
    with pytest.raises(AssertionError, match="box array"):
        _assert_image_level_only(view, small_ds)


@pytest.mark.parametrize("leak, message", [
    (lambda ds: [r.boxes_h.tolist() for r in ds], "box coordinates"),               # Python lists
    (lambda ds: (lambda i: ds[i].boxes_h), "references the dataset"),              # a closure
    (lambda ds: functools.partial(lambda boxes, i: boxes[i], [r.boxes_o.copy() for r in ds]),
     "box array"),                                                                 # bound copies
    (lambda ds: array.array("d", ds[0].boxes_h.reshape(-1)), "box coordinates"),   # a C array
    (lambda ds: ds[1].boxes_o.astype(np.float32).reshape(-1), "box coordinates"),  # flat float32
    (lambda ds: ds[0].boxes_h.tobytes(), "bytes of a box"),                        # raw bytes
])
def test_leak_checker_catches_boxes_however_they_are_held(small_ds, leak, message):
    """The checker can fail: boxes planted in the view as lists, in a closure, in a partial,
    as a C array, as flat float32 values or as bytes are all reported."""
    view = small_ds.weak_view()
    _assert_image_level_only(view, small_ds)
    view.leak = leak(small_ds)
    with pytest.raises(AssertionError, match=message):
        _assert_image_level_only(view, small_ds)


def test_labels_hand_computed(small_ds):
    view = small_ds.weak_view()
    a, b, c = view
    assert (a.file_name, a.width, a.height) == ("a.jpg", 100, 80)
    assert a.hois.tolist() == sorted([_hoi("ride", "bicycle"), _hoi("hold", "cup")])
    assert a.verbs.tolist() == sorted([V.verbs.index("ride"), V.verbs.index("hold")])
    assert a.objects.tolist() == sorted([V.objects.index("bicycle"), V.objects.index("cup")])
    assert b.hois.tolist() == sorted([_hoi("hold", "bicycle"), _hoi("hold", "cup"),
                                      _hoi("no_interaction", "person")])
    assert b.verbs.tolist() == sorted([V.verbs.index("hold"), V.verbs.index("no_interaction")])
    assert b.objects.tolist() == sorted([V.objects.index("bicycle"), V.objects.index("cup"), V.person])
    assert c.hois.size == 0 and c.verbs.size == 0 and c.objects.size == 0
    m = view.hoi_matrix()
    assert m.shape == (3, 600) and m.sum() == 5 and m[0, _hoi("hold", "cup")] == 1


def test_shared_dataset_view(hicodet_test_json):
    ds = read_hicodet_instances_json(hicodet_test_json)
    view = ds.weak_view()
    assert len(view) == len(ds)
    for r, lab in zip(ds, view):
        hs = sorted(set(r.hoi.tolist()))
        assert lab.hois.tolist() == hs
        assert lab.verbs.tolist() == sorted({int(V.hoi_verb[h]) for h in hs})
        assert lab.objects.tolist() == sorted({int(V.hoi_object[h]) for h in hs})
        # implied labels agree with the per-pair annotations
        assert set(lab.verbs.tolist()) == set(r.verb.tolist())
        assert set(lab.objects.tolist()) == set(r.object.tolist())
    _assert_image_level_only(view, ds)


def test_pairs_without_object_keep_their_verb():
    """V-COCO: a pair whose role object is not annotated has HOI -1; its action is still an
    image-level verb label, and it never indexes a HOI class."""
    import numpy as np

    from weakhoi.data.records import HOIDataset, ImageAnnotation
    from weakhoi.vocab import Vocabulary

    voc = Vocabulary.build("toy", ["person", "ball"], ["kick_obj", "hold_obj"], [(0, 1), (1, 1)])
    nan4 = [np.nan] * 4
    r = ImageAnnotation("x.jpg", 50, 50, np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float),
                        np.array([nan4, [20, 20, 30, 30]], float), np.array([-1, 1]), np.array([0, 1]),
                        np.array([-1, 1]))
    ds = HOIDataset("toy", "train", voc, [r])
    (lab,) = ds.weak_view()
    assert lab.hois.tolist() == [1]
    assert lab.verbs.tolist() == [0, 1]
    assert lab.objects.tolist() == [1]
    assert ds.hoi_counts().tolist() == [0, 1]
