from pathlib import Path
from typing import List

import typer
from wasabi import msg

from ..llm.cache import ResponseCache
from ._app import app
from ._util import input_errors

cache_app = typer.Typer(help="Manage the LLM response cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("merge")
def cache_merge_cli(
    target: Path = typer.Argument(..., help="Cache to merge into (created if missing)"),
    sources: List[Path] = typer.Argument(..., help="Caches to merge from, e.g. those of --shard runs"),
):
    """Merge response caches (e.g. of shards run on several machines) into one."""
    from ..files import check_writable, refuse_overwrite

    with input_errors():
        refuse_overwrite(target, *sources)
        check_writable(target)  # SQLite would create it anywhere, or fail with a traceback
    with input_errors(), ResponseCache(target) as cache:
        for source in sources:
            msg.text(f"{source}: {cache.merge(source)} new answers")
        msg.good(f"{target}: {len(cache)} answers")
