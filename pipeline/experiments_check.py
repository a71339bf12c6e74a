"""Checks of the experiment file against params.yaml and dvc.yaml.

* every override key is an existing param (a leaf of params.yaml) that a stage of dvc.yaml
  tracks (listed in its ``params`` or interpolated into it with ``${...}``), so a row never
  changes something DVC does not see;
* every row's params on every dataset it runs on pass the stages' own validators (those of
  ``pipeline/{detect,spatial,encode,train,infer,evaluate_stage}.py``) and the rules that tie
  the stages together (the CLIP backbone and the bank share an architecture; CLIP scores need a
  CLIP bank; "SRC" is both the loss and the relatedness factor; score fusion needs HOI
  recognition);
* ``inference_only`` rows override only keys that no stage up to ``train`` reads (so they share
  the trained model through DVC's run-cache);
* two rows with the same experiment on a dataset are linked by ``same_as`` (else DVC would run
  the same thing twice under two names).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from weakhoi.errors import ConfigError, WeakHOIError

from .experiments import ExperimentFile, Row

DATASET_KINDS = ("hicodet", "synhoi", "vcoco")
#: Sections a row may override: those whose stage validators run here.
SECTIONS = ("dataset", "detect", "spatial", "encode", "train", "infer", "evaluate")
_REF = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}")
_PLACEHOLDER_ROOT = Path("/assets-root")


# --------------------------------------------------------------------------- dvc.yaml

def _stage_docs(dvc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    stages = dvc.get("stages") if isinstance(dvc, Mapping) else None
    if not isinstance(stages, Mapping):
        raise ConfigError("dvc.yaml: no 'stages' mapping")
    return {str(k): v for k, v in stages.items() if isinstance(v, Mapping)}


def _stage_keys(stage: Mapping[str, Any]) -> set[str]:
    """Param keys a stage tracks: its ``params`` entries and its ``${...}`` references (foreach
    variables ``item`` / ``key`` left out)."""
    body = stage.get("do", stage)
    keys: set[str] = set()
    for entry in body.get("params", []) or []:
        if isinstance(entry, str):
            keys.add(entry)
        elif isinstance(entry, Mapping):
            for file, names in entry.items():
                if str(file) == "params.yaml":
                    keys.update(str(n) for n in names or [])
    for ref in _REF.findall(yaml.safe_dump(dict(stage))):
        if ref.split(".")[0] not in ("item", "key"):
            keys.add(ref)
    return keys


def _paths(stage: Mapping[str, Any], field: str) -> set[str]:
    body = stage.get("do", stage)
    out = set()
    for entry in body.get(field, []) or []:
        out.update([entry] if isinstance(entry, str) else [str(k) for k in entry] if isinstance(entry, Mapping) else [])
    return out


def stage_keys(dvc: Mapping[str, Any]) -> dict[str, set[str]]:
    """Tracked param keys per stage of a parsed dvc.yaml."""
    return {name: _stage_keys(s) for name, s in _stage_docs(dvc).items()}


def after_train(dvc: Mapping[str, Any]) -> set[str]:
    """The stages downstream of ``train`` (that depend, transitively, on its outputs)."""
    stages = _stage_docs(dvc)
    if "train" not in stages:
        raise ConfigError("dvc.yaml: no 'train' stage")
    outs, found = set(_paths(stages["train"], "outs")), set()
    changed = True
    while changed:
        changed = False
        for name, s in stages.items():
            if name != "train" and name not in found and outs & _paths(s, "deps"):
                found.add(name)
                outs |= _paths(s, "outs") | {str(m) for e in s.get("metrics", []) or [] for m in
                                             (e if isinstance(e, Mapping) else [e])}
                changed = True
    return found


def _covered(key: str, keys: Iterable[str]) -> bool:
    return any(key == k or key.startswith(k + ".") for k in keys)


def model_keys(dvc: Mapping[str, Any]) -> set[str]:
    """Keys tracked by the stages up to and including ``train`` (a change re-trains)."""
    late = after_train(dvc)
    return set().union(*(k for n, k in stage_keys(dvc).items() if n not in late))


def is_inference_key(key: str, dvc: Mapping[str, Any]) -> bool:
    """Whether ``key`` is read only after ``train`` (changing it keeps the trained model)."""
    return not _covered(key, model_keys(dvc))


# --------------------------------------------------------------------------- params.yaml

def lookup(params: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """(found, value) of a dotted key."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def apply_overrides(params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``params`` with each dotted key set (the keys must exist)."""
    out = copy.deepcopy(dict(params))
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return out


def check_params(params: Mapping[str, Any]) -> None:
    """Run the stages' validators on a whole params document (ConfigError naming the key)."""
    from weakhoi.clip import BANK_KINDS, model_config

    from . import detect, encode, evaluate_stage, infer, spatial, train
    from .params import section

    ds = section(params, "dataset")
    if ds.get("name") not in DATASET_KINDS:
        raise ConfigError(f"params: dataset.name must be one of {', '.join(DATASET_KINDS)}, got {ds.get('name')!r}")
    for split in ("train", "test"):
        sp = section(params, f"dataset.splits.{split}")
        for k in ("annotations", "images"):
            if not isinstance(sp.get(k), str) or not sp[k]:
                raise ConfigError(f"params: dataset.splits.{split}.{k} must be a path, got {sp.get(k)!r}")
    detect.check_params(section(params, "detect"), ds["name"])
    spatial.check_params(section(params, "spatial"))
    enc = encode.resolve_config(section(params, "encode"))
    if enc["bank"] not in BANK_KINDS:
        raise ConfigError(f"params: encode.bank must be one of {', '.join(BANK_KINDS)}, got {enc['bank']!r}")
    if enc["bank"] == "npy" and not enc["npy_path"]:
        raise ConfigError("params: encode.bank npy needs encode.npy_path")
    model_config(enc["model"])
    tr = train.resolve_params(section(params, "train"))
    train.build_configs(tr, num_hois=1, num_verbs=1, num_objects=1, embed_dim=1)
    bb = tr["model"]["backbone"]
    if bb["kind"] == "clip":
        model_config(bb["model"])
        if bb["model"] != enc["model"]:
            raise ConfigError(f"params: train.model.backbone.model {bb['model']!r} must be the architecture "
                              f"of the knowledge bank, encode.model {enc['model']!r}")
    inf = infer.resolve_params(section(params, "infer"))
    fusion = evaluate_stage.fusion_config(params)
    if fusion.clip != "none" and not inf["clip_scores"]:
        raise ConfigError(f"params: evaluate.clip {fusion.clip} needs infer.clip_scores: true")
    if inf["clip_scores"] and enc["bank"] != "clip":
        raise ConfigError("params: infer.clip_scores needs encode.bank: clip (CLIP prompts and weights)")
    if tr["loss"]["src"] != fusion.use_relatedness:
        raise ConfigError("params: train.loss.src and evaluate.use_relatedness must agree (the paper's "
                          "'SRC' is the relatedness loss and the relatedness factor of the fused score)")
    if fusion.use_global and not tr["model"]["hoi_recognition"]:
        raise ConfigError("params: evaluate.use_global (score fusion) needs train.model.hoi_recognition: true")


def _check_keys(ef: ExperimentFile, where: str, overrides: Mapping[str, Any], params: Mapping[str, Any],
                tracked: set[str]) -> None:
    for key in overrides:
        found, value = lookup(params, key)
        if not found:
            raise ef.err(where, f"key {key!r}: not a param of params.yaml")
        if isinstance(value, Mapping):
            raise ef.err(where, f"key {key!r}: names a section of params.yaml, not a param")
        if key.split(".")[0] not in SECTIONS:
            raise ef.err(where, f"key {key!r}: rows may set params of {', '.join(SECTIONS)} only")
        if not _covered(key, tracked):
            raise ef.err(where, f"key {key!r}: no stage of dvc.yaml tracks it, so DVC would not re-run "
                                f"anything for it")


def training_overrides(ef: ExperimentFile, row: Row, dataset: str, dvc: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a row's overrides on ``dataset`` that determines its trained model."""
    keys = model_keys(dvc)
    return {k: v for k, v in ef.overrides(row.id, dataset).items() if _covered(k, keys)}


def check_against_params(ef: ExperimentFile, params: Mapping[str, Any], dvc: Mapping[str, Any]) -> None:
    """Every check listed in the module docstring; ConfigError naming the file, row and key."""
    keys = stage_keys(dvc)
    tracked = set().union(*keys.values())
    _check_keys(ef, "base", ef.base, params, tracked)
    if ef.seed_param is not None:
        found, value = lookup(params, ef.seed_param)
        if ef.seed_param not in tracked or not found or not isinstance(value, int) or isinstance(value, bool):
            raise ef.err("seed_param", f"{ef.seed_param!r} must be an integer param of params.yaml that a stage "
                                       f"of dvc.yaml tracks")
        setters = [w for w, ov in [("base", ef.base), *((f"dataset {d.id}", d.overrides) for d in ef.datasets.values()),
                                   *((f"row {r.id}", r.overrides) for r in ef.rows.values())] if ef.seed_param in ov]
        if setters:
            raise ef.err(setters[0], f"key {ef.seed_param!r} is the seed_param: seeds are given with "
                                     f"`weakhoi tables queue --seed N`, not fixed in the file")
    for d in ef.datasets.values():
        _check_keys(ef, f"dataset {d.id}", d.overrides, params, tracked)
    configs: dict[tuple[str, tuple], Row] = {}
    for row in ef.rows.values():
        where = f"row {row.id}"
        _check_keys(ef, where, row.overrides, params, tracked)
        if row.inference_only:
            late = [k for k in row.overrides if not is_inference_key(k, dvc)]
            if late:
                raise ef.err(where, f"key {late[0]!r}: inference_only rows may only set keys read after "
                                    f"train (it would train a model of its own)")
        for dataset in ef.tables[row.table].datasets:
            if ef.alias_of(row, dataset):
                continue
            ov = ef.overrides(row.id, dataset)
            try:
                check_params(apply_overrides(params, ef.resolve(ov, dataset, _PLACEHOLDER_ROOT)))
            except WeakHOIError as e:
                raise ef.err(f"{where} on {dataset}", str(e)) from None
            sig = (dataset, tuple(sorted((k, repr(v)) for k, v in ov.items())))
            if sig in configs:
                raise ef.err(where, f"on {dataset} it is the same experiment as row {configs[sig].id}: "
                                    f"write same_as: {configs[sig].id}")
            configs[sig] = row


def load_dvc_yaml(path: Path | str = "dvc.yaml") -> dict[str, Any]:
    """dvc.yaml as a mapping (ConfigError naming the file)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run this in the project's root") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read it ({e})") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: not a mapping")
    return dict(doc)
