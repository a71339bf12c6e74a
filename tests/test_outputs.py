"""What may be at an output path: weakhoi replaces its own outputs of the same kind and refuses
everything else (a directory where a file belongs, a file where a directory belongs, another
artifact type, a foreign file or directory, one of the command's inputs), before any work and
without touching it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli import app
from weakhoi import artifacts
from weakhoi.artifacts import ArtifactWriter, atomic_output, open_artifact, write_json
from weakhoi.errors import OutputError

ROOT = Path(__file__).resolve().parents[1]


def _tree(path: Path) -> dict[str, bytes]:
    """Every file below ``path`` (or the file itself) with its bytes."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _user_dir(path: Path) -> dict[str, bytes]:
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("my notes")
    (path / "sub" / "results.json").write_text('{"mine": 1}')
    return _tree(path)


def _artifact(path: Path, kind: str = "proposals") -> None:
    with ArtifactWriter(path, kind, params={}) as w:
        w.write_array("x", np.arange(3))


@pytest.fixture(scope="module")
def tiny_synhoi(tmp_path_factory) -> Path:
    from weakhoi.data.synhoi import SynHOIConfig, generate

    data = tmp_path_factory.mktemp("outputs") / "synhoi"
    generate(SynHOIConfig(seed=0, num_train=2, num_test=2), data)
    return data


def test_evaluate_output_directory_is_refused_and_kept(tiny_synhoi, tmp_path):
    """Issue 7 item 1: `evaluate hicodet --output DIR` with a non-empty DIR used to delete DIR
    and exit 0. Now: exit 2, one `error:` line naming DIR, every file of DIR intact."""
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps({"images": []}))
    out = tmp_path / "results"
    before = _user_dir(out)
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "evaluate", "hicodet", "--dataset",
                        "synhoi", "--annotations", str(tiny_synhoi / "instances_test.json"),
                        "--detections", str(dets), "--output", str(out)],
                       capture_output=True, text=True, cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert str(out) in r.stderr and "directory" in r.stderr
    assert _tree(out) == before                                  # nothing deleted or changed


def test_evaluate_replaces_its_json_but_never_an_input(tiny_synhoi, tmp_path):
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps({"images": []}))
    args = ["evaluate", "hicodet", "--dataset", "synhoi", "--annotations",
            str(tiny_synhoi / "instances_test.json"), "--detections", str(dets), "--output"]
    out = tmp_path / "metrics.json"
    out.write_text('{"full": 0}')                               # an earlier run's metrics
    res = CliRunner().invoke(app, [*args, str(out)])
    assert res.exit_code == 0, res.output
    assert "per_class_ap" in json.loads(out.read_text())
    res = CliRunner().invoke(app, [*args, str(dets)])
    assert isinstance(res.exception, OutputError) and "input" in str(res.exception)
    assert json.loads(dets.read_text()) == {"images": []}


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_artifact_replaces_only_an_artifact_of_its_type(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    _artifact(path, "proposals")
    _artifact(path, "proposals")                               # same type: replaced
    with open_artifact(path, "proposals") as art:
        assert art.array("x").tolist() == [0, 1, 2]
    before = _tree(path)
    with pytest.raises(OutputError, match=r"'proposals' artifact") as e:
        ArtifactWriter(path, "pair_features", params={})       # another type: refused at once
    assert str(path) in str(e.value)
    assert _tree(path) == before


def test_what_a_file_output_refuses(tmp_path):
    """A directory where a file belongs (even an empty one), a foreign HDF5 file, a PNG where
    JSON belongs: refused, untouched, no temp left."""
    d = tmp_path / "m.json"
    before = _user_dir(d)
    for target in (d, tmp_path / "empty.json"):
        target.mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="directory") as e:
            write_json(target, {"a": 1})
        assert str(target) in str(e.value)
    assert _tree(d) == before and (tmp_path / "empty.json").is_dir()
    foreign = tmp_path / "x.h5"
    with h5py.File(foreign, "w") as f:
        f["mine"] = np.arange(4)
    with pytest.raises(OutputError, match="not a weakhoi artifact"):
        _artifact(foreign)
    with h5py.File(foreign, "r") as f:
        assert f["mine"][...].tolist() == [0, 1, 2, 3]
    png = tmp_path / "p.json"
    Image.new("RGB", (2, 2)).save(png, format="PNG")
    with pytest.raises(OutputError, match="PNG"):
        write_json(png, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.json", "m.json", "p.json", "x.h5"]


def test_what_a_directory_output_refuses(tmp_path):
    """A file where a directory belongs, a directory weakhoi did not write (Zarr or not), a
    weakhoi directory of another name: refused; an empty directory and an own directory are
    replaced."""
    kind = artifacts.directory_kind("predictions")

    def write_dir(path: Path, content: str) -> None:
        with atomic_output(path, kind) as tmp:
            tmp.mkdir()
            (tmp / "scores.txt").write_text(content)

    f = tmp_path / "out"
    f.write_text("a file")
    with pytest.raises(OutputError, match="a text file"):
        write_dir(f, "x")
    assert f.read_text() == "a file"
    user = tmp_path / "user"
    before = _user_dir(user)
    with pytest.raises(OutputError, match="did not write"):
        write_dir(user, "x")
    assert _tree(user) == before
    other = tmp_path / "other"
    with atomic_output(other, artifacts.directory_kind("synhoi")) as tmp:
        tmp.mkdir()
    with pytest.raises(OutputError, match="'synhoi' output directory"):
        write_dir(other, "x")
    empty = tmp_path / "empty"
    empty.mkdir()
    write_dir(empty, "first")                                  # an empty directory: replaced
    assert artifacts.describe(empty) == kind and (empty / artifacts.OUTPUT_MARKER).is_file()
    write_dir(empty, "second")                                 # our own: replaced
    assert (empty / "scores.txt").read_text() == "second"
    nested = tmp_path / "nested"                   # only empty directories (what DVC leaves of the
    (nested / "plots" / "metrics").mkdir(parents=True)   # outputs it removes): empty, replaced
    assert artifacts.describe(nested) == "dir:empty"
    write_dir(nested, "third")
    assert sorted(p.name for p in nested.iterdir()) == [artifacts.OUTPUT_MARKER, "scores.txt"]
    (tmp_path / "held" / "sub").mkdir(parents=True)        # a file anywhere in the tree: foreign
    (tmp_path / "held" / "sub" / "x.txt").write_text("mine")
    with pytest.raises(OutputError, match="did not write"):
        write_dir(tmp_path / "held", "x")
    assert (tmp_path / "held" / "sub" / "x.txt").read_text() == "mine"
    zarr_dir = tmp_path / "z.zarr"
    zarr_dir.mkdir()
    (zarr_dir / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    with pytest.raises(OutputError, match="did not write"):
        _artifact(zarr_dir, "pair_features")


def test_kind_is_checked_again_when_the_output_is_finished(tmp_path):
    """Something that appears at the path while the writer works is not replaced either."""
    out = tmp_path / "m.json"
    with pytest.raises(OutputError, match="directory"):
        with atomic_output(out, artifacts.JSON_KIND) as tmp:
            tmp.write_text("{}")
            out.mkdir()
            (out / "precious.txt").write_text("x")
    assert (out / "precious.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_viz_never_writes_into_its_images(tiny_synhoi, tmp_path):
    data = tiny_synhoi
    victim = data / "images" / "test" / "synhoi_test_000000.png"
    before = victim.read_bytes()
    res = CliRunner().invoke(app, ["viz", "dataset", "--annotations", str(data / "instances_test.json"),
                                   "--images", str(data / "images" / "test"), "--out", str(victim)])
    assert isinstance(res.exception, OutputError) and "input" in str(res.exception)
    assert victim.read_bytes() == before
    sheet = tmp_path / "sheet.png"
    for _ in range(2):                                          # a previous sheet is replaced
        res = CliRunner().invoke(app, ["viz", "dataset", "--annotations", str(data / "instances_test.json"),
                                       "--images", str(data / "images" / "test"), "--out", str(sheet)])
        assert res.exit_code == 0, res.output
        assert artifacts.describe(sheet) == artifacts.PNG_KIND


def test_describe_kinds(tmp_path):
    assert artifacts.describe(tmp_path / "nothing") is None
    (tmp_path / "e").write_bytes(b"")
    (tmp_path / "t.tsv").write_text("step\tloss\n0\t1.0\n")
    (tmp_path / "b.bin").write_bytes(b"\x00\x01\xff")
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    _artifact(tmp_path / "a.h5", "knowledge_bank")
    _artifact(tmp_path / "a.zarr", "pair_features")
    assert [artifacts.describe(tmp_path / n) for n in ("e", "t.tsv", "b.bin", "link", "a.h5", "a.zarr")] == [
        "file:empty", "file:text", "file:binary", "link:dangling", artifacts.artifact_kind("a.h5", "knowledge_bank"),
        artifacts.artifact_kind("a.zarr", "pair_features")]
