"""params.yaml access for the stage entry points (the library never reads params)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from weakhoi.artifacts.provenance import params_hash  # noqa: F401  (re-exported for the stages)
from weakhoi.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


class _ParamsLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads floats as YAML 1.2 (and DVC, which tracks params.yaml
    with a YAML 1.2 parser) does: ``1e-8`` and ``1E+3`` are numbers, not the strings PyYAML's
    YAML 1.1 rules make of them (those require a dot: ``1.0e-8``)."""


_FLOAT_12 = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                           |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                           |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                           |[-+]?\.(?:inf|Inf|INF)
                           |\.(?:nan|NaN|NAN))$""", re.X)
_ParamsLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_ParamsLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12,
                                    list("-+0123456789."))


def load_params(path: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    """The params file as a dict: ConfigError naming the file when it is missing, unreadable,
    not valid YAML (with the line and column) or not a mapping. Safe loading only."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        with path.open("r", encoding="utf-8") as f:
            data = yaml.load(f, Loader=_ParamsLoader) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the params file ({e})") from None
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


# --------------------------------------------------------------------------- validators
# Each reads ``cfg[key]`` (ConfigError "params: missing key <where>.<key>" when absent) and raises
# ConfigError "params: <where>.<key> must be ..., got <value>" when the value does not fit.

def _fmt(x: float) -> str:
    return f"{x:g}"


def number(cfg: Mapping[str, Any], key: str, lo: float, hi: float, where: str,
           open_lo: bool = False, open_hi: bool = False) -> float:
    """A real number (not a bool) in ``[lo, hi]``; ``open_lo`` / ``open_hi`` exclude the bound."""
    v = require(cfg, key, where)
    ok = not isinstance(v, bool) and isinstance(v, (int, float))
    if ok:
        x = float(v)
        ok = (lo < x if open_lo else lo <= x) and (x < hi if open_hi else x <= hi)
    if not ok:
        span = f"{'(' if open_lo else '['}{_fmt(lo)}, {_fmt(hi)}{')' if open_hi else ']'}"
        hint = ""
        if isinstance(v, str) and _FLOAT_12.match(v.strip()):   # a quoted number
            hint = f" (a string; write it unquoted, e.g. {v.strip()})"
        raise ConfigError(f"params: {where}.{key} must be a number in {span}, got {v!r}{hint}")
    return float(v)


def integer(cfg: Mapping[str, Any], key: str, minimum: int, where: str) -> int:
    """An integer (not a bool) ``>= minimum``."""
    v = require(cfg, key, where)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"params: {where}.{key} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def boolean(cfg: Mapping[str, Any], key: str, where: str) -> bool:
    """``true`` or ``false``."""
    v = require(cfg, key, where)
    if not isinstance(v, bool):
        raise ConfigError(f"params: {where}.{key} must be true or false, got {v!r}")
    return v


def reject_unknown(cfg: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """ConfigError "params: unknown key(s) <where>.<k>, ..." for keys of ``cfg`` not in ``allowed``."""
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ConfigError(f"params: unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}")
