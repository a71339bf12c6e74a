"""Tests for weakhoi.artifacts: round trips (HDF5 and Zarr), provenance, atomicity, errors."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

from weakhoi import artifacts
from weakhoi.artifacts import (
    SCHEMA_VERSIONS,
    ArtifactWriter,
    atomic_output,
    build_provenance,
    open_artifact,
)
from weakhoi.errors import ArtifactError, DataError

SUFFIXES = [".h5", ".zarr"]
PARAMS = {"score_thresh": 0.2, "max_pairs": 225, "backend": "simulated", "nested": {"b": [1, 2]}}
NAMES = ["HICO_test2015_00000001.jpg", "café_ünïcødé_画像.png", "",
         "naïve prompt: a photo of a person riding a horse"]


def _write_sample(path: Path, **writer_kw) -> dict:
    """Write a small artifact with every kind of content; return what was written."""
    rng = np.random.default_rng(0)
    lengths = [3, 0, 2, 0]                                   # images 1 and 3 are empty
    boxes = rng.random((5, 4), dtype=np.float32) * 100        # [5, 4]
    labels = np.array([4, 0, 49, 7, 7], dtype=np.int64)      # [5]
    sizes = np.array([[640, 480], [500, 375], [1, 1], [333, 444]], dtype=np.int64)
    kw = dict(artifact_type="proposals", params=PARAMS)
    kw.update(writer_kw)
    with ArtifactWriter(path, **kw) as w:
        w.write_strings("file_names", NAMES)
        w.write_strings("no_strings", [])
        w.write_array("image_sizes", sizes)
        w.write_array("scalar", np.float64(2.5))
        w.write_array("empty", np.zeros((0, 3), dtype=np.float32))
        w.write_ragged("detections", lengths, boxes=boxes, labels=labels)
    return {"lengths": lengths, "boxes": boxes, "labels": labels, "sizes": sizes}


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", SUFFIXES + [".hdf5"])
def test_round_trip_dense_strings_ragged(tmp_path, suffix):
    path = tmp_path / f"art{suffix}"
    data = _write_sample(path)
    assert _listing(tmp_path) == [path.name]                 # no temp leftovers
    with open_artifact(path, "proposals") as art:
        assert art.artifact_type == "proposals"
        assert art.schema_version == SCHEMA_VERSIONS["proposals"]
        assert art.strings("file_names") == NAMES
        assert art.strings("no_strings") == []
        sizes = art.array("image_sizes")
        assert sizes.dtype == np.int64 and np.array_equal(sizes, data["sizes"])
        assert float(art.array("scalar")) == 2.5
        empty = art.array("empty")
        assert empty.shape == (0, 3) and empty.dtype == np.float32
        assert "detections" in art and "nope" not in art

        det = art.ragged("detections")
        assert len(det) == 4
        assert det.indptr.dtype == np.int64
        assert det.indptr.tolist() == [0, 3, 3, 5, 5]        # cumsum of [3, 0, 2, 0]
        assert det.lengths.tolist() == [3, 0, 2, 0]
        assert set(det.columns) == {"boxes", "labels"}
        img0, img1, img2 = det[0], det[1], det[2]
        assert np.array_equal(img0["boxes"], data["boxes"][0:3])
        assert img0["labels"].tolist() == [4, 0, 49]
        assert img1["boxes"].shape == (0, 4) and img1["labels"].shape == (0,)
        assert np.array_equal(img2["boxes"], data["boxes"][3:5])
        assert img2["labels"].tolist() == [7, 7]
        assert det[-1]["boxes"].shape == (0, 4)
        assert img0["boxes"].dtype == np.float32
        with pytest.raises(IndexError):
            det[4]
        assert np.array_equal(det.column("boxes"), data["boxes"])
        assert det.column("labels").tolist() == [4, 0, 49, 7, 7]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_storage_is_chunked_and_compressed_along_rows(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    with ArtifactWriter(path, "pair_features", params={}) as w:
        w.write_array("feats", np.zeros((1000, 36), np.float32), chunk_rows=100)
        w.write_ragged("pairs", [500, 500], spatial=np.ones((1000, 36), np.float32))
    if suffix == ".h5":
        with h5py.File(path, "r") as f:
            assert f["feats"].chunks == (100, 36)
            assert f["feats"].compression == "gzip"
            assert f["pairs/spatial"].chunks[1:] == (36,)
            assert f["pairs/spatial"].compression == "gzip"
    else:
        g = zarr.open_group(path, mode="r")
        assert g["feats"].chunks == (100, 36)
        assert len(g["feats"].compressors) >= 1
        assert g["pairs/spatial"].chunks[1:] == (36,)
        assert len(g["pairs/spatial"].compressors) >= 1


def _random_ragged(seed: int, n: int):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 30, size=n)
    lengths[::7] = 0                                          # plenty of empty images
    total = int(lengths.sum())
    cols = {
        "human": rng.integers(0, 50, size=total).astype(np.int64),          # [P]
        "object": rng.integers(0, 50, size=total).astype(np.int64),         # [P]
        "spatial": rng.standard_normal((total, 36)).astype(np.float32),     # [P, 36]
    }
    return lengths, cols


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_appender_equals_write_ragged(tmp_path, suffix, monkeypatch):
    # Tiny chunks so that the appender flushes many times while streaming.
    monkeypatch.setattr(artifacts.layout, "_TARGET_CHUNK_BYTES", 1024)
    monkeypatch.setattr(artifacts.layout, "_FLUSH_CHUNKS", 2)
    lengths, cols = _random_ragged(1, 200)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    a, b = tmp_path / f"bulk{suffix}", tmp_path / f"stream{suffix}"
    with ArtifactWriter(a, "pair_features", params={}) as w:
        w.write_ragged("pairs", lengths, **cols)
    with ArtifactWriter(b, "pair_features", params={}) as w:
        app = w.ragged_appender("pairs", human=(np.int64, ()), object=np.int64,
                                spatial=(np.float32, (36,)))
        for i in range(len(lengths)):
            s, e = indptr[i], indptr[i + 1]
            # float64 input is cast to the declared float32
            app.append(human=cols["human"][s:e], object=cols["object"][s:e],
                       spatial=cols["spatial"][s:e].astype(np.float64))
            if i == len(lengths) // 2:
                # streaming: rows already reached storage, and the buffer is bounded
                assert app._handles["spatial"].shape[0] > 0
                buffered = sum(len(p) for p in app._buffers["spatial"])
                assert buffered < app._chunk["spatial"] * 2 + 30
        assert len(app) == len(lengths)
    with open_artifact(a, "pair_features") as ra, open_artifact(b, "pair_features") as rb:
        ga, gb = ra.ragged("pairs"), rb.ragged("pairs")
        assert np.array_equal(ga.indptr, indptr) and np.array_equal(gb.indptr, indptr)
        for col in cols:
            assert np.array_equal(ga.column(col), cols[col])
            assert np.array_equal(gb.column(col), cols[col])
            assert gb.column(col).dtype == cols[col].dtype
        # per-image access (in order, shuffled, and from an in-memory copy) matches slicing
        loaded = gb.load()
        order = list(range(len(gb))) + list(np.random.default_rng(2).permutation(len(gb)))
        for i in order:
            s, e = indptr[i], indptr[i + 1]
            got, mem = gb[int(i)], loaded[int(i)]
            for col in cols:
                assert np.array_equal(got[col], cols[col][s:e])
                assert np.array_equal(mem[col], cols[col][s:e])
        assert sum(len(img["human"]) for img in gb) == indptr[-1]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_appender_validates_rows(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    with pytest.raises(ValueError, match="spatial"):
        with ArtifactWriter(path, "pair_features", params={}) as w:
            app = w.ragged_appender("pairs", human=np.int64, spatial=(np.float32, (36,)))
            app.append(human=np.zeros(2, np.int64), spatial=np.zeros((2, 35), np.float32))
    with pytest.raises(ValueError, match="different row counts"):
        with ArtifactWriter(path, "pair_features", params={}) as w:
            app = w.ragged_appender("pairs", human=np.int64, spatial=(np.float32, (36,)))
            app.append(human=np.zeros(3, np.int64), spatial=np.zeros((2, 36), np.float32))
    with pytest.raises(ValueError, match="exactly the columns"):
        with ArtifactWriter(path, "pair_features", params={}) as w:
            app = w.ragged_appender("pairs", human=np.int64, spatial=(np.float32, (36,)))
            app.append(human=np.zeros(3, np.int64))
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_write_ragged_validates_lengths(tmp_path, suffix):
    with pytest.raises(ValueError, match="boxes"):
        with ArtifactWriter(tmp_path / f"a{suffix}", "proposals", params={}) as w:
            w.write_ragged("detections", [2, 2], boxes=np.zeros((3, 4), np.float32))
    assert _listing(tmp_path) == []


# ---------------------------------------------------------------------------- provenance


def _expected_dir_hash(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*"), key=lambda q: q.relative_to(directory).as_posix()):
        if p.is_file():
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            h.update(p.relative_to(directory).as_posix().encode() + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_provenance_attributes(tmp_path, suffix):
    in_file = tmp_path / "anno.json"
    in_file.write_bytes(b'{"images": [1, 2, 3]}\n')
    in_dir = tmp_path / "images"
    (in_dir / "sub").mkdir(parents=True)
    (in_dir / "b.png").write_bytes(b"\x89PNG fake b")
    (in_dir / "sub" / "a.png").write_bytes(b"\x89PNG fake a")
    path = tmp_path / "out" / f"proposals{suffix}"          # parent dir is created
    extra = {"backend": "simulated", "num_objects": 80, "flag": True,
             "templates": ["a photo of a person {} a {}", "é"], "thresholds": {"nms": 0.5}}
    _write_sample(path, inputs=[in_file, str(in_dir)], extra=extra)

    with open_artifact(path, "proposals") as art:
        a = art.attrs
    assert a["artifact_type"] == "proposals"
    assert a["schema_version"] == 1
    # params: decoded back to the dict; hash recomputed independently
    assert a["params"] == PARAMS
    canonical = json.dumps(PARAMS, sort_keys=True, separators=(",", ":"))
    assert a["params_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    from pipeline.params import params_hash
    assert a["params_hash"] == params_hash(PARAMS)
    # inputs
    assert a["input_hashes"] == {
        in_file.as_posix(): hashlib.sha256(in_file.read_bytes()).hexdigest(),
        in_dir.as_posix(): _expected_dir_hash(in_dir),
    }
    # versions
    assert a["weakhoi_version"] == importlib.metadata.version("weakhoi")
    libs = a["library_versions"]
    assert libs["numpy"] == np.__version__
    assert libs["h5py"] == h5py.__version__
    assert libs["zarr"] == zarr.__version__
    # nothing run-dependent: no time, no commit (they live in the run record)
    assert set(a) - set(extra) == set(artifacts.PROVENANCE_KEYS)
    # extra: scalars as is, others decoded from JSON
    assert a["backend"] == "simulated" and a["num_objects"] == 80 and a["flag"] is True
    assert a["templates"] == extra["templates"] and a["thresholds"] == {"nms": 0.5}
    assert "complete" not in a and "json_attrs" not in a


def test_directory_hash_changes_with_content_and_names(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.txt").write_text("one")
    h1 = artifacts.hash_path(d)
    (d / "x.txt").write_text("two")
    h2 = artifacts.hash_path(d)
    (d / "x.txt").rename(d / "y.txt")
    h3 = artifacts.hash_path(d)
    assert len({h1, h2, h3}) == 3


def test_provenance_rejects_bad_input_and_reserved_extra(tmp_path):
    with pytest.raises(DataError, match="missing.json"):
        build_provenance("proposals", 1, {}, inputs=[tmp_path / "missing.json"])
    with pytest.raises(ValueError, match="params_hash"):
        build_provenance("proposals", 1, {}, extra={"params_hash": "x"})
    for key in ("created_utc", "git_commit"):              # run-dependent: the run record's
        with pytest.raises(ValueError, match="run-dependent"):
            build_provenance("proposals", 1, {}, extra={key: "x"})
    with pytest.raises(ValueError, match="unknown artifact type"):
        ArtifactWriter(tmp_path / "a.h5", "no_such_type", params={})


# ---------------------------------------------------------------------------- atomicity


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_exception_leaves_nothing(tmp_path, suffix):
    path = tmp_path / f"art{suffix}"
    with pytest.raises(Boom):
        with ArtifactWriter(path, "pair_features", params={}) as w:
            w.write_strings("file_names", NAMES)
            app = w.ragged_appender("pairs", spatial=(np.float32, (36,)))
            app.append(spatial=np.ones((4, 36), np.float32))
            raise Boom("mid-write")
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_half_written_artifact_is_never_complete(tmp_path, suffix):
    """The `complete` marker is written last: a snapshot of the temp taken while the writer is
    still at work (what a kill leaves behind, copied into place) is refused as incomplete,
    with everything but the marker already in it."""
    import shutil

    path = tmp_path / f"art{suffix}"
    snap = tmp_path / "snapshot" / f"art{suffix}"
    snap.parent.mkdir()
    with ArtifactWriter(path, "pair_features", params={}) as w:
        w.write_strings("file_names", NAMES)
        app = w.ragged_appender("pairs", spatial=(np.float32, (36,)))
        app.append(spatial=np.ones((4, 36), np.float32))
        (tmp,) = [p for p in tmp_path.iterdir() if p.name.startswith(f".{path.name}.tmp-")]
        if suffix == ".h5":
            w._backend.f.flush()                   # make the on-disk file consistent to copy it
            shutil.copy(tmp, snap)
        else:
            shutil.copytree(tmp, snap)
    with pytest.raises(ArtifactError, match="incomplete"):
        open_artifact(snap, "pair_features")
    if suffix == ".h5":
        with h5py.File(snap, "r") as f:
            assert f.attrs["artifact_type"] == "pair_features" and "complete" not in f.attrs
    else:
        attrs = zarr.open_group(snap, mode="r").attrs
        assert attrs["artifact_type"] == "pair_features" and "complete" not in attrs
    with open_artifact(path, "pair_features") as art:          # the finished one is complete
        assert art.strings("file_names") == NAMES


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failed_rewrite_keeps_previous_artifact(tmp_path, suffix):
    path = tmp_path / f"art{suffix}"
    data = _write_sample(path)
    before = artifacts.hash_path(path)
    with pytest.raises(Boom):
        with ArtifactWriter(path, "proposals", params={"other": 1}) as w:
            w.write_strings("file_names", ["new.jpg"])
            raise Boom("mid-write")
    assert _listing(tmp_path) == [path.name]
    assert artifacts.hash_path(path) == before                 # not a byte changed
    with open_artifact(path, "proposals") as art:
        assert art.attrs["params"] == PARAMS
        assert art.strings("file_names") == NAMES
        assert np.array_equal(art.ragged("detections").column("boxes"), data["boxes"])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_successful_rewrite_replaces_artifact(tmp_path, suffix):
    path = tmp_path / f"art{suffix}"
    _write_sample(path)
    with ArtifactWriter(path, "proposals", params={"v": 2}) as w:
        w.write_strings("file_names", ["only.jpg"])
    assert _listing(tmp_path) == [path.name]
    with open_artifact(path, "proposals") as art:
        assert art.strings("file_names") == ["only.jpg"]
        assert art.attrs["params"] == {"v": 2}
        assert "detections" not in art                        # old content fully gone


def test_atomic_output_file_and_directory(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.bin.tmp-")
        assert not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"

    with pytest.raises(Boom):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise Boom()
    assert target.read_bytes() == b"new"
    assert _listing(tmp_path) == ["out.bin"]

    d = tmp_path / "out.d"
    for content in ("first", "second"):
        with atomic_output(d) as tmp:
            tmp.mkdir()
            (tmp / "f.txt").write_text(content)
            assert not (d / "f.txt").exists() or (d / "f.txt").read_text() == "first"
        assert (d / "f.txt").read_text() == content
    with pytest.raises(Boom):
        with atomic_output(d) as tmp:
            tmp.mkdir()
            (tmp / "f.txt").write_text("broken")
            raise Boom()
    assert (d / "f.txt").read_text() == "second"
    assert _listing(tmp_path) == ["out.bin", "out.d"]


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_artifact(tmp_path, suffix):
    path = tmp_path / f"nope{suffix}"
    with pytest.raises(ArtifactError) as e:
        open_artifact(path, "proposals")
    msg = str(e.value)
    assert str(path) in msg and "not found" in msg and "re-run the stage" in msg


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_type_and_schema_mismatch(tmp_path, suffix):
    path = tmp_path / f"art{suffix}"
    _write_sample(path, schema_version=2)
    with pytest.raises(ArtifactError) as e:
        open_artifact(path, "pair_features", schema_version=2)
    assert str(path) in str(e.value)
    assert "'pair_features'" in str(e.value) and "'proposals'" in str(e.value)
    with pytest.raises(ArtifactError) as e:
        open_artifact(path, "proposals")
    assert str(path) in str(e.value) and "found schema 2, this weakhoi reads 1" in str(e.value)
    with open_artifact(path, "proposals", schema_version=2) as art:
        assert art.schema_version == 2


def _provenance_without_marker() -> dict:
    return build_provenance("proposals", 1, {})


def test_incomplete_hdf5(tmp_path):
    path = tmp_path / "half.h5"
    with h5py.File(path, "w") as f:
        for k, v in _provenance_without_marker().items():
            f.attrs[k] = v
    with pytest.raises(ArtifactError) as e:
        open_artifact(path, "proposals")
    assert str(path) in str(e.value) and "incomplete" in str(e.value)


def test_incomplete_zarr(tmp_path):
    path = tmp_path / "half.zarr"
    g = zarr.open_group(path, mode="w", zarr_format=3)
    g.attrs.update(_provenance_without_marker())
    with pytest.raises(ArtifactError) as e:
        open_artifact(path, "proposals")
    assert str(path) in str(e.value) and "incomplete" in str(e.value)


def test_not_an_artifact(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not hdf5")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    empty_dir = tmp_path / "empty.zarr"
    empty_dir.mkdir()
    file_as_zarr = tmp_path / "file.zarr"
    file_as_zarr.write_bytes(b"x")
    for path in (garbage, plain, empty_dir, file_as_zarr, tmp_path / "weird.npy"):
        with pytest.raises(ArtifactError) as e:
            open_artifact(path, "proposals")
        assert str(path) in str(e.value)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_entry_and_misuse(tmp_path, suffix):
    path = tmp_path / f"art{suffix}"
    _write_sample(path)
    with open_artifact(path, "proposals") as art:
        with pytest.raises(ArtifactError) as e:
            art.array("scores")
        assert str(path) in str(e.value) and "'scores'" in str(e.value)
        with pytest.raises(ArtifactError, match="'pairs'"):
            art.ragged("pairs")
        with pytest.raises(ArtifactError, match="'nope'"):
            art.ragged("detections").column("nope")
    with pytest.raises(ArtifactError, match="suffix"):
        ArtifactWriter(tmp_path / "x.npz", "proposals", params={})
    w = ArtifactWriter(tmp_path / f"y{suffix}", "proposals", params={})
    with pytest.raises(RuntimeError, match="with"):
        w.write_array("a", np.zeros(2))
    with pytest.raises(ValueError, match="twice"):
        with ArtifactWriter(tmp_path / f"z{suffix}", "proposals", params={}) as w:
            w.write_array("a", np.zeros(2))
            w.write_array("a", np.zeros(2))
    with pytest.raises(TypeError, match="write_strings"):
        with ArtifactWriter(tmp_path / f"z{suffix}", "proposals", params={}) as w:
            w.write_array("names", np.array(["a", "b"]))
    assert _listing(tmp_path) == [path.name]


def test_write_json_is_atomic(tmp_path):
    p = tmp_path / "m.json"
    artifacts.write_json(p, {"a": 1})
    assert json.loads(p.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        artifacts.write_json(p, {"a": object()})      # not serialisable: old file kept
    assert json.loads(p.read_text()) == {"a": 1}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.json"]


def test_known_hashes_are_recorded_without_reading(tmp_path):
    """A caller that already hashed a (large) input passes its digest; the file is not read."""
    missing = tmp_path / "big_checkpoint.pt"            # does not even exist: never opened
    small = tmp_path / "ann.json"
    small.write_text("{}")
    prov = artifacts.build_provenance("proposals", 1, {}, inputs=[small, missing],
                                      known_hashes={str(missing): "ab" * 32})
    hashes = json.loads(prov["input_hashes"])
    assert hashes[missing.as_posix()] == "ab" * 32
    assert hashes[small.as_posix()] == hashlib.sha256(b"{}").hexdigest()
