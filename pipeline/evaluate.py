"""Placeholder for evaluate (being written)."""
import typer

app = typer.Typer(no_args_is_help=True)


@app.command("hicodet")
def hicodet() -> None:
    raise typer.Exit(1)
