"""The experiment file (``pipeline/experiments.yaml``): the paper's Tables 1-5 as rows of param
overrides, the paper's numbers and the assets each row needs.

This module reads and checks the file's structure (:func:`load_experiments`), composes a row's
overrides on a dataset, names its DVC experiment, finds its missing assets, plans a queue batch
(:func:`plan`, :func:`decide`) and writes the ``-S`` arguments. Checks against params.yaml and
dvc.yaml live in ``pipeline/experiments_check.py``, the rendering of ``dvc exp show --json`` in
``pipeline/paper_tables.py``. Nothing here runs DVC: ``pipeline/tables.py`` (the ``weakhoi
tables`` commands) does. Every problem is a ConfigError naming the file, the row and the key.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from weakhoi.errors import ConfigError

EXPERIMENTS_FILE = Path("pipeline/experiments.yaml")
LAYOUTS = ("hico", "vcoco")
ASSET_KINDS = ("file", "dir")
_ASSET = re.compile(r"^\{asset:([A-Za-z0-9_]+)\}$")
_ROW_ID = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_TOP = ("version", "metrics_file", "columns", "report_params", "seed_param", "base", "assets", "datasets", "tables",
        "rows")
_OPTIONAL = ("report_params", "seed_param")
_SEED_SUFFIX = re.compile(r"^(?P<name>.+)-s(?P<seed>[0-9]+)$")
_ROW_KEYS = ("id", "table", "label", "setting", "overrides", "extends", "same_as", "inference_only", "paper")

# --------------------------------------------------------------------------- the file's parts


@dataclass(frozen=True)
class Asset:
    """A file or directory a row needs, at ``path`` under the assets root (``{dataset}`` in it is
    the dataset id)."""
    id: str
    path: str
    kind: str
    what: str
    get: str

    def location(self, root: Path, dataset: str) -> Path:
        return Path(root) / self.path.replace("{dataset}", dataset)

    def exists(self, root: Path, dataset: str) -> bool:
        p = self.location(root, dataset)
        return p.is_dir() if self.kind == "dir" else p.is_file()


@dataclass(frozen=True)
class Dataset:
    """Where rows run: ``overrides`` applied after ``base`` and before the row's."""
    id: str
    name: str
    layout: str
    note: str
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    metric: str          # dotted path in the metrics file, e.g. hicodet.default.full
    layout: str


@dataclass(frozen=True)
class Table:
    number: int
    title: str
    datasets: tuple[str, ...]
    columns: tuple[str, ...]
    plot: tuple[str, ...]
    combined: bool       # one table over all its datasets (Table 1), else one per dataset


@dataclass(frozen=True)
class Row:
    id: str
    table: int
    label: str
    setting: str
    overrides: Mapping[str, Any]      # its own (see ExperimentFile.row_overrides for the composed ones)
    extends: str | None
    same_as: str | None
    inference_only: bool
    paper: Mapping[str, float]


@dataclass(frozen=True)
class MissingAsset:
    """An asset a row needs that is not at its path: ``key`` is the param that names it."""
    asset: Asset
    key: str
    path: Path

    def describe(self) -> str:
        return f"{self.asset.id}: {self.asset.what}; {self.key} = {self.path} does not exist; get: {self.asset.get}"


@dataclass(frozen=True)
class Planned:
    """One experiment to queue: a row on a dataset, its DVC name and resolved overrides."""
    row: Row
    dataset: str
    name: str
    overrides: Mapping[str, Any]
    missing: tuple[MissingAsset, ...]


@dataclass(frozen=True)
class Decision:
    """What ``weakhoi tables queue`` does with a planned experiment: ``queue`` (``force``: an
    experiment of that name exists and is overwritten), ``skip`` or ``missing``."""
    planned: Planned
    action: str
    reason: str = ""
    force: bool = False


class ExperimentFile:
    """The parsed experiment file (see the file's header for its rules)."""

    def __init__(self, path: Path, metrics_file: str, columns: dict[str, Column], report_params: tuple[str, ...],
                 base: dict[str, Any], assets: dict[str, Asset], datasets: dict[str, Dataset],
                 tables: dict[int, Table], rows: dict[str, Row], seed_param: str | None = None) -> None:
        self.path, self.metrics_file, self.columns = path, metrics_file, columns
        self.report_params, self.base, self.assets = report_params, base, assets
        self.datasets, self.tables, self.rows = datasets, tables, rows
        self.seed_param = seed_param      # the param a seed replicate (`queue --seed N`) sets

    def err(self, where: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {msg}")

    def table_rows(self, number: int) -> list[Row]:
        return [r for r in self.rows.values() if r.table == number]

    def applies(self, row: Row, dataset: str) -> bool:
        return dataset in self.tables[row.table].datasets

    def row_overrides(self, row_id: str) -> dict[str, Any]:
        """The overrides that define a row: ``base``, then the rows it extends (farthest first),
        then its own; a ``same_as`` row has its target's."""
        row = self.rows[row_id]
        if row.same_as:
            return self.row_overrides(row.same_as)
        out = self.row_overrides(row.extends) if row.extends else dict(self.base)
        out.update(row.overrides)
        return out

    def overrides(self, row_id: str, dataset: str) -> dict[str, Any]:
        """Every override of a row's experiment on ``dataset`` (placeholders unresolved): base,
        the dataset's, then the row's chain (row keys win over the dataset's)."""
        out = dict(self.base)
        out.update(self.datasets[dataset].overrides)
        out.update(self.row_overrides(row_id))
        return out

    def alias_of(self, row: Row, dataset: str) -> Row | None:
        """The row whose experiment ``row`` is on ``dataset`` (``same_as``), or None."""
        if row.same_as and self.applies(self.rows[row.same_as], dataset):
            target = self.rows[row.same_as]
            return self.alias_of(target, dataset) or target
        return None

    def experiment_name(self, row: Row, dataset: str, seed: int | None = None) -> str:
        """``<row>-<dataset>`` (the row a ``same_as`` row stands for), ``-s<seed>`` appended for
        a seed replicate (the same experiment with ``seed_param`` set to ``seed``)."""
        target = self.alias_of(row, dataset)
        return f"{(target or row).id}-{dataset}" + ("" if seed is None else f"-s{seed}")

    def replicate_names(self, name: str, names: Iterable[str]) -> list[str]:
        """The seed replicates of experiment ``name`` among ``names`` (``<name>-s<N>``), by seed."""
        found = []
        for n in names:
            m = _SEED_SUFFIX.match(n)
            if m and m["name"] == name:
                found.append((int(m["seed"]), n))
        return [n for _, n in sorted(found)]

    def inference_base(self, row: Row) -> Row | None:
        """The row whose trained model ``row`` shares (``inference_only``), else None."""
        return self.rows[row.extends] if row.inference_only and row.extends else None

    def resolve(self, overrides: Mapping[str, Any], dataset: str, root: Path) -> dict[str, Any]:
        """``overrides`` with every ``{asset:ID}`` replaced by the asset's path under ``root``."""
        out = {}
        for key, value in overrides.items():
            asset = asset_ref(value)
            out[key] = str(self.assets[asset].location(root, dataset)) if asset else value
        return out

    def missing_assets(self, overrides: Mapping[str, Any], dataset: str, root: Path) -> tuple[MissingAsset, ...]:
        """The assets named by ``overrides`` that do not exist under ``root``."""
        out = []
        for key, value in overrides.items():
            asset = asset_ref(value)
            if asset and not self.assets[asset].exists(root, dataset):
                out.append(MissingAsset(self.assets[asset], key, self.assets[asset].location(root, dataset)))
        return tuple(out)


def asset_ref(value: Any) -> str | None:
    """The asset id of a ``"{asset:ID}"`` value, else None."""
    m = _ASSET.match(value) if isinstance(value, str) else None
    return m.group(1) if m else None


# --------------------------------------------------------------------------- reading the file

def valid_ref_name(name: str) -> bool:
    """Whether ``name`` is a valid one-level git ref name (``git check-ref-format``; DVC's rule
    for experiment names, which may not contain '/')."""
    bad = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]")
    return bool(name) and not (bad.search(name) or ".." in name or "@{" in name or name == "@"
                               or name.startswith((".", "-")) or name.endswith((".", ".lock")))


def _mapping(value: Any, err) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise err(f"must be a mapping, got {value!r}")
    return dict(value)


def _strings(value: Any, err) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise err(f"must be a list of strings, got {value!r}")
    return tuple(value)


def _check_value(value: Any, err) -> None:
    """An override value: a scalar, null, or a list of scalars (what ``-S`` can express)."""
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, float) and not math.isfinite(value):
        raise err(f"must be a finite number, got {value!r}")
    if isinstance(value, list):
        if not all(isinstance(v, scalar) and not isinstance(v, list) for v in value):
            raise err(f"a list value may hold scalars only, got {value!r}")
    elif not isinstance(value, scalar):
        raise err(f"must be a scalar, null or a list, got {value!r}")
    if isinstance(value, str) and "{asset:" in value and not asset_ref(value):
        raise err(f"an asset placeholder must be the whole value, '{{asset:ID}}', got {value!r}")


def _overrides(value: Any, err, assets: Mapping[str, Asset]) -> dict[str, Any]:
    out = _mapping(value, err)
    for key, v in out.items():
        kerr = lambda msg, key=key: err(f"key {key!r}: {msg}")  # noqa: E731
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$", key):
            raise err(f"key {key!r}: must be a dotted param name such as train.model.ktn")
        _check_value(v, kerr)
        a = asset_ref(v)
        if a and a not in assets:
            raise kerr(f"unknown asset {a!r} (assets: {', '.join(sorted(assets))})")
    return out


def load_experiments(path: Path | str = EXPERIMENTS_FILE) -> ExperimentFile:
    """Read and check the experiment file's structure (ConfigError naming the file, the row or
    section, and the key). Values are checked against params.yaml by
    ``pipeline.experiments_check.check_against_params``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the experiment file ({e})") from None
    err = lambda where: (lambda msg: ConfigError(f"{path}: {where}: {msg}"))  # noqa: E731
    doc = _mapping(doc, err("top level"))
    unknown = sorted(set(doc) - set(_TOP))
    if unknown:
        raise err("top level")(f"unknown key(s) {', '.join(map(str, unknown))} (allowed: {', '.join(_TOP)})")
    for key in _TOP:
        if key not in doc and key not in _OPTIONAL:
            raise err("top level")(f"missing key {key!r}")
    if doc["version"] != 1:
        raise err("version")(f"must be 1, got {doc['version']!r}")
    if not isinstance(doc["metrics_file"], str) or not doc["metrics_file"]:
        raise err("metrics_file")(f"must be a path, got {doc['metrics_file']!r}")

    columns: dict[str, Column] = {}
    for key, c in _mapping(doc["columns"], err("columns")).items():
        c = _mapping(c, err(f"columns.{key}"))
        if set(c) != {"label", "metric", "layout"} or c["layout"] not in LAYOUTS:
            raise err(f"columns.{key}")(f"needs label, metric and layout ({' or '.join(LAYOUTS)}), got {c!r}")
        columns[key] = Column(str(key), str(c["label"]), str(c["metric"]), c["layout"])
    report = _strings(doc.get("report_params", []), err("report_params"))
    seed_param = doc.get("seed_param")
    if seed_param is not None and (not isinstance(seed_param, str) or not seed_param):
        raise err("seed_param")(f"must be a dotted param key (e.g. train.seed), got {seed_param!r}")

    assets: dict[str, Asset] = {}
    for key, a in _mapping(doc["assets"], err("assets")).items():
        e = err(f"asset {key}")
        a = _mapping(a, e)
        bad = sorted(set(a) - {"what", "path", "get", "kind"})
        if bad or not all(isinstance(a.get(k), str) and a.get(k) for k in ("what", "path", "get")):
            raise e(f"needs what, path and get (strings) and an optional kind, got {a!r}")
        kind = a.get("kind", "file")
        if kind not in ASSET_KINDS:
            raise e(f"kind must be one of {', '.join(ASSET_KINDS)}, got {kind!r}")
        if Path(a["path"]).is_absolute() or ".." in Path(a["path"]).parts:
            raise e(f"path must be relative to the assets root, got {a['path']!r}")
        assets[str(key)] = Asset(str(key), a["path"], kind, a["what"], a["get"])

    base = _overrides(doc["base"], err("base"), assets)
    datasets: dict[str, Dataset] = {}
    for key, d in _mapping(doc["datasets"], err("datasets")).items():
        e = err(f"dataset {key}")
        d = _mapping(d, e)
        if set(d) - {"name", "layout", "note", "overrides"} or d.get("layout") not in LAYOUTS:
            raise e(f"needs name, layout ({' or '.join(LAYOUTS)}), note and overrides, got keys {sorted(d)}")
        ov = _overrides(d.get("overrides"), e, assets)
        clash = sorted(set(ov) & set(base))
        if clash:
            raise e(f"key {clash[0]!r}: set by base (the rows' switches); a dataset may not change it")
        datasets[str(key)] = Dataset(str(key), str(d.get("name", key)), d["layout"], str(d.get("note", "")), ov)

    tables: dict[int, Table] = {}
    for key, t in _mapping(doc["tables"], err("tables")).items():
        e = err(f"table {key}")
        t = _mapping(t, e)
        if not isinstance(key, int) or set(t) - {"title", "datasets", "combined", "columns", "plot"}:
            raise e(f"tables are numbered and have title, datasets, columns, plot and optional combined; got {sorted(t)}")
        ds, cols, plot = (_strings(t.get(k), err(f"table {key}: {k}")) for k in ("datasets", "columns", "plot"))
        for d in ds:
            if d not in datasets:
                raise e(f"unknown dataset {d!r} (datasets: {', '.join(datasets)})")
        for c in cols + plot:
            if c not in columns:
                raise e(f"unknown column {c!r} (columns: {', '.join(columns)})")
        if set(plot) - set(cols):
            raise e("plot must list some of its columns")
        combined = bool(t.get("combined", False))
        layouts = {datasets[d].layout for d in ds}
        for c in cols:
            if columns[c].layout not in layouts:
                raise e(f"column {c!r} needs a {columns[c].layout} dataset")
        if combined and len(layouts) != len(ds):
            raise e("a combined table takes one dataset per layout")
        if not combined and len(layouts) != 1:
            raise e("a table over datasets of several layouts must be combined: true")
        tables[key] = Table(key, str(t["title"]), ds, cols, plot, combined)

    rows: dict[str, Row] = {}
    raw_rows = doc["rows"]
    if not isinstance(raw_rows, list):
        raise err("rows")(f"must be a list, got {type(raw_rows).__name__}")
    ids = {r.get("id") for r in raw_rows if isinstance(r, Mapping)}
    for i, r in enumerate(raw_rows):
        r = _mapping(r, err(f"rows[{i}]"))
        rid = r.get("id")
        if not isinstance(rid, str) or not _ROW_ID.match(rid):
            raise err(f"rows[{i}]")(f"id must be lower-case letters, digits and '-', got {rid!r}")
        e = err(f"row {rid}")
        if rid in rows:
            raise e("duplicate row id")
        bad = sorted(set(r) - set(_ROW_KEYS))
        if bad:
            raise e(f"unknown key(s) {', '.join(bad)} (allowed: {', '.join(_ROW_KEYS)})")
        if r.get("table") not in tables:
            raise e(f"table must be one of {', '.join(map(str, tables))}, got {r.get('table')!r}")
        for k in ("label", "setting"):
            if not isinstance(r.get(k), str) or not r[k]:
                raise e(f"{k} must be a non-empty string")
        for k in ("extends", "same_as"):
            if r.get(k) is not None and r[k] not in ids:
                raise e(f"{k}: {r[k]!r} is not a row of the file")
        if r.get("same_as") and (r.get("extends") or r.get("overrides") or r.get("inference_only")):
            raise e("same_as takes no extends, overrides or inference_only (it is the other row)")
        if r.get("inference_only") and not r.get("extends"):
            raise e("inference_only needs extends (the row whose trained model it shares)")
        if not isinstance(r.get("inference_only", False), bool):
            raise e("inference_only must be true or false")
        table = tables[r["table"]]
        paper = _mapping(r.get("paper"), err(f"row {rid}: paper"))
        for c, v in paper.items():
            if c not in table.columns:
                raise e(f"paper: column {c!r} is not a column of table {table.number} ({', '.join(table.columns)})")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise e(f"paper: {c} must be a number, got {v!r}")
        if set(table.columns) - set(paper):
            raise e(f"paper: missing {', '.join(c for c in table.columns if c not in paper)}")
        row = Row(rid, table.number, r["label"], r["setting"], _overrides(r.get("overrides"), e, assets),
                  r.get("extends"), r.get("same_as"), bool(r.get("inference_only", False)),
                  {c: float(v) for c, v in paper.items()})
        rows[rid] = row
        for d in table.datasets:
            name = f"{rid}-{d}"
            if not valid_ref_name(name):
                raise e(f"experiment name {name!r} is not a valid git ref name")
    for row in rows.values():                       # extends / same_as chains end
        seen, r = [row.id], row
        while r.extends or r.same_as:
            r = rows[r.extends or r.same_as]
            if r.id in seen:
                raise err(f"row {row.id}")(f"extends / same_as form a cycle: {' -> '.join(seen + [r.id])}")
            seen.append(r.id)
    return ExperimentFile(path, doc["metrics_file"], columns, report, base, assets, datasets, tables, rows,
                          seed_param)


# --------------------------------------------------------------------------- planning a batch

def select_rows(ef: ExperimentFile, tables: Sequence[int] | None = None,
                rows: Sequence[str] | None = None) -> list[Row]:
    """The rows of ``tables`` (all when None) or the rows named in ``rows`` (ConfigError for an
    unknown table or row)."""
    for t in tables or ():
        if t not in ef.tables:
            raise ConfigError(f"unknown table {t} (tables: {', '.join(map(str, ef.tables))})")
    for r in rows or ():
        if r not in ef.rows:
            raise ConfigError(f"unknown row {r!r} (rows: {', '.join(ef.rows)})")
    if rows:
        return [ef.rows[r] for r in rows]
    return [r for r in ef.rows.values() if not tables or r.table in tables]


def plan(ef: ExperimentFile, selected: Iterable[Row], dataset: str, root: Path,
         extra: Mapping[str, Any] | None = None, seeds: Sequence[int] | None = None,
         default_seed: Any = None) -> list[Planned]:
    """The experiments of ``selected`` on ``dataset`` (rows that do not run there are left out;
    a ``same_as`` alias becomes its target's experiment, listed once), with the assets under
    ``root`` resolved and checked. ``extra`` overrides go to every experiment (they may not
    change a row's switches). ``seeds``: instead of the rows' experiments, their seed
    replicates ``<name>-s<N>`` with the file's ``seed_param`` set to N (``default_seed``, the
    value params.yaml gives it, is refused: that run is the row's experiment itself).
    Experiments that train come first, ``inference_only`` ones after them (the queue runs
    roughly in order, so their model is then in the run-cache)."""
    if dataset not in ef.datasets:
        raise ConfigError(f"unknown dataset {dataset!r} (datasets: {', '.join(ef.datasets)})")
    extra, selected = dict(extra or {}), list(selected)      # iterated once per seed
    if seeds:
        if not ef.seed_param:
            raise ConfigError(f"{ef.path}: no seed_param, so rows have no seed replicates")
        if ef.seed_param in extra:
            raise ConfigError(f"--set {ef.seed_param}: give seeds with --seed (they name the replicates)")
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ConfigError(f"--seed {seed!r}: a seed is a non-negative integer")
            if seed == default_seed:
                raise ConfigError(f"--seed {seed}: {ef.seed_param} is {seed} in params.yaml already, so the "
                                  f"rows' own experiments are that seed; give other seeds")
    out: dict[str, Planned] = {}
    for seed in (list(dict.fromkeys(seeds)) if seeds else [None]):
        for row in selected:
            if not ef.applies(row, dataset):
                continue
            row = ef.alias_of(row, dataset) or row
            name = ef.experiment_name(row, dataset, seed)
            if name in out:
                continue
            ov = ef.overrides(row.id, dataset)
            own = ef.row_overrides(row.id)
            for key, value in {**extra, **({ef.seed_param: seed} if seed is not None else {})}.items():
                if key in own:
                    raise ConfigError(f"--set {key}: set by row {row.id} of {ef.path}; the rows' switches "
                                      f"are changed in the file, not on the command line")
                ov[key] = value
            out[name] = Planned(row, dataset, name, ef.resolve(ov, dataset, root),
                                ef.missing_assets(ov, dataset, root))
    return sorted(out.values(), key=lambda p: p.row.inference_only)


DONE_STATES = ("done",)
ACTIVE_STATES = ("queued", "running")


def decide(planned: Sequence[Planned], existing: Mapping[str, str], force: bool = False) -> list[Decision]:
    """What to do with each planned experiment, given the states of the experiments that exist
    (name -> done | queued | running | failed; ``pipeline.paper_tables.parse_exp_show``).
    Two planned experiments with one name are refused (DVC would silently keep only one of
    them); names in the queue are skipped; done ones are skipped unless ``force`` (then queued
    with ``-f``, which overwrites on completion); failed ones are queued again; rows with
    missing assets are not queued."""
    seen: dict[str, Planned] = {}
    for p in planned:
        if p.name in seen:
            raise ConfigError(f"experiment name {p.name!r} twice in one batch (rows {seen[p.name].row.id} "
                              f"and {p.row.id}): DVC would keep only one of the runs")
        seen[p.name] = p
    out = []
    for p in planned:
        state = existing.get(p.name)
        if p.missing:
            out.append(Decision(p, "missing", "missing: " + ", ".join(m.asset.id for m in p.missing)))
        elif state in ACTIVE_STATES:
            out.append(Decision(p, "skip", f"already {state}"))
        elif state in DONE_STATES and not force:
            out.append(Decision(p, "skip", "already run (--force runs it again)"))
        else:
            out.append(Decision(p, "queue", "re-run" if state in DONE_STATES else "", force=state in DONE_STATES))
    return out


# --------------------------------------------------------------------------- -S arguments

_BARE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./+-]*$")
_KEYWORDS = {"true", "false", "null", "nan", "inf", "int", "float", "str", "bool", "json_str", "choice",
             "range", "interval", "sort", "shuffle", "tag", "glob", "extend_list"}


def hydra_value(value: Any) -> str:
    """``value`` in the Hydra override grammar that ``dvc exp run -S key=value`` parses: bare
    strings where that is unambiguous, single-quoted otherwise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if _BARE.match(value) and value.lower() not in _KEYWORDS:
            return value
        # quoted: a quote is escaped; backslashes are literal except before a quote or the end
        return "'" + re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value) + "'"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} as a -S value")


def set_args(overrides: Mapping[str, Any]) -> list[str]:
    """``["-S", "key=value", ...]`` in key order."""
    args: list[str] = []
    for key in sorted(overrides):
        args += ["-S", f"{key}={hydra_value(overrides[key])}"]
    return args


def queue_args(decision: Decision) -> list[str]:
    """The arguments of ``dvc`` that queue ``decision``'s experiment."""
    p = decision.planned
    return ["exp", "run", "--queue", "--name", p.name, *(["-f"] if decision.force else []), *set_args(p.overrides)]
