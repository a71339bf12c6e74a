"""The ``weakhoi`` command line: one command per DVC stage plus user commands.

Each stage lives in its own module (``pipeline/<stage>.py``) exposing ``command`` (a typer
command function) or ``app`` (a typer sub-application); this file only wires them up and turns
user-facing errors into a clean message and exit code 2.
"""
from __future__ import annotations

import sys

import typer

from weakhoi.errors import WeakHOIError

from . import data, detect, encode, evaluate, pretrain, spatial, viz

def _help(doc: str | None) -> str:
    """A module docstring as command help: paragraphs kept, hard line breaks unwrapped so the
    terminal can re-flow the text."""
    paragraphs = (doc or "").strip().split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


app = typer.Typer(
    name="weakhoi",
    help="Weakly-supervised HOI detection with CLIP-guided bi-level representations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("data", help=_help(data.__doc__))(data.command)
app.command("detect", help=_help(detect.__doc__))(detect.command)
app.command("pretrain", help=_help(pretrain.__doc__))(pretrain.command)
app.command("encode", help=_help(encode.__doc__))(encode.command)
app.command("spatial", help=_help(spatial.__doc__))(spatial.command)
app.add_typer(evaluate.app, name="evaluate", help=_help(evaluate.__doc__))
app.add_typer(viz.app, name="viz", help=_help(viz.__doc__))


def main() -> None:
    try:
        app()
    except WeakHOIError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
