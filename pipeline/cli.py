"""The ``weakhoi`` command line: one command per DVC stage plus user commands.

Each stage lives in its own module (``pipeline/<stage>.py``) exposing ``command`` (a typer
command function) or ``app`` (a typer sub-application); this file only wires them up, tidies the
help of every command (`tidy_help`, applied after the registrations below, so commands added
there get it too) and turns user-facing errors into a clean message and exit code 2.
"""
from __future__ import annotations

import inspect
import sys

import typer

from weakhoi.errors import WeakHOIError

from . import (data, detect, encode, evaluate, export, infer, predict, pretrain, runlog, spatial, tables, train,
               viz)


def _help(doc: str | None) -> str:
    """A docstring as command help: paragraphs kept, hard line breaks unwrapped so the
    terminal can re-flow the text."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _first_sentence(text: str) -> str:
    """The first sentence of ``text`` (up to the first '. ' outside brackets), whole."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "." and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i + 1]
    return text


def tidy_help(typer_app: typer.Typer) -> None:
    """Help of every command and sub-command of ``typer_app``: docstrings re-flowed (`_help`),
    the one-line summary in command lists is the whole first sentence (click would cut it
    after ~45 characters), and click's plain formatter, which prints no type label for flags
    (typer's rich panels show ``<bool>`` on ``--help`` and every flag)."""
    typer_app.rich_markup_mode = None
    for info in typer_app.registered_commands:
        text = _help(info.help or (info.callback.__doc__ if info.callback else None))
        info.help = text
        info.short_help = info.short_help or _first_sentence(text.split("\n\n")[0])
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        text = _help(group.help or sub.info.help)
        group.help = sub.info.help = text
        group.short_help = group.short_help or _first_sentence(text.split("\n\n")[0])
        tidy_help(sub)


app = typer.Typer(
    name="weakhoi",
    help="Weakly-supervised HOI detection with CLIP-guided bi-level representations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _start() -> None:
    """Weakly-supervised HOI detection with CLIP-guided bi-level representations."""
    runlog.mark_start()


app.command("data", help=_help(data.__doc__))(data.command)
app.command("detect", help=_help(detect.__doc__))(detect.command)
app.command("pretrain", help=_help(pretrain.__doc__))(pretrain.command)
app.command("encode", help=_help(encode.__doc__))(encode.command)
app.command("spatial", help=_help(spatial.__doc__))(spatial.command)
app.command("train", help=_help(train.__doc__))(train.command)
app.command("infer", help=_help(infer.__doc__))(infer.command)
app.add_typer(evaluate.app, name="evaluate", help=_help(evaluate.__doc__))
app.command("export", help=_help(export.__doc__))(export.command)
app.command("predict", help=_help(predict.__doc__))(predict.command)
app.add_typer(viz.app, name="viz", help=_help(viz.__doc__))
app.add_typer(tables.app, name="tables", help=_help(tables.__doc__))
tidy_help(app)


def main() -> None:
    try:
        app()
    except WeakHOIError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
