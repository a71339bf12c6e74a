"""`--help` of every command reads well, and the README describes the commands as they are
(issue 7 item 8)."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> dict[str, click.Command]:
    """Every command and group of the CLI by its path ('', 'evaluate', 'evaluate hicodet', ...)."""
    out: dict[str, click.Command] = {}

    def walk(cmd: click.Command, path: str) -> None:
        out[path] = cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())
    walk(typer.main.get_command(app), "")
    return out


def squash(text: str) -> str:
    """Whitespace and the line-wrapping hyphen breaks of click's formatter removed."""
    return re.sub(r"\s+", " ", text).replace("- ", "-").strip()


def first_sentence(text: str) -> str:
    """Up to the first full stop followed by a space (the CLI's docstrings have none inside
    brackets in their first sentence)."""
    first = squash(text.split("\n\n")[0])
    m = re.match(r"(.*?\.)(?:\s|$)", first)
    return m.group(1) if m else first


CMDS = commands()


@pytest.mark.parametrize("path", sorted(CMDS))
def test_help_has_no_type_label_on_flags(path):
    res = CliRunner().invoke(app, [*path.split(), "--help"], terminal_width=100)
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output and "BOOLEAN" not in res.output
    assert "--help" in res.output


@pytest.mark.parametrize("path", sorted(p for p, c in CMDS.items() if getattr(c, "commands", None)))
def test_command_summaries_are_whole_sentences(path):
    """The list of sub-commands shows each one's whole first sentence, never cut with '...' or
    broken by the docstring's hard line breaks."""
    res = CliRunner().invoke(app, [*path.split(), "--help"], terminal_width=100)
    listing = squash(res.output.split("Commands:")[1])
    for name, sub in CMDS[path].commands.items():
        summary = first_sentence(sub.help)
        assert summary.endswith(".") and len(summary) > 20, (name, summary)
        assert f"{name} {squash(summary)}" in listing, (name, summary, listing)
    assert "..." not in listing


@pytest.mark.parametrize("path", sorted(p for p in CMDS if p))
def test_help_text_is_reflowed(path):
    """No line of a command's description ends mid-sentence because of a docstring's line
    break: every paragraph is one re-flowed block."""
    help_text = CMDS[path].help
    assert "\n" not in help_text.replace("\n\n", ""), path
    res = CliRunner().invoke(app, [*path.split(), "--help"], terminal_width=100)
    assert squash(first_sentence(help_text)) in squash(res.output)


def test_readme_stands_on_its_own():
    """No pointer to files outside the project; every relative link resolves."""
    assert "METHOD.md" not in README and "shared/spec" not in README
    for target in re.findall(r"\]\(([^)#\s]+)", README):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), f"README links to missing {target}"


def test_readme_says_which_commands_take_params():
    with_params = {p for p, c in CMDS.items() if p and any("--params" in o.opts for o in c.params)}
    subs = {p for p in with_params if " " in p}           # e.g. `evaluate scores`
    for p in subs:
        assert f"`{p}`" in README, f"README must say that `{p}` takes --params"
    with_params -= subs
    top = {p.split()[0] for p in CMDS if p}
    m = re.search(r"The stage commands \(([^)]*)\) take `--params", README)
    assert m, "README must say which commands take --params"
    assert set(re.findall(r"`(\w+)`", m.group(1))) == with_params
    m = re.search(r";((?: `\w+`,?| and)+) read no params", README)
    assert m, "README must say which commands read no params"
    assert set(re.findall(r"`(\w+)`", m.group(1))) == top - with_params
    assert "takes `--params params.yaml`" not in README
