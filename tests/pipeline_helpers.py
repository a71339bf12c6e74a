"""Builds a small SynHOI with its precompute artifacts through the real CLI, for the training
and inference tests (not a test module itself)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: Any) -> str:
    from pipeline.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_params(path: Path, synhoi: dict | None = None, train: dict | None = None,
                 **sections: dict) -> Path:
    """params.yaml of the project with overrides (``train`` entries merged one level deep)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synhoi"].update(synhoi or {})
    # the CLIP prior is the `pretrain` stage's output in the workspace: tests use random init
    # (their own `pretrain` runs say so explicitly)
    params["encode"]["pretrained"] = "none"
    params["train"]["model"]["backbone"]["pretrained"] = "none"
    params.setdefault("train", {})
    for key, value in (train or {}).items():
        if isinstance(value, dict) and isinstance(params["train"].get(key), dict):
            params["train"][key].update(value)
        else:
            params["train"][key] = value
    for name, value in sections.items():
        params.setdefault(name, {}).update(value)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def small_synhoi(tmp: Path, num_train: int = 12, num_test: int = 4, **encode: Any) -> dict[str, Path]:
    """data -> detect -> spatial (both splits) -> encode on a tiny SynHOI; returns the paths."""
    params = write_params(tmp / "params.yaml", synhoi={"num_train": num_train, "num_test": num_test},
                          encode=encode)
    data = tmp / "synhoi"
    run_cli("data", "--out-dir", data, "--params", params)
    out: dict[str, Path] = {"data": data, "params": params}
    for split in ("train", "test"):
        ann, img = data / f"instances_{split}.json", data / "images" / split
        out[f"annotations_{split}"], out[f"images_{split}"] = ann, img
        out[f"proposals_{split}"] = tmp / "proposals" / f"{split}.h5"
        out[f"pairs_{split}"] = tmp / "pairs" / f"{split}.zarr"
        run_cli("detect", "--dataset", "synhoi", "--annotations", ann, "--images", img,
                "--out", out[f"proposals_{split}"], "--params", params)
        run_cli("spatial", "--proposals", out[f"proposals_{split}"], "--out", out[f"pairs_{split}"],
                "--params", params)
    out["bank"] = tmp / "knowledge_bank.h5"
    run_cli("encode", "--dataset", "synhoi", "--annotations", out["annotations_train"],
            "--out", out["bank"], "--params", params)
    return out


def train_args(art: dict[str, Path], out_dir: Path, params: Path,
               checkpoints: Path | None = None) -> list[Any]:
    """Arguments of `weakhoi train` on the small SynHOI's training split (outputs in
    ``out_dir``; checkpoints under ``checkpoints``, default ``out_dir/ckpt``)."""
    return ["train", "--dataset", "synhoi", "--annotations", art["annotations_train"],
            "--images", art["images_train"], "--proposals", art["proposals_train"],
            "--pairs", art["pairs_train"], "--bank", art["bank"], "--out", out_dir / "model.h5",
            "--curves", out_dir / "curves", "--checkpoint-root", checkpoints or out_dir / "ckpt",
            "--params", params]
