"""Placeholder for the data stage (being written)."""
import typer


def command() -> None:
    raise typer.Exit(1)
