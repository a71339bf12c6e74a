"""The paper's tables rendered from ``dvc exp show --json``: measured numbers next to the
paper's, row by row, as Markdown and one bar chart per table.

:func:`parse_exp_show` reads DVC 3's JSON (a list: the workspace, then each baseline commit with
its ``experiments``: ``{name, executor: {state, ...} | null, revs: [{rev, name, error, data:
{timestamp, params, metrics}}]}``) into one :class:`ExpRecord` per experiment name;
:func:`comparison_rows` turns a table of the experiment file into
``weakhoi.tables.ComparisonRow``; :func:`render` writes ``table<N>[_<dataset>].md`` and
``.png``. A row's cell is a number only for an experiment that finished (a failed run's entry
still carries the baseline's metrics: they are not shown), whose params hold the row's
switches (else "stale"); otherwise the status says why: missing assets, queued, running,
failed, not run. A row whose experiment has finished seed replicates (``<name>-s<N>``, ``weakhoi
tables queue --seed N``) shows the mean over them and its own run, with the sample standard
deviation.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from weakhoi.errors import DataError
from weakhoi.tables import Column as TableColumn
from weakhoi.tables import ComparisonRow, comparison_markdown, comparison_plot

from .experiments import ExperimentFile, Row, Table, asset_ref
from .experiments_check import lookup

#: Order in which several entries of one name are preferred (a finished run first).
_RANK = {"done": 0, "running": 1, "queued": 2, "failed": 3}


@dataclass(frozen=True)
class ExpRecord:
    """One experiment of ``dvc exp show --json``: ``state`` is done, queued, running, failed
    (or DVC's word for another state); ``metrics`` the metrics file's data (empty unless done)."""
    name: str
    state: str
    rev: str
    baseline: str
    timestamp: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any]


def _state(exp: Mapping[str, Any], rev: Mapping[str, Any]) -> str:
    executor = exp.get("executor")
    if not executor:
        return "failed" if rev.get("error") else "done"
    state = str(executor.get("state", "unknown"))
    return {"success": "done"}.get(state, state)


def parse_exp_show(doc: Any, metrics_file: str, source: str = "dvc exp show --json") -> dict[str, ExpRecord]:
    """The experiments of a ``dvc exp show --json`` document by name (the workspace and the
    baseline commits themselves are not experiments). Of several entries with one name (e.g.
    from several baselines with ``-A``), a finished one wins, the newest of them."""
    def bad(msg: str) -> DataError:
        return DataError(f"{source}: not DVC 3's `dvc exp show --json` output: {msg}")

    if not isinstance(doc, list):
        raise bad("the top level must be a list")
    found: dict[str, ExpRecord] = {}
    for i, entry in enumerate(doc):
        if not isinstance(entry, Mapping) or "rev" not in entry:
            raise bad(f"entry {i} has no 'rev'")
        if entry["rev"] == "workspace":
            continue
        exps = entry.get("experiments") or []
        if not isinstance(exps, list):
            raise bad(f"entry {i} ({entry['rev']}): 'experiments' must be a list")
        for exp in exps:
            revs = exp.get("revs") if isinstance(exp, Mapping) else None
            if not isinstance(revs, list) or not revs or not isinstance(revs[0], Mapping):
                raise bad(f"an experiment of {entry['rev']} has no 'revs'")
            rev = revs[0]
            name = exp.get("name") or rev.get("name")
            if not name:
                continue                      # an unnamed run cannot be a row's experiment
            data = rev.get("data") or {}
            state = _state(exp, rev)
            params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
            metrics = ((data.get("metrics") or {}).get(metrics_file) or {}).get("data") or {}
            rec = ExpRecord(str(name), state, str(rev.get("rev", "")), str(entry["rev"]),
                            str(data.get("timestamp") or ""), params, metrics if state == "done" else {})
            old = found.get(rec.name)
            if old is None or (_RANK.get(rec.state, 9), _neg(rec.timestamp)) < (_RANK.get(old.state, 9), _neg(old.timestamp)):
                found[rec.name] = rec
    return found


def _neg(timestamp: str) -> tuple:
    """Sort key: newer first."""
    return tuple(-ord(c) for c in timestamp)


def _stale(ef: ExperimentFile, row: Row, rec: ExpRecord) -> str | None:
    """Why ``rec`` is not an experiment of ``row`` (a switch of the row has another value in its
    params), or None. Asset paths are not compared (they depend on the machine)."""
    for key, want in sorted(ef.row_overrides(row.id).items()):
        if asset_ref(want):
            continue
        found, value = lookup(rec.params, key)
        if not found or value != want or isinstance(value, bool) != isinstance(want, bool):
            return f"stale: its {key} is {value!r}, the row sets {want!r}"
    return None


@dataclass(frozen=True)
class _Status:
    """A row's state on one dataset: ``text`` for the table, ``kind`` (its first word) for the
    counts, and the assets it misses."""
    text: str
    kind: str
    missing: tuple = ()


def _status(ef: ExperimentFile, row: Row, dataset: str, rec: ExpRecord | None, root: Path) -> _Status:
    target = ef.alias_of(row, dataset) or row
    missing: tuple = ()
    if rec is not None and rec.state == "done":
        stale = _stale(ef, target, rec)
        if stale:
            return _Status(stale, "stale")
        kind = text = "done"
    else:
        missing = ef.missing_assets(ef.overrides(target.id, dataset), dataset, root)
        if missing:
            kind, text = "missing", "missing: " + ", ".join(dict.fromkeys(m.asset.id for m in missing))
        else:
            kind = text = rec.state if rec is not None else "not run"
            if kind == "failed":
                text = f"failed (dvc queue logs {rec.name})"
    if target is not row:
        text += f" (= {target.label}" + ("" if target.table == row.table else f", Table {target.table}") + ")"
    base = ef.inference_base(target)
    if base is not None:
        text += f"; model of {base.label}"
    return _Status(text, kind, missing)


def _metric(rec: ExpRecord | None, metric: str) -> float | None:
    found, value = lookup(rec.metrics, metric) if rec is not None else (False, None)
    return float(value) if found and isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _sources(ef: ExperimentFile, table: Table, dataset: str | None) -> dict[str, str]:
    """Column -> the dataset its values come from (a combined table: its dataset of the
    column's layout)."""
    if not table.combined:
        return {c: dataset for c in table.columns}
    by_layout = {ef.datasets[d].layout: d for d in table.datasets}
    return {c: by_layout[ef.columns[c].layout] for c in table.columns}


def _runs(ef: ExperimentFile, row: Row, dataset: str, records: Mapping[str, ExpRecord],
          status: _Status) -> tuple[list[ExpRecord], str]:
    """The finished runs a row's cells average on ``dataset`` (its experiment, when done, and
    its finished seed replicates ``<name>-s<N>`` that carry the row's switches) and what the
    status adds about the seeds ("" without replicates)."""
    if status.kind != "done":
        return [], ""
    target = ef.alias_of(row, dataset) or row
    name = ef.experiment_name(row, dataset)
    runs, others = [records[name]], []
    for n in ef.replicate_names(name, records):
        rec, seed = records[n], n.rsplit("-s", 1)[1]
        if rec.state != "done":
            others.append(f"s{seed} {rec.state}")
        elif _stale(ef, target, rec) is not None:
            others.append(f"s{seed} stale")
        else:
            runs.append(rec)
    if len(runs) == 1 and not others:
        return runs, ""
    seeds = [lookup(r.params, ef.seed_param)[1] if ef.seed_param else "?" for r in runs]
    text = f"; mean ± sd of {len(runs)} seeds ({', '.join(map(str, seeds))})" if len(runs) > 1 else ""
    return runs, text + ("; " + ", ".join(others) if others else "")


def _mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None below two values) of the values that exist."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None


def comparison_rows(ef: ExperimentFile, table: Table, dataset: str | None, records: Mapping[str, ExpRecord],
                    root: Path) -> list[tuple[ComparisonRow, list[_Status]]]:
    """The rows of ``table`` on ``dataset`` (None for a combined table), each with its status on
    every dataset it draws from. A row with finished seed replicates shows their mean (with the
    row's own run) and sample standard deviation."""
    sources = _sources(ef, table, dataset)
    datasets = list(dict.fromkeys(sources.values()))
    out = []
    for row in ef.table_rows(table.number):
        names = {d: ef.experiment_name(row, d) for d in datasets}
        status = {d: _status(ef, row, d, records.get(names[d]), root) for d in datasets}
        runs = {}
        for d in datasets:
            runs[d], extra = _runs(ef, row, d, records, status[d])
            if extra:
                status[d] = _Status(status[d].text + extra, status[d].kind, status[d].missing)
        stats = {c: _mean_sd([_metric(r, ef.columns[c].metric) for r in runs[d]]) for c, d in sources.items()}
        measured = {c: m for c, (m, _) in stats.items()}
        spread = {c: sd for c, (_, sd) in stats.items() if sd is not None} or None
        if len(datasets) > 1:
            text = "; ".join(f"{ef.datasets[d].name}: {status[d].text}" for d in datasets)
        else:
            text = status[datasets[0]].text
        per_column = {c: status[d].text for c, d in sources.items()} if len(datasets) > 1 else None
        out.append((ComparisonRow(row.label, row.setting, tuple(names.values()), measured, dict(row.paper), text,
                                  per_column, spread), list(status.values())))
    return out


def _notes(ef: ExperimentFile, table: Table, datasets: Sequence[str], statuses: Sequence[_Status],
           records: Mapping[str, ExpRecord]) -> list[str]:
    notes = [ef.datasets[d].note for d in datasets if ef.datasets[d].note]
    metrics = [ef.columns[c] for c in table.columns]
    hico = [c.label for c in metrics if c.layout == "hico"]
    vcoco = [c.label for c in metrics if c.layout == "vcoco"]
    if hico:
        notes.append(f"{' / '.join(hico)}: mAP in percent, Default setting (`{ef.metrics_file}`).")
    if vcoco:
        notes.append(f"{' / '.join(vcoco)}: role AP in percent, scenario 1 / 2 (`{ef.metrics_file}`).")
    used: dict[str, list[str]] = {}
    for row in ef.table_rows(table.number):
        for d in datasets:
            rec = records.get(ef.experiment_name(row, d))
            if rec is not None and rec.state == "done" and _stale(ef, ef.alias_of(row, d) or row, rec) is None:
                for key in ef.report_params:
                    found, value = lookup(rec.params, key)
                    text = repr(value) if found else "(not set)"
                    if text not in used.setdefault(key, []):
                        used[key].append(text)
    if used:
        notes.append("Measured with " + "; ".join(f"{k} = {', '.join(v)}" for k, v in used.items()) + ".")
    missing = {}
    for s in statuses:
        for m in s.missing:
            missing.setdefault(m.asset.id, f"missing {m.asset.id}: {m.asset.what}, expected at `{m.path}` "
                                           f"(param {m.key}); get: {m.asset.get}.")
    return notes + list(missing.values())


def datasets_to_render(ef: ExperimentFile, table: Table, records: Mapping[str, ExpRecord],
                       wanted: Sequence[str] | None = None) -> list[str | None]:
    """The datasets ``table`` is rendered for: ``[None]`` for a combined table; else those of
    ``wanted`` it runs on, or (default) those with at least one experiment of the table, or its
    first dataset."""
    if table.combined:
        return [None]
    if wanted:
        return [d for d in wanted if d in table.datasets]
    have = [d for d in table.datasets
            if any(ef.experiment_name(r, d) in records for r in ef.table_rows(table.number))]
    return have or [table.datasets[0]]


def render_table(ef: ExperimentFile, table: Table, dataset: str | None, records: Mapping[str, ExpRecord],
                 root: Path) -> tuple[str, list[ComparisonRow], list[TableColumn]]:
    """(Markdown section, rows, columns) of one table on one dataset (None: combined)."""
    pairs = comparison_rows(ef, table, dataset, records, root)
    rows = [r for r, _ in pairs]
    statuses = [s for _, ss in pairs for s in ss]
    columns = [TableColumn(c, ef.columns[c].label) for c in table.columns]
    datasets = list(table.datasets) if dataset is None else [dataset]
    title = table.title if dataset is None else f"{table.title} ({ef.datasets[dataset].name})"
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    intro = ["Measured by this project (`dvc exp show`) next to the paper's numbers. Row status"
             + (" (per dataset)" if dataset is None else "") + ": "
             + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + "."]
    notes = _notes(ef, table, datasets, statuses, records)
    if any(r.spread for r in rows):
        notes.append(f"a ± b: mean ± sample standard deviation over the row's finished runs with different "
                     f"{ef.seed_param} (its own run and its seed replicates, `weakhoi tables queue --seed N`); "
                     f"the other cells are one run.")
    md = comparison_markdown(title, columns, rows, intro, notes)
    return md, rows, columns


def output_stem(table: Table, dataset: str | None) -> str:
    return f"table{table.number}" + (f"_{dataset}" if dataset else "")


def render(ef: ExperimentFile, records: Mapping[str, ExpRecord], root: Path, out_dir: Path,
           tables: Sequence[int] | None = None, datasets: Sequence[str] | None = None) -> list[tuple[Path, list[ComparisonRow]]]:
    """Write ``<out_dir>/table<N>[_<dataset>].md`` and ``.png`` for each selected table; returns
    the Markdown paths with their rows."""
    from weakhoi.artifacts import PNG_KIND, atomic_output, check_replaceable

    written = []
    for number in tables or sorted(ef.tables):
        table = ef.tables[number]
        for d in datasets_to_render(ef, table, records, datasets):
            md, rows, columns = render_table(ef, table, d, records, root)
            stem = out_dir / output_stem(table, d)
            md_path, png_path = stem.with_suffix(".md"), stem.with_suffix(".png")
            check_replaceable(md_path, "file:text")
            check_replaceable(png_path, PNG_KIND)
            with atomic_output(md_path, "file:text") as tmp:
                tmp.write_text(md, encoding="utf-8")
            label = "measured" if d is None else f"measured ({ef.datasets[d].name})"
            plot_cols = [c for c in columns if c.key in table.plot]
            title = table.title if d is None else f"{table.title} ({ef.datasets[d].name})"
            comparison_plot(png_path, title, plot_cols, rows, legend=(label, "paper" if d is None else "paper (HICO-DET)"))
            written.append((md_path, rows))
    return written
