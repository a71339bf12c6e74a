"""One training run from the precompute artifacts to the ``model`` artifact.

:func:`train_model` wires the parts: image-level labels of the training split (its weak view;
the annotation records are dropped right after), candidate pairs from the ``proposals`` and
``pair_features`` artifacts, the knowledge bank, the network, the criterion and the
:class:`~weakhoi.engine.trainer.Trainer` (DDP when launched by torchrun); then rank 0 writes the
model artifact and the curves. Typed configs in, files out; no params.yaml here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from ..artifacts import hash_path
from ..errors import ArtifactError, ConfigError
from ..model.config import LossConfig, ModelConfig
from .checkpoint import CheckpointDir, run_key
from .dist import cleanup, init_distributed
from .log import write_curves, write_timing
from .trainer import EngineConfig, Trainer, unwrap


@dataclass(frozen=True)
class TrainInputs:
    """Files a training run reads."""

    dataset: str            # hicodet | synhoi | vcoco
    annotations: Path       # training annotations (image-level labels only are used)
    images: Path            # training image directory
    proposals: Path         # `proposals` artifact of the split
    pairs: Path             # `pair_features` artifact of the split
    bank: Path              # `knowledge_bank` artifact

    def files(self) -> list[Path]:
        return [self.annotations, self.proposals, self.pairs, self.bank]


@dataclass(frozen=True)
class DataConfig:
    image_size: int = 256        # network input side (letterboxed)
    max_pairs: int | None = None  # cap per image (highest s_h * s_o)
    flip: bool = True            # horizontal flip augmentation


def problem_sizes(inputs: TrainInputs) -> dict[str, int]:
    """``num_hois`` N and ``embed_dim`` D of the bank, ``num_verbs`` A and ``num_objects`` C of
    the dataset's vocabulary (the sizes of a :class:`ModelConfig`). ArtifactError when the bank
    was encoded for another vocabulary."""
    from ..clip import read_knowledge_bank
    from ..data.loaders import load_vocabulary

    vocab = load_vocabulary(inputs.dataset, inputs.annotations)
    kb = read_knowledge_bank(inputs.bank)
    n, d = (int(s) for s in kb.bank.shape)
    if n != vocab.num_hois or not (kb.hoi_verb == vocab.hoi_verb).all() \
            or not (kb.hoi_object == vocab.hoi_object).all():
        raise ArtifactError(f"{inputs.bank}: knowledge bank classes ({n}) are not those of "
                            f"{inputs.annotations} ({vocab.num_hois}); re-run `encode` for this "
                            f"dataset")
    return {"num_hois": n, "num_verbs": vocab.num_verbs, "num_objects": vocab.num_objects,
            "embed_dim": d}


def build_training_set(inputs: TrainInputs, data: DataConfig, seed: int):
    """(WeakTrainingSet, vocabulary, pair info) of the training split."""
    from ..data.loaders import load_dataset
    from ..data.pairs import PairImages, load_image_pairs
    from ..data.training import WeakTrainingSet

    labels = load_dataset(inputs.dataset, inputs.annotations, inputs.images).weak_view()
    pairs, info = load_image_pairs(inputs.proposals, inputs.pairs, data.max_pairs)
    images = PairImages(inputs.images, pairs, data.image_size, eps=info["eps"])
    return WeakTrainingSet(labels, images, flip=data.flip, seed=seed), labels.vocab, info


def train_model(model_cfg: ModelConfig, loss_cfg: LossConfig, engine_cfg: EngineConfig,
                data_cfg: DataConfig, inputs: TrainInputs, out: Path, curves: Path,
                timing: Path | None, checkpoint_root: Path, params: Mapping[str, Any],
                key_params: Mapping[str, Any], code: str = "", device: str = "cpu",
                progress: bool = True) -> str | None:
    """Train and write ``out`` (model artifact) and ``curves``; returns a one-line summary on
    rank 0 (None on other ranks).

    ``params``: recorded in the artifact's provenance. ``key_params``: the params that define
    the run (the checkpoint directory is keyed by them, the inputs' content hashes and
    ``code``).
    """
    from ..clip import read_knowledge_bank
    from ..losses import WeakHOICriterion
    from ..model.io import vocabulary_to_dict, write_model
    from ..model.network import build_model

    dist = init_distributed(device)
    try:
        dev = torch.device(f"cuda:{dist.local_rank}" if device == "cuda" and dist.enabled else device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"train.device is {device!r} but CUDA is not available here")
        dataset, vocab, info = build_training_set(inputs, data_cfg, engine_cfg.seed)
        kb = read_knowledge_bank(inputs.bank)
        hashes = {p.as_posix(): hash_path(p) for p in inputs.files()}
        pre = model_cfg.backbone.pretrained
        if pre and Path(str(pre)).expanduser().is_file():
            hashes[Path(str(pre)).as_posix()] = hash_path(Path(str(pre)).expanduser())
        if model_cfg.backbone.frcnn_weights:
            hashes[Path(model_cfg.backbone.frcnn_weights).as_posix()] = \
                hash_path(Path(model_cfg.backbone.frcnn_weights).expanduser())
        key = run_key(key_params, hashes, code)
        ckpt = CheckpointDir(checkpoint_root, key, describe={"params": dict(key_params),
                                                              "inputs": hashes})
        net = build_model(model_cfg, kb.bank, torch.from_numpy(kb.hoi_verb),
                          torch.from_numpy(kb.hoi_object)).to(dev)
        model: torch.nn.Module = net
        if dist.enabled:
            model = torch.nn.parallel.DistributedDataParallel(
                net, device_ids=[dev.index] if dev.type == "cuda" else None,
                find_unused_parameters=True)
        criterion = WeakHOICriterion(loss_cfg)

        def on_log(history, timing_rows):
            write_curves(curves, history)
            if timing is not None:
                write_timing(timing, timing_rows)

        trainer = Trainer(model, criterion, dataset, engine_cfg, dev, ckpt, dist, on_log, progress)
        result = trainer.fit()
        if not dist.is_main:
            return None
        write_curves(curves, result.history)
        # no run key here: it hashes all library code (train's deps are a subset), so storing it
        # would make the model's bytes change with code the stage does not depend on
        extra = {"dataset": inputs.dataset, "vocabulary": vocabulary_to_dict(vocab),
                 "iterations": result.iterations,
                 "data_config": {"image_size": data_cfg.image_size, "max_pairs": data_cfg.max_pairs,
                                 "flip": data_cfg.flip},
                 "backbone_info": {k: v for k, v in unwrap(model).backbone.info.items()
                                   if isinstance(v, (str, int, float, bool))},
                 "proposals_params_hash": info["proposals_params_hash"],
                 "pairs_params_hash": info["pairs_params_hash"],
                 "bank_params_hash": str(read_bank_hash(inputs.bank))}
        write_model(out, unwrap(model), params, known_hashes=hashes, extra=extra)
        last = result.history[-1] if result.history else {}
        return (f"wrote {out} ({result.iterations} iterations"
                + (f", resumed at {result.resumed_from}" if result.resumed_from else "")
                + (f", final loss {last['loss']:.4f}" if "loss" in last else "") + ")")
    finally:
        cleanup(dist)


def read_bank_hash(path: Path) -> str:
    from ..artifacts import open_artifact

    with open_artifact(path, "knowledge_bank") as art:
        return str(art.attrs.get("params_hash", ""))
