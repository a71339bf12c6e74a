"""The ``model`` artifact: a trained network's weights and configuration, no pickle.

HDF5 (or Zarr) via :class:`weakhoi.artifacts.ArtifactWriter`: one array per state-dict entry
under ``state/<name>`` (float tensors as float32, integer buffers as int64), the
:class:`~weakhoi.model.config.ModelConfig` as JSON in the ``model_config`` attribute, the
state-dict order in ``state_keys``, plus provenance (train params, input hashes of the bank,
proposals, pairs and annotations, the backbone's pretrained checkpoint). Reading rebuilds the
architecture without loading any pretrained weights (:func:`load_model`), then loads the
stored state, so ``infer`` and ``predict`` need no CLIP or detector files.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..artifacts import SCHEMA_VERSIONS, ArtifactWriter, open_artifact
from ..errors import ArtifactError
from .config import ModelConfig
from .network import WeakHOINet, build_model

ARTIFACT_TYPE = "model"
SCHEMA_VERSIONS.setdefault(ARTIFACT_TYPE, 1)


def write_model(path: Path | str, model: WeakHOINet, params: Mapping[str, Any],
                inputs: Sequence[Path | str] = (), extra: Mapping[str, Any] | None = None,
                known_hashes: Mapping[str, str] | None = None) -> None:
    """Write ``model`` (unwrapped) as a ``model`` artifact (atomic)."""
    state = model.state_dict()
    attrs = {"model_config": json.dumps(model.cfg.to_dict(), sort_keys=True),
             "state_keys": json.dumps(list(state)), **(extra or {})}
    with ArtifactWriter(path, ARTIFACT_TYPE, params=params, inputs=inputs, extra=attrs,
                        known_hashes=known_hashes) as w:
        for name, t in state.items():
            a = t.detach().cpu()
            a = a.float().numpy() if a.is_floating_point() else a.long().numpy()
            w.write_array(f"state/{name}", np.ascontiguousarray(a))


def vocabulary_to_dict(vocab) -> dict[str, Any]:
    """A vocabulary as plain JSON-able data (stored in the model artifact, so ``predict`` can
    name classes without the dataset's files)."""
    return {"name": vocab.name, **vocab.to_hicodet_json_dict(),
            "hoi_roles": list(vocab.hoi_roles) if vocab.hoi_roles is not None else None}


def vocabulary_from_dict(d: Mapping[str, Any]):
    """Inverse of :func:`vocabulary_to_dict`."""
    from ..vocab import Vocabulary

    v = Vocabulary.from_hicodet_json_dict(d, str(d.get("name", "model")), "model artifact")
    roles = d.get("hoi_roles")
    if roles is None:
        return v
    return Vocabulary.build(v.name, v.objects, v.verbs, zip(v.hoi_verb.tolist(), v.hoi_object.tolist()),
                            v.rare_indices.tolist(), v.verb_phrases, roles)


def read_model_state(path: Path | str) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """(config, state dict, attributes) of a ``model`` artifact."""
    with open_artifact(path, ARTIFACT_TYPE) as art:
        attrs = dict(art.attrs)
        try:
            cfg = ModelConfig.from_dict(json.loads(attrs["model_config"]))
            keys = json.loads(attrs["state_keys"])
        except (KeyError, ValueError, TypeError) as e:
            raise ArtifactError(f"{path}: model artifact without a valid model_config / "
                                f"state_keys ({e}); re-run `train`") from None
        state = {k: torch.from_numpy(np.array(art.array(f"state/{k}"))) for k in keys}
    return cfg, state, attrs


def load_model(path: Path | str, device: torch.device | str = "cpu") -> tuple[WeakHOINet, dict[str, Any]]:
    """Rebuild and load a trained network (eval mode) from a ``model`` artifact."""
    cfg, state, attrs = read_model_state(path)
    arch = replace(cfg, backbone=replace(cfg.backbone, pretrained=None))
    bank = state["bank"].float()
    net = build_model(arch, bank, state["hoi_verb"], state["hoi_object"], load_weights=False)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ArtifactError(f"{path}: stored weights do not fit the network (missing "
                            f"{missing[:3]}, unexpected {unexpected[:3]}); re-run `train`")
    net.cfg = cfg
    return net.to(device).eval(), attrs
