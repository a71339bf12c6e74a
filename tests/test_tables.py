"""The paper's tables as DVC experiments (issue 11): the experiment file names every row of
Tables 1-5 with the paper's numbers and switches, every override is a tracked param with a
valid value, rows differing only at inference share a trained model, the queue never puts one
name twice into a batch, and rendering a recorded `dvc exp show --json` (DVC 3 format, built by
hand: tests/data/exp_show_tables.json) is exact, with missing-asset rows marked."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.experiments import (Decision, decide, hydra_value, load_experiments, plan, queue_args, select_rows,
                                  set_args, valid_ref_name)
from pipeline.experiments_check import (check_against_params, is_inference_key, load_dvc_yaml, lookup,
                                        training_overrides)
from pipeline.paper_tables import parse_exp_show, render_table
from pipeline.params import load_params
from weakhoi.errors import ConfigError, DataError
from weakhoi.plots import MEASURED_COLOUR, REFERENCE_COLOUR, WHISKER_COLOUR, BarPair, bar_pairs_png
from weakhoi.tables import Column as TableColumn
from weakhoi.tables import bar_pairs

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "pipeline" / "experiments.yaml"
DATA = Path(__file__).resolve().parent / "data"
FIXTURE = DATA / "exp_show_tables.json"
NO_ASSETS = Path("/nonexistent-weakhoi-assets")     # fixed, so rendered paths are reproducible

# The paper's rows, in its order (Tables 1-5).
PAPER_ROWS = {
    1: ["ours RN50", "ours RN101"],
    2: ["baseline"] + [f"Exp {i}" for i in range(1, 8)] + ["ours", "Exp 8", "Exp 9", "Exp 10"],
    3: ["Abl 1", "Abl 2", "Abl 3", "Abl 4", "ours"],
    4: ["Exp 11", "Exp 12", "Exp 13", "ours"],
    5: ["Top-5", "Top-2", "ours (Top-1)"],
}
# Table 2 / 4 columns of the paper: HOI recognition, KTN, score fusion, SRC, backbone, bank.
PAPER_SWITCHES = {
    "t2-baseline": (False, "none", False, False, "clip", "clip"),
    "t2-exp1": (True, "none", False, False, "clip", "clip"),
    "t2-exp2": (True, "none", False, False, "clip", "clip"),
    "t2-exp3": (True, "softmax", False, False, "clip", "clip"),
    "t2-exp4": (True, "softmax", True, False, "clip", "clip"),
    "t2-exp5": (False, "none", False, True, "clip", "clip"),
    "t2-exp6": (True, "none", False, True, "clip", "clip"),
    "t2-exp7": (True, "softmax", False, True, "clip", "clip"),
    "t2-ours": (True, "softmax", True, True, "clip", "clip"),
    "t2-exp8": (False, "none", False, False, "frcnn", "clip"),
    "t2-exp9": (True, "softmax", True, True, "frcnn", "random"),
    "t2-exp10": (True, "softmax", True, True, "frcnn", "npy"),
    "t4-exp11": (True, "union", False, True, "clip", "clip"),
    "t4-exp12": (True, "uniform", False, True, "clip", "clip"),
    "t4-exp13": (True, "sigmoid", False, True, "clip", "clip"),
    "t4-ours": (True, "softmax", False, True, "clip", "clip"),
}
# Rows that differ from another only at inference: (row, the row whose trained model it uses).
SHARED_MODELS = [("t2-exp4", "t2-exp3"), ("t2-ours", "t2-exp7"), ("t3-abl1", "t2-ours"), ("t3-abl3", "t2-exp8")]


@pytest.fixture(scope="module")
def ef():
    return load_experiments(EXPERIMENTS)


@pytest.fixture(scope="module")
def params():
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def dvc_doc():
    return load_dvc_yaml(ROOT / "dvc.yaml")


@pytest.fixture(scope="module")
def records(ef):
    return parse_exp_show(json.loads(FIXTURE.read_text()), ef.metrics_file, str(FIXTURE))


def write_variant(tmp: Path, edit) -> Path:
    """A copy of the experiment file with ``edit(doc)`` applied."""
    doc = yaml.safe_load(EXPERIMENTS.read_text())
    edit(doc)
    p = tmp / "experiments.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def row_of(doc: dict, rid: str) -> dict:
    return next(r for r in doc["rows"] if r["id"] == rid)


# --------------------------------------------------------------------------- the file

def test_every_paper_row_is_in_the_file(ef):
    assert {n: [r.label for r in ef.table_rows(n)] for n in ef.tables} == PAPER_ROWS
    assert all(valid_ref_name(f"{r.id}-{d}") for r in ef.rows.values() for d in ef.tables[r.table].datasets)


def _paper_text() -> str:
    shared = Path(os.environ.get("WEAKHOI_SHARED_DATA") or ROOT.parent / "shared" / "data")
    p = shared.parent / "spec" / "paper.txt"
    if not p.is_file():
        pytest.skip(f"{p} not present")
    return p.read_text(encoding="utf-8")


def test_paper_numbers_are_the_papers(ef):
    """Every row's numbers equal the paper's, read from the paper's text (its table lines end
    with the row's numbers)."""
    text = _paper_text()
    starts = {n: text.index(f"Table {n}:") for n in ef.tables}
    for n, table in ef.tables.items():
        later = [s for s in starts.values() if s > starts[n]]
        block = text[starts[n]:min(later) if later else len(text)].splitlines()
        k = len(table.columns)
        for row in ef.table_rows(n):
            pat = re.compile(rf"^{re.escape(row.label)}(?![0-9A-Za-z]).*?((?:\s\d+\.\d\d){{{k}}})\s*$")
            hits = [m for m in map(pat.match, block) if m]
            assert hits, f"table {n}: no line for {row.label!r}"
            numbers = [float(x) for x in hits[0].group(1).split()]
            assert numbers == [row.paper[c] for c in table.columns], (n, row.label)


def test_same_as_rows_are_their_targets(ef):
    for row in ef.rows.values():
        if row.same_as:
            target = ef.rows[row.same_as]
            shared = set(row.paper) & set(target.paper)
            assert shared and all(row.paper[c] == target.paper[c] for c in shared), row.id
            assert ef.row_overrides(row.id) == ef.row_overrides(target.id)


def test_rows_carry_the_papers_switches(ef):
    """HOI recognition, KTN, score fusion, SRC (the loss and the relatedness factor), backbone
    and knowledge bank of Tables 2 and 4 as the paper marks them."""
    for rid, (hoi, ktn, fusion, src, backbone, bank) in PAPER_SWITCHES.items():
        ov = ef.row_overrides(rid)
        assert (ov["train.model.hoi_recognition"], ov["train.model.ktn"], ov["evaluate.use_global"],
                ov["train.loss.src"], ov["evaluate.use_relatedness"], ov["train.model.backbone.kind"],
                ov["encode.bank"]) == (hoi, ktn, fusion, src, src, backbone, bank), rid
    assert ef.row_overrides("t2-exp2")["train.model.bank_trainable"] is False
    assert [ef.row_overrides(r)["train.loss.top_k"] for r in ("t5-top5", "t5-top2", "t5-top1")] == [5, 2, 1]
    assert ef.row_overrides("t3-abl1")["evaluate.clip"] == "only"
    assert ef.row_overrides("t3-abl3")["evaluate.clip"] == "fuse"
    abl4 = ef.row_overrides("t3-abl4")
    assert (abl4["train.model.fp_init"], abl4["train.loss.weight_reg"], abl4["train.model.backbone.kind"]) == \
        ("prompts", 1.0, "frcnn")


def test_every_override_is_a_tracked_param_with_a_valid_value(ef, params, dvc_doc):
    """The stages' own validators (train.resolve_params + build_configs, encode, detect,
    spatial, infer, evaluate) accept every row on every dataset it runs on."""
    check_against_params(ef, params, dvc_doc)
    keys = set(ef.base) | {k for d in ef.datasets.values() for k in d.overrides} | \
        {k for r in ef.rows.values() for k in r.overrides}
    for key in keys:
        found, value = lookup(params, key)
        assert found and not isinstance(value, dict), key


def test_rows_differing_at_inference_share_the_trained_model(ef, dvc_doc):
    for rid, base in SHARED_MODELS:
        row = ef.rows[rid]
        assert row.inference_only and ef.inference_base(row).id == base
        assert not any(k.startswith("train.") for k in row.overrides), rid
        for d in ef.tables[row.table].datasets:
            assert training_overrides(ef, row, d, dvc_doc) == training_overrides(ef, ef.rows[base], d, dvc_doc)
            assert ef.overrides(rid, d) != ef.overrides(base, d)
    assert is_inference_key("evaluate.use_global", dvc_doc) and is_inference_key("train.gamma", dvc_doc)
    assert not is_inference_key("train.model.ktn", dvc_doc) and not is_inference_key("dataset.name", dvc_doc)


@pytest.mark.parametrize("edit, needles", [
    (lambda d: row_of(d, "t2-exp1")["overrides"].update({"train.model.ktnn": "none"}),
     ["row t2-exp1", "train.model.ktnn", "not a param"]),
    (lambda d: row_of(d, "t2-exp1")["overrides"].update({"train.model.ktn": "bogus"}),
     ["row t2-exp1 on synhoi", "model.ktn", "bogus"]),
    (lambda d: row_of(d, "t2-exp3")["overrides"].update({"train.iterations": 0}),
     ["row t2-exp3 on synhoi", "train.iterations"]),
    (lambda d: row_of(d, "t2-exp1")["overrides"].update({"train.num_workers": 3}),
     ["row t2-exp1", "train.num_workers", "no stage of dvc.yaml tracks it"]),
    (lambda d: row_of(d, "t2-exp1")["overrides"].update({"train.model": {"ktn": "none"}}),
     ["row t2-exp1", "train.model", "must be a scalar"]),
    (lambda d: row_of(d, "t2-exp4")["overrides"].update({"train.model.ktn": "none"}),
     ["row t2-exp4", "train.model.ktn", "inference_only"]),
    (lambda d: row_of(d, "t2-exp5")["overrides"].update({"evaluate.use_relatedness": False}),
     ["row t2-exp5 on synhoi", "train.loss.src", "evaluate.use_relatedness"]),
    (lambda d: row_of(d, "t3-abl1")["overrides"].update({"infer.clip_scores": False}),
     ["row t3-abl1 on synhoi", "evaluate.clip", "infer.clip_scores"]),
    (lambda d: row_of(d, "t2-exp8")["overrides"].pop("train.model.backbone.frcnn_weights"),
     ["row t2-exp8 on synhoi", "frcnn_weights"]),
    (lambda d: row_of(d, "t1-rn101")["overrides"].pop("encode.model"),
     ["row t1-rn101 on hicodet", "train.model.backbone.model", "encode.model"]),
    (lambda d: row_of(d, "t2-exp10")["overrides"].update({"encode.npy_path": "{asset:nope}"}),
     ["row t2-exp10", "encode.npy_path", "unknown asset 'nope'"]),
    (lambda d: d["rows"].append({**row_of(d, "t2-exp7"), "id": "t4-copy", "table": 4}),
     ["row t4-copy", "same experiment as row t2-exp7", "same_as"]),
    (lambda d: d["rows"].append(dict(row_of(d, "t2-exp7"))), ["row t2-exp7", "duplicate row id"]),
    (lambda d: row_of(d, "t2-exp2").update({"extends": "t2-exp6"}) or row_of(d, "t2-exp6").update(
        {"extends": "t2-exp2"}), ["cycle"]),
    (lambda d: row_of(d, "t2-exp1")["paper"].pop("rare"), ["row t2-exp1", "paper", "rare"]),
])
def test_a_bad_experiment_file_names_the_row_and_key(tmp_path, params, dvc_doc, edit, needles):
    path = write_variant(tmp_path, edit)
    with pytest.raises(ConfigError) as e:
        check_against_params(load_experiments(path), params, dvc_doc)
    for n in needles:
        assert n in str(e.value), (n, str(e.value))
    assert str(path) in str(e.value)


def test_the_cli_prints_one_error_line_for_a_bad_file(tmp_path):
    path = write_variant(tmp_path, lambda d: row_of(d, "t2-exp1")["overrides"].update({"train.model.ktn": "x"}))
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "tables", "queue", "--file", str(path), "--dry-run"],
                       cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "row t2-exp1 on synhoi" in r.stderr and "model.ktn" in r.stderr


def test_valid_ref_names():
    for good in ("t2-exp4-synhoi", "a", "t1-rn101-vcoco"):
        assert valid_ref_name(good)
    for bad in ("a/b", "a..b", "-a", ".a", "a.lock", "a b", "a:b", "a~1", "a^", "a?", "a*", "a[", "a\\b", "@", "a@{b", ""):
        assert not valid_ref_name(bad), bad


# --------------------------------------------------------------------------- planning the queue

def test_plan_queues_each_experiment_once_training_rows_first(ef, tmp_path):
    planned = plan(ef, select_rows(ef, [2, 3, 4, 5]), "synhoi", tmp_path)
    names = [p.name for p in planned]
    assert len(names) == len(set(names))
    for alias in ("t3-abl2", "t3-ours", "t4-ours", "t5-top1"):      # same_as rows: their target's run
        assert f"{alias}-synhoi" not in names
    flags = [p.row.inference_only for p in planned]
    assert flags == sorted(flags) and sum(flags) == 4
    assert names.index("t2-exp4-synhoi") > names.index("t2-exp3-synhoi")
    # every asset placeholder is resolved under the root
    assert not any("{asset:" in str(v) for p in planned for v in p.overrides.values())
    assert plan(ef, select_rows(ef, rows=["t3-abl2"]), "synhoi", tmp_path)[0].name == "t2-exp8-synhoi"
    assert plan(ef, select_rows(ef, [1]), "synhoi", tmp_path) == []          # Table 1 needs real data
    assert [p.name for p in plan(ef, select_rows(ef, [1]), "vcoco", tmp_path)] == ["t1-rn50-vcoco", "t1-rn101-vcoco"]
    assert {p.name for p in plan(ef, select_rows(ef, [1]), "hicodet", tmp_path)} == {"t2-ours-hicodet", "t1-rn101-hicodet"}


def test_missing_assets_are_reported_and_found(ef, tmp_path):
    by_name = {p.name: p for p in plan(ef, select_rows(ef, [2]), "synhoi", tmp_path)}
    assert {n for n, p in by_name.items() if p.missing} == {"t2-exp8-synhoi", "t2-exp9-synhoi", "t2-exp10-synhoi"}
    m = by_name["t2-exp8-synhoi"].missing[0]
    assert (m.asset.id, m.key) == ("frcnn_coco", "train.model.backbone.frcnn_weights")
    assert m.path == tmp_path / "detector" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    assert by_name["t2-exp8-synhoi"].overrides["train.model.backbone.frcnn_weights"] == str(m.path)
    m.path.parent.mkdir(parents=True)
    m.path.write_bytes(b"")
    by_name = {p.name: p for p in plan(ef, select_rows(ef, [2]), "synhoi", tmp_path)}
    assert not by_name["t2-exp8-synhoi"].missing and not by_name["t2-exp9-synhoi"].missing
    assert [x.asset.id for x in by_name["t2-exp10-synhoi"].missing] == ["roberta_bank"]
    assert by_name["t2-exp10-synhoi"].missing[0].path == tmp_path / "banks" / "roberta_synhoi.npy"
    # a directory asset must be a directory
    hico = plan(ef, select_rows(ef, rows=["t2-ours"]), "hicodet", tmp_path)[0]
    assert "hicodet_train_images" in {x.asset.id for x in hico.missing}


def test_queue_refuses_a_name_twice_and_skips_existing_runs(ef, tmp_path):
    p = plan(ef, select_rows(ef, rows=["t2-exp3"]), "synhoi", tmp_path)[0]
    with pytest.raises(ConfigError, match="twice in one batch"):
        decide([p, p], {})
    act = lambda state, force=False: decide([p], {p.name: state} if state else {}, force)[0]  # noqa: E731
    assert act(None).action == "queue" and not act(None).force
    assert (act("queued").action, act("running").action, act("done").action) == ("skip", "skip", "skip")
    assert act("failed").action == "queue"
    forced = act("done", force=True)
    assert forced.action == "queue" and forced.force and "-f" in queue_args(forced)
    assert "-f" not in queue_args(act(None))
    missing = plan(ef, select_rows(ef, rows=["t2-exp8"]), "synhoi", tmp_path)[0]
    assert decide([missing], {})[0].action == "missing"
    args = queue_args(Decision(p, "queue"))
    assert args[:5] == ["exp", "run", "--queue", "--name", "t2-exp3-synhoi"]
    assert "train.model.ktn=softmax" in args and "evaluate.use_global=false" in args


def test_set_adds_to_every_experiment_but_not_a_rows_switch(ef, tmp_path):
    planned = plan(ef, select_rows(ef, [5]), "synhoi", tmp_path, {"train.amp": "bf16"})
    assert planned and all(p.overrides["train.amp"] == "bf16" for p in planned)
    with pytest.raises(ConfigError, match="train.loss.top_k"):
        plan(ef, select_rows(ef, [5]), "synhoi", tmp_path, {"train.loss.top_k": 3})


def test_seed_replicates_are_named_and_seeded(ef, tmp_path):
    planned = plan(ef, select_rows(ef, [2]), "synhoi", tmp_path, seeds=[1, 2], default_seed=0)
    names = [p.name for p in planned]
    assert "t2-exp3-synhoi-s1" in names and "t2-exp3-synhoi-s2" in names and "t2-exp3-synhoi" not in names
    assert all(p.overrides["train.seed"] == int(p.name.rsplit("-s", 1)[1]) for p in planned)
    assert names.index("t2-exp4-synhoi-s2") > names.index("t2-exp3-synhoi-s2")   # its model first
    assert {p.name for p in planned if p.missing} == {f"t2-exp{i}-synhoi-s{s}" for i in (8, 9, 10) for s in (1, 2)}
    with pytest.raises(ConfigError, match="train.seed is 0 in params.yaml"):
        plan(ef, select_rows(ef, [2]), "synhoi", tmp_path, seeds=[0], default_seed=0)
    with pytest.raises(ConfigError, match="give seeds with --seed"):
        plan(ef, select_rows(ef, [2]), "synhoi", tmp_path, {"train.seed": 3}, seeds=[1], default_seed=0)
    assert ef.replicate_names("t2-exp3-synhoi", ["t2-exp3-synhoi-s10", "t2-exp3-synhoi", "t2-exp3-synhoi-s2",
                                                 "t2-exp3-synhoi-sx", "t2-exp31-synhoi-s1"]) == \
        ["t2-exp3-synhoi-s2", "t2-exp3-synhoi-s10"]


def test_queue_seed_option_dry_run(tmp_path):
    args = ["tables", "queue", "--table", "5", "--seed", "1", "--dry-run", "--assets", str(NO_ASSETS),
            "--file", str(EXPERIMENTS), "--params", str(ROOT / "params.yaml")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "--name t5-top5-synhoi-s1" in res.output and "--name t2-ours-synhoi-s1" in res.output
    assert res.output.count("train.seed=1") == 3 and "would queue 3" in res.output
    res = CliRunner().invoke(app, args[:5] + ["0"] + args[6:])
    assert isinstance(res.exception, ConfigError) and "train.seed is 0 in params.yaml" in str(res.exception)


def test_a_row_may_not_fix_the_seed(tmp_path, params, dvc_doc):
    bad = write_variant(tmp_path, lambda d: row_of(d, "t5-top2")["overrides"].update({"train.seed": 4}))
    with pytest.raises(ConfigError, match="row t5-top2: key 'train.seed' is the seed_param"):
        check_against_params(load_experiments(bad), params, dvc_doc)


def test_set_values_parse_back_with_dvcs_override_parser(ef, tmp_path):
    """Every -S argument of every experiment, and awkward strings, read back (with the Hydra
    parser `dvc exp run -S` uses) as the value written."""
    parser_mod = pytest.importorskip("hydra.core.override_parser.overrides_parser")
    parser = parser_mod.OverridesParser.create()
    root = tmp_path / "a dir with spaces"
    overrides = [p.overrides for d in ef.datasets for p in plan(ef, select_rows(ef), d, root)]
    overrides.append({"x.s": "a person {verb}", "x.n": "none", "x.t": "true", "x.f": "1e-5", "x.q": "it's",
                      "x.c": "cuda:0", "x.l": [12000, 24000], "x.z": None, "x.e": 1e-5, "x.b": "a\\b", "x.r": "end\\",
                      "x.m": "x\\'y"})
    for ov in overrides:
        args = set_args(ov)
        parsed = parser.parse_overrides(args[1::2])
        assert {o.key_or_group: o.value() for o in parsed} == ov
    assert hydra_value(False) == "false" and hydra_value("RN50-quickgelu") == "RN50-quickgelu"


# --------------------------------------------------------------------------- rendering

def test_exp_show_parsing(records):
    assert records["t2-baseline-synhoi"].state == "done"                   # the newer baseline's run wins
    assert records["t2-baseline-synhoi"].metrics["hicodet"]["default"]["full"] == 31.5
    assert records["t2-exp3-synhoi"].state == "done"                       # executor null: finished
    assert records["t2-exp1-synhoi"].state == "failed" and records["t2-exp1-synhoi"].metrics == {}
    assert (records["t2-exp2-synhoi"].state, records["t2-exp5-synhoi"].state) == ("queued", "running")
    with pytest.raises(DataError, match="must be a list"):
        parse_exp_show({}, "metrics/metrics.json")
    with pytest.raises(DataError, match="no 'rev'"):
        parse_exp_show([{"name": "x"}], "metrics/metrics.json")


def test_rendering_a_recorded_exp_show_is_exact(ef, records):
    md, rows, _ = render_table(ef, ef.tables[2], "synhoi", records, NO_ASSETS)
    assert md == (DATA / "table2_synhoi.md").read_text(encoding="utf-8")
    lines = {line.split(" | ")[0][2:]: line for line in md.splitlines() if line.startswith("| ")}
    assert lines["baseline"] == ("| baseline | CLIP RN50, L_p only | `t2-baseline-synhoi` | 31.50 | 19.52 | 12.25 "
                                 "| 16.58 | 36.00 | 20.40 | done |")
    assert "| 35.13 | 22.40 | 15.00 | 20.70 | 40.50 | 22.90 | done; model of Exp 3 |" in lines["Exp 4"]
    assert "| 33.00 | 20.86 | 14.50 | 18.40 | 37.46 | 21.60 | done |" in lines["Exp 3"]
    by = {r.label: r for r in rows}
    # a failed run's entry carries the baseline's metrics: no numbers; neither for a stale run
    for label, status in (("Exp 1", "failed (dvc queue logs t2-exp1-synhoi)"), ("Exp 2", "queued"),
                          ("Exp 5", "running"), ("Exp 6", "stale: its train.model.ktn is 'softmax', the row sets 'none'")):
        assert set(by[label].measured.values()) == {None} and by[label].status == status
    for label in ("Exp 8", "Exp 9"):
        assert by[label].status == "missing: frcnn_coco" and set(by[label].measured.values()) == {None}
    assert by["Exp 10"].status == "missing: frcnn_coco, roberta_bank"
    assert "missing frcnn_coco: " in md and f"`{NO_ASSETS}/detector/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth`" in md


def test_aliases_render_their_targets_run(ef, records, tmp_path):
    (tmp_path / "detector").mkdir()
    (tmp_path / "detector" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth").write_bytes(b"")
    _, rows, _ = render_table(ef, ef.tables[3], "synhoi", records, tmp_path)
    by = {r.label: r for r in rows}
    assert by["ours"].measured == {"full": 38.75, "rare": 20.5, "non_rare": 43.0}
    assert by["ours"].status == "done (= ours, Table 2); model of Exp 7" and by["ours"].sources == ("t2-ours-synhoi",)
    assert by["Abl 2"].status == "not run (= Exp 8, Table 2)"              # the weights are there now
    assert by["Abl 1"].status == "not run; model of ours"
    _, rows, _ = render_table(ef, ef.tables[5], "synhoi", records, tmp_path)
    assert [r.measured["full"] for r in rows] == [37.0, None, 38.75]
    _, rows, _ = render_table(ef, ef.tables[1], None, records, tmp_path)
    assert rows[0].sources == ("t2-ours-hicodet", "t1-rn50-vcoco")
    assert rows[0].status.startswith("HICO-DET: missing: hicodet_train_annotations")


def test_seed_replicates_render_as_mean_and_sd(ef):
    """Exp 3 (own run 33.00 Full, seed 0) with a finished replicate s1 (35.00) shows 34.00 ± 1.41
    (sample sd); a running s2 and a stale s3 are named in the status, not averaged."""
    doc = json.loads(FIXTURE.read_text())
    exps = doc[1]["experiments"]
    own = next(e for e in exps if e["name"] == "t2-exp3-synhoi")
    own["revs"][0]["data"]["params"]["params.yaml"]["data"]["train"]["seed"] = 0

    def replicate(seed: int, full: float, state: str = "success", ktn: str = "softmax") -> dict:
        e = json.loads(json.dumps(own))
        e["name"] = e["revs"][0]["name"] = f"t2-exp3-synhoi-s{seed}"
        data = e["revs"][0]["data"]
        data["params"]["params.yaml"]["data"]["train"].update(seed=seed)
        data["params"]["params.yaml"]["data"]["train"]["model"]["ktn"] = ktn
        data["metrics"]["metrics/metrics.json"]["data"]["hicodet"]["default"].update(full=full, rare=16.5)
        e["executor"] = {"state": state} if state != "success" else None
        return e

    exps += [replicate(1, 35.0), replicate(2, 99.0, "running"), replicate(3, 99.0, ktn="none")]
    recs = parse_exp_show(doc, ef.metrics_file)
    md, rows, _ = render_table(ef, ef.tables[2], "synhoi", recs, NO_ASSETS)
    by = {r.label: r for r in rows}
    assert by["Exp 3"].measured == {"full": 34.0, "rare": 15.5, "non_rare": 37.4567}
    assert by["Exp 3"].spread == pytest.approx({"full": 2 ** 0.5, "rare": 2 ** 0.5, "non_rare": 0.0})
    assert by["Exp 3"].status == "done; mean ± sd of 2 seeds (0, 1); s2 running, s3 stale"
    assert "| 34.00 ± 1.41 | 20.86 | 15.50 ± 1.41 | 18.40 | 37.46 ± 0.00 | 21.60 |" in md
    assert "a ± b: mean ± sample standard deviation" in md
    assert by["baseline"].spread is None and "31.50 | 19.52" in md            # one run: no ± at all
    assert by["Exp 4"].spread is None                                        # inference-only row: no replicate
    pairs = {p.label: p for p in bar_pairs([TableColumn("full", "Full")], rows)}
    assert pairs["Exp 3"].spread == pytest.approx(2 ** 0.5) and pairs["baseline"].spread is None


def test_render_command_writes_markdown_and_plots(tmp_path):
    out = tmp_path / "tables"
    args = ["tables", "render", "--from-json", str(FIXTURE), "--out", str(out), "--table", "2", "--table", "1",
            "--assets", str(NO_ASSETS), "--file", str(EXPERIMENTS)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["table1.md", "table1.png", "table2_synhoi.md", "table2_synhoi.png"]
    assert (out / "table2_synhoi.md").read_text() == (DATA / "table2_synhoi.md").read_text()
    assert "5 of 12 rows measured" in res.output
    first = (out / "table2_synhoi.png").read_bytes()
    with Image.open(out / "table2_synhoi.png") as im:
        assert im.format == "PNG" and im.width >= 700
    assert CliRunner().invoke(app, args).exit_code == 0
    assert (out / "table2_synhoi.png").read_bytes() == first                 # byte-reproducible


def test_bar_pairs_png_draws_measured_bars_only_where_measured(tmp_path):
    def plot_area(pairs) -> np.ndarray:                  # below the title and the legend
        bar_pairs_png(tmp_path / "p.png", pairs, "t", "%", ("measured", "paper"))
        with Image.open(tmp_path / "p.png") as im:
            return np.asarray(im.convert("RGB"))[56:]

    def has(a: np.ndarray, colour) -> bool:
        return bool((a == colour).all(-1).any())

    a = plot_area([BarPair("a", 12.5, 20.0), BarPair("b", None, 19.0, "missing: x")])
    assert has(a, MEASURED_COLOUR) and has(a, REFERENCE_COLOUR)
    # the bar is as long as its value: the measured bar of 12.5 is 12.5 / 20 of the reference's
    rows_m = np.where((a == MEASURED_COLOUR).all(-1).any(1))[0]
    rows_r = np.where((a == REFERENCE_COLOUR).all(-1).any(1))[0]
    len_m = (a[rows_m[0]] == MEASURED_COLOUR).all(-1).sum()
    len_r = (a[rows_r[0]] == REFERENCE_COLOUR).all(-1).sum()
    assert abs(len_m / len_r - 12.5 / 20.0) < 0.02
    a = plot_area([BarPair("b", None, 19.0, "not run")])
    assert not has(a, MEASURED_COLOUR) and has(a, REFERENCE_COLOUR)
    # a spread draws a whisker of +- sd around the measured bar's end (and none without one)
    assert not has(plot_area([BarPair("a", 12.5, 20.0)]), WHISKER_COLOUR)
    a = plot_area([BarPair("a", 12.5, 20.0, spread=2.5)])
    cols = np.where((a == WHISKER_COLOUR).all(-1).any(0))[0]
    bar_end = np.where((a == MEASURED_COLOUR).all(-1).any(0))[0].max()
    assert cols.min() < bar_end < cols.max()
    assert abs((cols.max() - cols.min()) / (bar_end - cols.min()) - 2.0) < 0.15   # from 10 to 15 around 12.5


# --------------------------------------------------------------------------- DVC for real

@pytest.mark.slow
def test_queue_with_dvc_names_each_run_and_never_twice(tmp_path):
    """`weakhoi tables queue --table 5` in a scratch copy of the project puts three experiments
    into DVC's queue (Top-5, Top-2 and, for Top-1, Table 2's ours) with the rows' params; a
    second call skips them instead of queueing the names again."""
    proj = tmp_path / "proj"
    proj.mkdir()
    for f in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / f, proj / f)
    for d in ("pipeline", "weakhoi"):
        shutil.copytree(ROOT / d, proj / d, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", PYTHONPATH=str(proj))

    def sh(*cmd: str) -> str:
        r = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"{cmd}: {r.stdout}\n{r.stderr}"
        return r.stdout

    sh("git", "init", "-q")
    sh(sys.executable, "-m", "dvc", "init", "-q")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "project")
    first = sh(sys.executable, "-m", "pipeline.cli", "tables", "queue", "--table", "5")
    assert "queued 3, skipped 0" in first
    shown = json.loads(sh(sys.executable, "-m", "dvc", "exp", "show", "--json"))
    exps = {e["name"]: e for e in shown[1]["experiments"]}
    assert sorted(exps) == ["t2-ours-synhoi", "t5-top2-synhoi", "t5-top5-synhoi"]
    for name, k in (("t5-top5-synhoi", 5), ("t5-top2-synhoi", 2), ("t2-ours-synhoi", 1)):
        assert exps[name]["executor"]["state"] == "queued"
        p = exps[name]["revs"][0]["data"]["params"]["params.yaml"]["data"]
        assert p["train"]["loss"]["top_k"] == k and p["evaluate"]["use_global"] is True
    second = sh(sys.executable, "-m", "pipeline.cli", "tables", "queue", "--table", "5")
    assert "queued 0, skipped 3" in second and "already queued" in second
    # seed replicates are new names with train.seed set; the rows' own runs stay as they are
    assert "queued 3, skipped 0" in sh(sys.executable, "-m", "pipeline.cli", "tables", "queue", "--table", "5",
                                       "--seed", "1")
    shown = json.loads(sh(sys.executable, "-m", "dvc", "exp", "show", "--json"))
    exps = {e["name"]: e["revs"][0]["data"]["params"]["params.yaml"]["data"] for e in shown[1]["experiments"]}
    assert sorted(exps) == sorted(["t2-ours-synhoi", "t5-top2-synhoi", "t5-top5-synhoi", "t2-ours-synhoi-s1",
                                   "t5-top2-synhoi-s1", "t5-top5-synhoi-s1"])
    assert exps["t5-top2-synhoi-s1"]["train"]["seed"] == 1 and exps["t5-top2-synhoi"]["train"]["seed"] == 0
    assert exps["t5-top2-synhoi-s1"]["train"]["loss"]["top_k"] == 2
    sh(sys.executable, "-m", "dvc", "queue", "remove", "--all")
