"""Contact sheets of what the pipeline produces: `dataset` (ground-truth HOI pairs of a split),
`proposals` (a `proposals` artifact's detections, optionally with the number of candidate pairs
per image from a `pair_features` artifact) and `predictions` (a `hoi_scores` artifact's top fused
predictions beside the ground truth). Only `predictions` reads params.yaml (the fusion); the PNG
is written atomically (nothing is left at --out on error) and replaces only a PNG, never an
input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import typer
from PIL import Image

from weakhoi.errors import ArtifactError, ConfigError, DataError

from .runlog import record_run

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help=__doc__)


def _check_sheet_options(out: Path, num: int, columns: int, scale: int, colours: int,
                         inputs: Sequence[Optional[Path]]) -> None:
    from weakhoi.artifacts import PNG_KIND, check_replaceable

    if out.suffix.lower() != ".png":
        raise ConfigError(f"viz: --out {out} must end in .png")
    check_replaceable(out, PNG_KIND, [p for p in inputs if p is not None])
    if colours != 0 and not 2 <= colours <= 256:
        raise ConfigError(f"viz: --colours must be 0 (full RGB) or in [2, 256], got {colours}")
    for name, v in (("--num", num), ("--columns", columns), ("--scale", scale)):
        if v < 1:
            raise ConfigError(f"viz: {name} must be >= 1, got {v}")


def pick(n: int, num: int, seed: int) -> list[int]:
    """``min(num, n)`` distinct indices of ``range(n)``, drawn with ``seed``, in ascending order."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n, size=min(num, n), replace=False).tolist()) if n else []


def open_image(path: Path, entry: str, size: tuple[int, int] | None = None) -> Image.Image:
    """The RGB image at ``path``; DataError naming the file and ``entry`` when it is missing,
    unreadable, or not ``size`` (width, height) when given."""
    if not path.is_file():
        raise DataError(f"missing image {path} ({entry})")
    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except OSError as e:
        raise DataError(f"{path}: cannot read image ({entry}): {e}") from None
    if size is not None and tuple(img.size) != tuple(size):
        raise DataError(f"{path}: image is {img.width}x{img.height} but {entry} says "
                        f"{size[0]}x{size[1]}")
    return img


def save_png(image: Image.Image, out: Path, colours: int = 0) -> None:
    """Write ``image`` to ``out`` as PNG, atomically; ``colours`` > 0: a palette PNG of that many
    colours (median cut, no dithering; SynHOI's pixel noise makes full-RGB sheets large)."""
    from weakhoi.artifacts import PNG_KIND, atomic_output

    if colours:
        image = image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                               dither=Image.Dither.NONE)
    with atomic_output(out, PNG_KIND) as tmp:
        image.save(tmp, format="PNG", optimize=True)


def pair_label(vocab, hoi: int, verb: int) -> str:
    """'ride bicycle' for a HOI class; the verb alone for a pair without role object (-1)."""
    if hoi >= 0:
        return vocab.hoi_name(hoi).replace("_", " ")
    return str(vocab.verbs[verb]).replace("_", " ") if 0 <= verb < vocab.num_verbs else "?"


@app.command("dataset")
def dataset_sheet(
    dataset: str = typer.Option("synhoi", "--dataset", help="Dataset kind: hicodet, synhoi or vcoco."),
    annotations: Path = typer.Option(..., "--annotations", help="Annotation file of the split."),
    images: Path = typer.Option(..., "--images", help="Image directory of the split."),
    out: Path = typer.Option(..., "--out", help="Output contact sheet (.png)."),
    num: int = typer.Option(16, "--num", help="Number of images (drawn at random with --seed)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the image choice."),
    columns: int = typer.Option(4, "--columns", help="Images per row."),
    scale: int = typer.Option(3, "--scale", help="Nearest-neighbour upscaling (SynHOI: 3)."),
    colours: int = typer.Option(0, "--colours", help="0: full-RGB PNG; 2..256: palette PNG with that "
                                "many colours (much smaller files, e.g. for docs)."),
) -> None:
    """Contact sheet of ground-truth HOI pairs: human box, object box, a line between them and
    the HOI name; the caption gives the file name and the number of pairs."""
    from weakhoi.data.loaders import load_dataset
    from weakhoi.viz import contact_sheet, draw_pairs

    _check_sheet_options(out, num, columns, scale, colours, [annotations, images])
    ds = load_dataset(dataset, annotations, images)
    if len(ds) == 0:
        raise DataError(f"{annotations}: no images")
    tiles, captions = [], []
    for i in pick(len(ds), num, seed):
        r = ds[i]
        img = open_image(images / r.file_name, f"entry {i} of {annotations}", (r.width, r.height))
        labels = [pair_label(ds.vocab, int(h), int(v)) for h, v in zip(r.hoi, r.verb)]
        tiles.append(draw_pairs(img, r.boxes_h, r.boxes_o, labels, scale=scale))
        captions.append(f"{r.file_name}: {r.num_pairs} pair{'s' if r.num_pairs != 1 else ''}")
    save_png(contact_sheet(tiles, columns, scale=1, captions=captions), out, colours)
    record_run(out, "viz dataset", {"images": len(tiles)})
    typer.echo(f"wrote {out} ({len(tiles)} images of {annotations})")


def _object_names(annotations: Optional[Path], dataset: Optional[str], attrs: dict,
                  source: Path) -> Optional[Sequence[str]]:
    """Object names from the dataset vocabulary (None without --annotations)."""
    if annotations is None:
        return None
    from weakhoi.data.loaders import load_vocabulary

    kind = dataset or str(attrs.get("dataset", ""))
    if not kind:
        raise ConfigError(f"viz: {source} records no dataset kind; pass --dataset")
    vocab = load_vocabulary(kind, annotations)
    n = attrs.get("num_objects")
    if n is not None and int(n) != vocab.num_objects:
        raise DataError(f"{annotations}: vocabulary has {vocab.num_objects} objects but {source} "
                        f"was written with num_objects={n}")
    return vocab.objects


def _pair_counts(pairs: Path, file_names: list[str], proposals: Path) -> np.ndarray:
    """[n] candidate pairs per image from a `pair_features` artifact matching ``file_names``."""
    from weakhoi.artifacts import open_artifact

    with open_artifact(pairs, "pair_features") as art:
        names = art.strings("file_names")
        if names != file_names:
            raise ArtifactError(f"{pairs}: its file_names differ from those of {proposals} "
                                f"({len(names)} vs {len(file_names)} images); was it built from "
                                f"another proposals artifact?")
        return np.diff(np.asarray(art.ragged("pairs").indptr)).astype(np.int64)


@app.command("proposals")
def proposals_sheet(
    proposals: Path = typer.Option(..., "--proposals", help="`proposals` artifact (.h5)."),
    images: Path = typer.Option(..., "--images", help="Image directory of the split."),
    out: Path = typer.Option(..., "--out", help="Output contact sheet (.png)."),
    num: int = typer.Option(16, "--num", help="Number of images (drawn at random with --seed)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the image choice."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="`pair_features` artifact of the same "
                                         "split: number of candidate pairs per image."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="Annotation file: object "
                                               "names from its vocabulary (default: class indices)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset kind of --annotations "
                                          "(default: the one recorded in the artifact)."),
    score_threshold: float = typer.Option(0.0, "--score-threshold", help="Hide detections below."),
    columns: int = typer.Option(4, "--columns", help="Images per row."),
    scale: int = typer.Option(3, "--scale", help="Nearest-neighbour upscaling (SynHOI: 3)."),
    colours: int = typer.Option(0, "--colours", help="0: full-RGB PNG; 2..256: palette PNG with that "
                                "many colours (much smaller files, e.g. for docs)."),
) -> None:
    """Contact sheet of object proposals: people in blue, other objects in orange, with class and
    score; the caption gives the file name, the detection counts and (with --pairs) the number
    of candidate pairs. Also prints one line per shown image."""
    from weakhoi.detection import read_proposals
    from weakhoi.viz import contact_sheet, draw_detections

    _check_sheet_options(out, num, columns, scale, colours, [proposals, images, pairs, annotations])
    props = read_proposals(proposals)
    if len(props) == 0:
        raise ArtifactError(f"{proposals}: no images")
    attrs = dict(props.meta)
    if "person_label" not in attrs:
        raise ArtifactError(f"{proposals}: attribute person_label missing")
    person = int(attrs["person_label"])
    names = _object_names(annotations, dataset, attrs, proposals)
    counts = _pair_counts(pairs, list(props.file_names), proposals) if pairs is not None else None
    tiles, captions = [], []
    for i in pick(len(props), num, seed):
        name, det = props.file_names[i], props.detections[i]
        w, h = (int(v) for v in props.image_sizes[i])
        img = open_image(images / name, f"entry {i} of {proposals}", (w, h))
        tiles.append(draw_detections(img, det.boxes, det.scores, det.labels, names, person,
                                     score_threshold, scale=scale))
        shown = det.scores >= score_threshold
        n_h = int((det.labels[shown] == person).sum())
        n_o = int(shown.sum()) - n_h
        text = f"{name}: {n_h} person, {n_o} object"
        if counts is not None:
            text += f", {int(counts[i])} pairs"
        captions.append(text)
        typer.echo(text)
    save_png(contact_sheet(tiles, columns, scale=1, captions=captions), out, colours)
    record_run(out, "viz proposals", {"images": len(tiles)})
    typer.echo(f"wrote {out} ({len(tiles)} images of {proposals})")


@app.command("predictions")
def predictions_sheet(
    scores: Path = typer.Option(..., "--scores", help="`hoi_scores` artifact of the split (from `infer`)."),
    annotations: Path = typer.Option(..., "--annotations", help="Annotation file of the split (ground truth)."),
    images: Path = typer.Option(..., "--images", help="Image directory of the split."),
    out: Path = typer.Option(..., "--out", help="Output contact sheet (.png)."),
    dataset: str = typer.Option("synhoi", "--dataset", help="Dataset kind: hicodet, synhoi or vcoco."),
    num: int = typer.Option(6, "--num", help="Number of images (drawn at random with --seed)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the image choice."),
    index: Optional[list[int]] = typer.Option(None, "--index", help="Show these dataset indices "
                                              "instead (repeatable)."),
    top_k: int = typer.Option(3, "--top-k", help="Predictions drawn per image (best fused scores)."),
    scale: int = typer.Option(3, "--scale", help="Nearest-neighbour upscaling (SynHOI: 3)."),
    colours: int = typer.Option(0, "--colours", help="0: full-RGB PNG; 2..256: palette PNG."),
    params: Path = typer.Option(Path("params.yaml"), "--params", help="params.yaml: train.gamma and "
                                "the evaluate section (the score fusion)."),
) -> None:
    """Test-split predictions beside the ground truth: for each chosen image, its top fused
    predictions (left, with scores) and its annotated pairs (right). Reads train.gamma and the
    `evaluate` section of --params for the fusion."""
    from weakhoi.data.loaders import load_dataset
    from weakhoi.eval.from_scores import check_scores_match, fuse_hoi_scores
    from weakhoi.scores import read_hoi_scores
    from weakhoi.viz import contact_sheet, draw_pairs

    from .evaluate_stage import fusion_config
    from .params import load_params

    _check_sheet_options(out, num, 2, scale, colours, [scores, annotations, images, params])
    if top_k < 1:
        raise ConfigError(f"viz: --top-k must be >= 1, got {top_k}")
    config = fusion_config(load_params(params), params)
    art = read_hoi_scores(scores)
    ds = load_dataset(dataset, annotations, images)
    check_scores_match(art, ds)
    chosen = list(index) if index else pick(len(ds), num, seed)
    bad = [i for i in chosen if not 0 <= i < len(ds)]
    if bad:
        raise ConfigError(f"viz: --index {bad[0]} outside 0..{len(ds) - 1}")
    fused = fuse_hoi_scores(art, config)
    tiles, captions = [], []
    for i in chosen:
        r = ds[i]
        img = open_image(images / r.file_name, f"entry {i} of {annotations}", (r.width, r.height))
        sel = np.flatnonzero(fused.image_index == i)[:top_k]           # best first within an image
        labels = [f"{pair_label(ds.vocab, int(fused.hoi[k]), -1)} {fused.score[k]:.2g}" for k in sel]
        tiles.append(draw_pairs(img, art.boxes[fused.human[sel]], art.boxes[fused.object[sel]],
                                labels, scale=scale))
        captions.append(f"{r.file_name}: top {len(sel)} predictions")
        gt = [pair_label(ds.vocab, int(h), int(v)) for h, v in zip(r.hoi, r.verb)]
        tiles.append(draw_pairs(img, r.boxes_h, r.boxes_o, gt, scale=scale))
        captions.append(f"ground truth: {r.num_pairs} pair{'s' if r.num_pairs != 1 else ''}")
    save_png(contact_sheet(tiles, 2, scale=1, captions=captions), out, colours)
    record_run(out, "viz predictions", {"images": len(chosen)})
    typer.echo(f"wrote {out} ({len(chosen)} images, predictions beside ground truth)")
