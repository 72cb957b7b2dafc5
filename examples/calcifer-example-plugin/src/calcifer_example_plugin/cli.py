"""``calcifer example-hello NAME``."""

from __future__ import annotations

from typing import Annotated

import typer


def hello(name: Annotated[str, typer.Argument(help="Who to greet.")]) -> None:
    """Greet someone."""
    typer.echo(f"Hello, {name}, from the example plugin.")
