"""A bad input gives one `error:` line naming the file/key/entry and exit status 2, never a
traceback (issue 7 items 5 and 6), through the real command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def weakhoi(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def assert_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 with exactly one line `error: ...` on stderr that contains every needle."""
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    for n in needles:
        assert n in r.stderr, f"{n!r} not in {r.stderr!r}"
    return r.stderr


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Path]:
    """A tiny SynHOI, its params and the test split's proposals."""
    from weakhoi.data.synhoi import SynHOIConfig, generate

    tmp = tmp_path_factory.mktemp("bad")
    data = tmp / "synhoi"
    generate(SynHOIConfig(seed=0, num_train=4, num_test=8), data)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = tmp / "params.yaml"
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    props = tmp / "proposals.h5"
    r = weakhoi("detect", "--dataset", "synhoi", "--annotations", data / "instances_test.json",
                "--images", data / "images" / "test", "--out", props, "--params", p, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return {"tmp": tmp, "data": data, "params": p, "proposals": props}


# -------------------------------------------------------------------------------- item 5

def test_invalid_yaml_in_params(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("spatial:\n  eps: [1e-8\n  max_humans: 15\n")
    r = weakhoi("spatial", "--proposals", tmp_path / "x.h5", "--out", tmp_path / "o.zarr",
                "--params", p, cwd=tmp_path)
    assert_error(r, str(p), "not valid YAML", "line")


def test_unknown_template_placeholder(chain, tmp_path):
    params = yaml.safe_load(chain["params"].read_text())
    params["encode"]["template"] = "a photo of a person {verb_phrase} {article} {obj}"
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(params))
    r = weakhoi("encode", "--dataset", "synhoi", "--annotations", chain["data"] / "instances_train.json",
                "--out", tmp_path / "kb.h5", "--params", p, cwd=tmp_path)
    assert_error(r, "encode.template", "{obj}", "{object}")
    assert not (tmp_path / "kb.h5").exists()


def _corrupt_first_chunk(path: Path, dataset: str) -> None:
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
    with path.open("r+b") as f:
        f.seek(info.byte_offset + 8)
        f.write(b"\xde\xad\xbe\xef" * 16)


def test_hdf5_artifact_corrupted_mid_file(chain, tmp_path):
    """A damaged chunk ("filter returned failure during read" from h5py) becomes an error
    naming the artifact and saying to re-run the stage that produces it."""
    bad = tmp_path / "proposals.h5"
    bad.write_bytes(chain["proposals"].read_bytes())
    _corrupt_first_chunk(bad, "detections/boxes")
    r = weakhoi("spatial", "--proposals", bad, "--out", tmp_path / "pairs.zarr",
                "--params", chain["params"], cwd=tmp_path)
    assert_error(r, str(bad), "re-run the stage that produces it")
    assert not (tmp_path / "pairs.zarr").exists()


def test_zarr_artifact_corrupted_chunk(chain, tmp_path):
    from weakhoi.artifacts import open_artifact
    from weakhoi.errors import ArtifactError

    pairs = tmp_path / "pairs.zarr"
    r = weakhoi("spatial", "--proposals", chain["proposals"], "--out", pairs, "--params",
                chain["params"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    chunk = next(p for p in sorted((pairs / "pairs" / "spatial").rglob("*")) if p.is_file())
    chunk.write_bytes(b"garbage" * 10)
    with open_artifact(pairs, "pair_features") as art:
        with pytest.raises(ArtifactError, match="re-run the stage") as e:
            art.ragged("pairs").column("spatial")
        assert str(pairs) in str(e.value)
        with pytest.raises(ArtifactError, match="re-run the stage"):
            art.ragged("pairs")[0]


def _dets(tmp: Path, name: str, entry: dict) -> Path:
    p = tmp / "dets.json"
    p.write_text(json.dumps({"images": [dict({"file_name": name}, **entry)]}))
    return p


@pytest.mark.parametrize("entry, needles", [
    ({"boxes_h": [[1, 1, 5]], "boxes_o": [[1, 1, 5, 5]], "hoi": [0], "scores": [0.5]},
     ["boxes_h", "detection 0", "[1, 1, 5]"]),
    ({"boxes_h": [[1, 1, 5, 5], [1, 1, 5, 5]], "boxes_o": [[1, 1, 5, 5]] * 2, "hoi": [0, 1],
      "scores": [0.5, "high"]}, ["score", "detection 1", "'high'"]),
    ({"boxes_h": [[1, 1, 5, 5]], "boxes_o": [[1, 1, 5, 5]], "hoi": [0], "scores": [1e999]},
     ["detection 0", "not finite"]),
    ({"boxes_h": [[1, 1, 5, 5]], "boxes_o": [[1, 1, 5, 5]], "hoi": [0], "scores": [-1e999]},
     ["detection 0", "not finite"]),
    ({"boxes_h": [[1, 1, 5, 5]], "boxes_o": [[1, 1, 5, 5]], "hoi": [3.5], "scores": [0.5]},
     ["detection 0", "not an integer"]),
    ({"boxes_h": [[1, 1, 5, 5]], "boxes_o": [[1, 1, 5, 5]], "hoi": 3, "scores": [0.5]},
     ["'hoi' must be a list"]),
])
def test_bad_detection_entries_name_image_and_entry(chain, tmp_path, entry, needles):
    name = json.loads((chain["data"] / "instances_test.json").read_text())["filenames"][0]
    dets = _dets(tmp_path, name, entry)
    r = weakhoi("evaluate", "hicodet", "--dataset", "synhoi", "--annotations",
                chain["data"] / "instances_test.json", "--detections", dets, cwd=tmp_path)
    assert_error(r, str(dets), "images[0]", name, *needles)


def test_eps_written_as_1e_8(chain, tmp_path):
    """YAML 1.1 (PyYAML) reads `1e-8` as a string; DVC (YAML 1.2) as a number. params.yaml is
    read as YAML 1.2 floats, so `eps: 1e-8` is 1e-08; a quoted number is refused with a hint."""
    from weakhoi.artifacts import open_artifact

    text = chain["params"].read_text().replace("eps: 1.0e-08", "eps: 1e-8")
    assert "eps: 1e-8" in text
    p = tmp_path / "params.yaml"
    p.write_text(text)
    out = tmp_path / "pairs.zarr"
    r = weakhoi("spatial", "--proposals", chain["proposals"], "--out", out, "--params", p, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with open_artifact(out, "pair_features") as art:
        assert art.attrs["eps"] == 1e-8 and art.attrs["params"]["eps"] == 1e-8
    p.write_text(text.replace("eps: 1e-8", "eps: '1e-8'"))
    r = weakhoi("spatial", "--proposals", chain["proposals"], "--out", tmp_path / "o.zarr",
                "--params", p, cwd=tmp_path)
    assert_error(r, "spatial.eps", "'1e-8'", "unquoted")


# -------------------------------------------------------------------------------- item 6

@pytest.mark.parametrize("damage", ["no_directory", "missing", "zero_bytes", "garbage", "truncated_header"])
def test_detect_checks_every_image_with_the_simulated_backend(chain, tmp_path, damage):
    """The simulated backend never reads pixels, yet `detect` refuses a missing image
    directory, a missing image, a zero-byte, garbage or header-truncated PNG, naming the first
    bad image, and writes nothing."""
    names = json.loads((chain["data"] / "instances_test.json").read_text())["filenames"]
    images = tmp_path / "images"
    if damage != "no_directory":
        images.mkdir()
        for n in names:
            (images / n).write_bytes((chain["data"] / "images" / "test" / n).read_bytes())
    victim, later = images / names[2], images / names[5]
    if damage == "missing":
        victim.unlink()
    elif damage == "zero_bytes":
        victim.write_bytes(b"")
    elif damage == "garbage":
        victim.write_bytes(os.urandom(300))
    elif damage == "truncated_header":
        victim.write_bytes(victim.read_bytes()[:20])
    if damage != "no_directory":
        later.write_bytes(b"")                         # a second bad image: the first is named
    out = tmp_path / "p.h5"
    r = weakhoi("detect", "--dataset", "synhoi", "--annotations", chain["data"] / "instances_test.json",
                "--images", images, "--out", out, "--params", chain["params"], cwd=tmp_path)
    if damage == "no_directory":
        assert_error(r, str(images))
    else:
        err = assert_error(r, str(victim))
        assert names[5] not in err
    assert not out.exists()
