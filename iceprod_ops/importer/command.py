"""``iceprod-tasks import``: the importer's command line (it talks to DynamoDB, not to the API).

The service's code (``chalicelib``) is imported only here, after ``--protocol`` and
``--endpoint`` have been applied: it reads the protocol (``ICEPROD_API_VERSION``) and the
endpoint once, at import, and the importer builds items with it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from iceprod_ops.client import CliError, Exit


@click.command("import", epilog="Exit codes: 0 imported and verified, 1 failed (unreadable source, database "
               "error: run again to resume), 6 verification found a difference, 7 imported and verified "
               "but some records were rejected or differ (see the reject file).")
@click.argument("sources", nargs=-1, required=True)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default="import.checkpoint.json",
              show_default=True, help="Where the import is; run the same command again to resume from it.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), default="import.rejects.jsonl",
              show_default=True, help="Records not imported and records that differ, one JSON line each.")
@click.option("--restart", is_flag=True, help="Ignore the checkpoint and start from the first record.")
@click.option("--replace", is_flag=True,
              help="Overwrite records already stored with other content (default: report them).")
@click.option("--protocol", type=click.Choice(["2", "3"]), default="2", show_default=True,
              help="IceProd generation of the data, and the protocol of the deployment that serves the tables.")
@click.option("--parallel", type=click.IntRange(1, 64), default=16, show_default=True, help="Batches in flight.")
@click.option("--endpoint", help="A DynamoDB endpoint (default: AWS_ENDPOINT_URL_DYNAMODB, else AWS).")
@click.option("--create-tables", is_flag=True,
              help="Create missing tables first (a local engine; on AWS the stack does).")
@click.option("--verify-wait", type=click.FloatRange(0), default=120, show_default=True,
              help="Seconds to wait for the counters to catch up before comparing for the last time.")
@click.option("--reconcile", is_flag=True, help="Recount the counters from the tasks first (when nothing consumes "
              "the tasks stream yet, e.g. tables filled before the service runs).")
@click.pass_obj
def import_command(ctx: Any, sources: tuple[str, ...], checkpoint: Path, rejects: Path, restart: bool, replace: bool,
                   protocol: str, parallel: int, endpoint: str | None, create_tables: bool,
                   verify_wait: float, reconcile: bool) -> None:
    """Import IceProd's MongoDB tasks and dataset files (IceProd 3: also task stats and the
    datasets' access records), then verify the counts.

    SOURCES are mongoexport files (JSON lines or --jsonArray, canonical or relaxed Extended
    JSON) and mongodump output (.bson, .bson.gz, or a dump directory), named by collection
    (tasks.json, dataset_files.bson.gz, task_stats.json, attr_auths.json) or given as
    COLLECTION=PATH. Tables are found as the service finds them (TASKS_TABLE, ...,
    AWS_ENDPOINT_URL_DYNAMODB or AWS credentials).

    mongodump --archive files are not read.

    \b
    Step by step (IceProd 2):
      mongoexport --db iceprod --collection tasks --out tasks.json
      mongoexport --db iceprod --collection dataset_files --out dataset_files.json
      iceprod-tasks import tasks.json dataset_files.json
      # or: mongodump --db iceprod --gzip --out dump && iceprod-tasks import dump/iceprod
    \b
    IceProd 3 (databases tasks, task_stats and auth):
      mongoexport --db tasks --collection tasks --out tasks.json
      mongoexport --db tasks --collection dataset_files --out dataset_files.json
      mongoexport --db task_stats --collection task_stats --out task_stats.json
      mongoexport --db auth --collection attr_auths --out attr_auths.json
      iceprod-tasks import --protocol 3 tasks.json dataset_files.json task_stats.json attr_auths.json
    Killed or failed? Run the same command again: it resumes from --checkpoint.
    """
    os.environ["ICEPROD_API_VERSION"] = protocol  # before chalicelib reads it (see the module's docstring)
    if endpoint:
        from chalicelib import config

        config.use_endpoint(endpoint)
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from chalicelib.errors import Unavailable
    from iceprod_ops.importer.run import Options, TargetRefused
    from iceprod_ops.importer.sources import SourceError

    try:
        options = Options(checkpoint, rejects, protocol, replace, parallel, restart)
        result = _run(list(sources), options, create_tables, verify_wait, reconcile)
    except (SourceError, TargetRefused) as error:
        raise CliError(str(error)) from None
    except Unavailable as error:
        raise CliError(f"{error}; run the same command again to resume", Exit.UNAVAILABLE) from None
    except (PynamoDBException, BotoCoreError, ClientError) as error:
        raise CliError(f"database error: {error}; run the same command again to resume") from None
    if ctx is not None and ctx.as_json:
        click.echo(result.json())
    else:
        result.print(Console(width=None if sys.stdout.isatty() else 200))
    if not result.verified:
        raise CliError("verification failed: the target's counts differ from the source's", Exit.MISMATCH)
    if result.incomplete:
        raise CliError(f"some records were not imported, see {rejects}", Exit.INCOMPLETE)


def _run(specs: list[str], options: Any, create_tables: bool, verify_wait: float, reconcile: bool) -> Any:
    from iceprod_ops.importer.report import Result
    from iceprod_ops.importer.run import import_all
    from iceprod_ops.importer.sources import parse_sources
    from iceprod_ops.importer.verify import verify

    if create_tables:
        from chalicelib.models import create_tables as create

        create()
    state = import_all(parse_sources(specs), options)
    return Result(state, verify(state, verify_wait, reconcile))

