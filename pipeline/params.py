"""params.yaml access for the stage entry points (the library never reads params)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from weakhoi.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    with path.open("r", encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def section(params: Mapping[str, Any], name: str, path: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    """``params[name]`` (dotted names allowed: 'train.optim'), or ConfigError naming the key."""
    node: Any = params
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"{path}: missing key {name!r}")
        node = node[part]
    if not isinstance(node, Mapping):
        raise ConfigError(f"{path}: {name!r} must be a mapping")
    return dict(node)


def require(cfg: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in cfg:
        raise ConfigError(f"params: missing key {where}.{key}")
    return cfg[key]


def params_hash(cfg: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``cfg`` (what provenance records)."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()
