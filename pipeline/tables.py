"""The paper's Tables 1-5 as DVC experiments: `queue` puts the rows of pipeline/experiments.yaml
into DVC's experiment queue (one experiment per row and dataset, named after the row), `run`
runs the queue and waits, `render` writes each table as Markdown with the measured numbers next
to the paper's, and a bar chart. Run them in the project's root; they call `dvc` (the one next
to this Python). Rows whose assets (weights, banks, datasets) are missing are reported with
what to provide, never queued, and rendered as missing. README, "Reproducing the paper".
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

import typer

from weakhoi.errors import ConfigError, DataError

from .experiments import EXPERIMENTS_FILE, Decision, decide, load_experiments, plan, queue_args, select_rows
from .experiments_check import lookup
from .params import DEFAULT_PARAMS, load_params

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help=__doc__)

_FILE_HELP = "The experiment file."
_ASSETS_HELP = ("Root of the assets (weights, banks, datasets; layout in the experiment file), made "
                "absolute. Default: $WEAKHOI_ASSETS, else ./assets.")


def assets_root(given: Optional[Path]) -> Path:
    """--assets, else $WEAKHOI_ASSETS, else ./assets; absolute (queued runs work in temporary
    copies of the project)."""
    root = given or Path(os.environ.get("WEAKHOI_ASSETS") or "assets")
    return root.expanduser().resolve()


def dvc(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m dvc ARGS`` in the current directory (ConfigError with DVC's message when
    it fails and ``check``)."""
    if not Path(".dvc").is_dir():
        raise ConfigError(f"no DVC project in {Path.cwd()} (.dvc/ missing): run this in the project's root")
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=capture, text=True, env=env)
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise ConfigError(f"dvc {' '.join(args[:3])} ... failed: {msg[-1] if msg else f'exit {proc.returncode}'}")
    return proc


def exp_show(all_commits: bool = False) -> Any:
    """The parsed ``dvc exp show --json`` of the project."""
    proc = dvc("exp", "show", "--json", *(["-A"] if all_commits else []))
    try:
        return json.loads(proc.stdout)
    except ValueError as e:
        raise DataError(f"dvc exp show --json printed no JSON ({e})") from None


def _load(file: Path, params: Path | None):
    from .experiments_check import check_against_params, load_dvc_yaml

    ef = load_experiments(file)
    if params is not None:
        check_against_params(ef, load_params(params), load_dvc_yaml())
    return ef


def _parse_sets(items: List[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value) if value else ""
    return out


def _report(d: Decision) -> str:
    p = d.planned
    if d.action == "missing":
        lines = [f"missing  {p.name}: not queued; provide:"]
        seen = set()
        for m in p.missing:
            if m.asset.id not in seen:
                seen.add(m.asset.id)
                lines.append(f"           {m.describe()}")
        return "\n".join(lines)
    if d.action == "skip":
        return f"skip     {p.name}: {d.reason}"
    return f"queue    {p.name}" + (" (overwrites the finished run)" if d.force else "")


@app.command("queue")
def queue(
    table: List[int] = typer.Option([], "--table", "-t", help="Table number (repeatable; default: all tables)."),
    row: List[str] = typer.Option([], "--row", "-r", help="Row id, e.g. t2-exp4 (repeatable; instead of --table)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="synhoi, hicodet or vcoco (default: "
                                          "dataset.name of --params). Rows that do not run there are left out."),
    assets: Optional[Path] = typer.Option(None, "--assets", help=_ASSETS_HELP),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE added to every queued experiment, e.g. "
                                   "train.amp=bf16 (repeatable; not the rows' switches)."),
    seed: List[int] = typer.Option([], "--seed", "-s", min=0, help="Queue seed replicates instead: "
                                   "`<row>-<dataset>-s<N>` with the file's seed_param (train.seed) set to N "
                                   "(repeatable; render shows mean ± sd over a row's seeds)."),
    force: bool = typer.Option(False, "--force", help="Queue rows whose experiment already finished again "
                               "(the new run replaces it)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the dvc commands instead of queueing."),
    file: Path = typer.Option(EXPERIMENTS_FILE, "--file", help=_FILE_HELP),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml the overrides are checked against."),
) -> None:
    """Queue the rows as DVC experiments, one named `<row>-<dataset>` per row (`dvc exp run --queue`).

    The experiment file is checked first (every key a tracked param, every value valid for its
    stage). Experiments already queued, running or finished are skipped (DVC would otherwise
    keep only one run of a name), failed ones are queued again; rows with missing assets are
    reported with what to provide and where. Rows that share a trained model are queued after
    the row that trains it, so the run-cache gives it to them. With --seed, the rows' seed
    replicates are queued (e.g. `--seed 1 --seed 2` for a spread of three seeds with the
    rows' own runs).
    """
    ef = _load(file, params)
    if table and row:
        raise ConfigError("give --table or --row, not both")
    loaded = load_params(params)
    ds = dataset or str(loaded.get("dataset", {}).get("name", "synhoi"))
    root = assets_root(assets)
    default_seed = lookup(loaded, ef.seed_param)[1] if ef.seed_param else None
    planned = plan(ef, select_rows(ef, table or None, row or None), ds, root, _parse_sets(set_), seed, default_seed)
    if not planned:
        raise ConfigError(f"no row of the selection runs on {ds!r} (Table 1 runs on hicodet and vcoco, "
                          f"Tables 2-5 on synhoi and hicodet)")
    if dry_run:
        existing = {}
    else:
        from .paper_tables import parse_exp_show

        existing = {n: r.state for n, r in parse_exp_show(exp_show(), ef.metrics_file).items()}
    decisions = decide(planned, existing, force)
    for d in decisions:
        if d.action == "queue":
            args = queue_args(d)
            if dry_run:
                typer.echo("dvc " + " ".join(_quote(a) for a in args))
                continue
            dvc(*args)
        typer.echo(_report(d))
    counts = {a: sum(d.action == a for d in decisions) for a in ("queue", "skip", "missing")}
    verb = "would queue" if dry_run else "queued"
    typer.echo(f"{verb} {counts['queue']}, skipped {counts['skip']}, missing assets {counts['missing']} "
               f"(dataset {ds}, assets root {root})")
    if counts["queue"] and not dry_run:
        typer.echo("next: weakhoi tables run   (then: weakhoi tables render)")


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def queue_status() -> list[tuple[str, str, str]]:
    """(task id, name, status) of every task ``dvc queue status`` lists."""
    out = []
    lines = dvc("queue", "status").stdout.splitlines()
    for line in lines[1:] if lines and lines[0].split()[:1] == ["Task"] else []:
        if not line.strip():
            break
        parts = line.split()
        if len(parts) >= 3:
            out.append((parts[0], parts[1], parts[-1]))
    return out


@app.command("run")
def run(
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Experiments run at once (dvc queue start -j). "
                             "With more than one, rows that share a trained model may each train it."),
    checkpoints: Optional[Path] = typer.Option(None, "--checkpoints", help="Checkpoint root shared by the "
                                               "queued runs (default: $WEAKHOI_CHECKPOINTS, else "
                                               "./.checkpoints), made absolute."),
    poll: float = typer.Option(10.0, "--poll", min=0.5, help="Seconds between two looks at the queue."),
) -> None:
    """Run the queued experiments (`dvc queue start -j N`) and wait for them, with a progress bar.

    Sets $WEAKHOI_CHECKPOINTS to an absolute path first, so a killed run resumes from its
    checkpoints (queued runs work in temporary copies that DVC deletes). Ctrl-C stops waiting,
    not the queue (`dvc queue stop` / `dvc queue kill NAME`). Exits with status 1 when a run
    failed; `dvc queue logs NAME` shows why.
    """
    from tqdm import tqdm

    root = (checkpoints or Path(os.environ.get("WEAKHOI_CHECKPOINTS") or ".checkpoints")).expanduser().resolve()
    os.environ["WEAKHOI_CHECKPOINTS"] = str(root)
    waiting = {t for t, _, s in queue_status() if s in ("Queued", "Running")}
    if not waiting:
        typer.echo("nothing queued (weakhoi tables queue first)")
        return
    typer.echo(f"running {len(waiting)} experiments, {jobs} at a time; checkpoints in {root}")
    dvc("queue", "start", "-j", str(jobs))
    failed: list[str] = []
    bar = tqdm(total=len(waiting), unit="exp", desc="experiments")
    ended: set[str] = set()
    try:
        while True:
            tasks = queue_status()
            waiting |= {t for t, _, s in tasks if s in ("Queued", "Running")} - ended
            bar.total = len(waiting)
            for task, name, status in tasks:
                if task in waiting and task not in ended and status not in ("Queued", "Running"):
                    ended.add(task)
                    if status != "Success":
                        failed.append(name)
                    bar.update(1)
            bar.set_postfix_str(", ".join(n for t, n, s in tasks if s == "Running")[:60])
            if ended >= waiting:
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        bar.close()
        typer.echo("stopped waiting; the queue keeps running (dvc queue status / stop / kill)")
        raise typer.Exit(130)
    bar.close()
    typer.echo(f"{len(ended) - len(failed)} succeeded, {len(failed)} failed" +
               (": " + ", ".join(failed) + " (dvc queue logs NAME)" if failed else ""))
    if failed:
        raise typer.Exit(1)


@app.command("render")
def render(
    table: List[int] = typer.Option([], "--table", "-t", help="Table number (repeatable; default: all)."),
    dataset: List[str] = typer.Option([], "--dataset", "-d", help="Dataset of Tables 2-5 (repeatable; default: "
                                      "those with experiments, else synhoi). Table 1 combines hicodet and vcoco."),
    out: Path = typer.Option(Path("tables"), "--out", help="Directory for table<N>[_<dataset>].md and .png."),
    from_json: Optional[Path] = typer.Option(None, "--from-json", help="A saved `dvc exp show --json` "
                                             "output instead of asking DVC."),
    all_commits: bool = typer.Option(False, "--all-commits", "-A", help="Also experiments of earlier commits "
                                     "(dvc exp show -A; the newest finished run of a name wins)."),
    assets: Optional[Path] = typer.Option(None, "--assets", help=_ASSETS_HELP),
    file: Path = typer.Option(EXPERIMENTS_FILE, "--file", help=_FILE_HELP),
) -> None:
    """Write the tables as Markdown (measured next to the paper's numbers, row by row) and one PNG
    bar chart per table.

    Reads `dvc exp show --json` (or --from-json). A cell holds a number only for a finished
    experiment whose params carry the row's switches; other rows say why not: missing: <asset>
    (with where to put it), not run, queued, running, failed, stale.
    """
    from .paper_tables import parse_exp_show, render as render_tables

    ef = _load(file, None)
    if from_json is not None:
        try:
            doc = json.loads(from_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"{from_json}: cannot read it as JSON ({e})") from None
        records = parse_exp_show(doc, ef.metrics_file, str(from_json))
    else:
        records = parse_exp_show(exp_show(all_commits), ef.metrics_file)
    for t in table:
        if t not in ef.tables:
            raise ConfigError(f"unknown table {t} (tables: {', '.join(map(str, ef.tables))})")
    for d in dataset:
        if d not in ef.datasets:
            raise ConfigError(f"unknown dataset {d!r} (datasets: {', '.join(ef.datasets)})")
    written = render_tables(ef, records, assets_root(assets), out, table or None, dataset or None)
    for path, rows in written:
        done = sum(any(v is not None for v in r.measured.values()) for r in rows)
        typer.echo(f"wrote {path} and {path.with_suffix('.png').name}: {done} of {len(rows)} rows measured")
