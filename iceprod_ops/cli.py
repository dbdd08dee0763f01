"""``iceprod-tasks``: the operator's command line over the Tasks API, and the MongoDB importer.

Every command but ``import`` and ``token`` talks HTTP to the service, so it works the same
against ``make run`` and a deployed stack. Results go to stdout (tables, or JSON with
``--json``), progress and errors to stderr; exit codes are listed in ``--help``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table

from iceprod_ops.client import Api, CliError, Exit, Settings
from iceprod_ops.importer.command import import_command
from iceprod_ops.progress import meter

STATUSES = ("idle", "waiting", "queued", "processing", "reset", "suspended", "failed", "complete")
LIST_COLUMNS = ("task_id", "dataset_id", "name", "job_index", "status", "priority", "status_changed")
JOB_POLL_SECONDS = 2.0
EXIT_HELP = "Exit codes: " + ", ".join(f"{c.value} {c.name.lower().replace('_', ' ')}" for c in Exit) + "."


class Context:
    """What every command gets: where the service is, and how to print."""

    def __init__(self, settings: Settings, as_json: bool) -> None:
        self.settings = settings
        self.as_json = as_json
        self.console = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)

    def api(self) -> Api:
        return Api(self.settings)

    def emit(self, data: Any, render: Callable[[Any], Any]) -> None:
        """JSON for scripts (``--json``), otherwise what ``render`` makes of it."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, sort_keys=True))
        else:
            self.console.print(render(data))


pass_ctx = click.make_pass_decorator(Context)


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in (*STATUSES, "total", "count") else "left")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def _pairs(values: tuple[str, ...], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` arguments; values are JSON when they parse (numbers, true), else strings."""
    out: dict[str, Any] = {}
    for text in values:
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint=what)
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


class CommandGroup(click.Group):
    """Turns :class:`CliError` into its message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.code)


@click.group(cls=CommandGroup, epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="ICEPROD_TASKS_URL", help="The service, e.g. http://127.0.0.1:8000 [ICEPROD_TASKS_URL]")
@click.option("--token", envvar="ICEPROD_TASKS_TOKEN", help="A bearer token [ICEPROD_TASKS_TOKEN]")
@click.option("--config", "config_path", envvar="ICEPROD_TASKS_CONFIG", type=click.Path(path_type=Path),
              help="TOML file with `url` and `token` [ICEPROD_TASKS_CONFIG; ~/.config/iceprod-tasks/config.toml]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of tables.")
@click.version_option(package_name="iceprod-tasks")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, config_path: Path | None, as_json: bool) -> None:
    """Operate IceProd's Tasks service: counts, progress, tasks, bulk changes, test claims.

    \b
    Quick start against `make run`:
      export ICEPROD_TASKS_URL=http://127.0.0.1:8000
      export ICEPROD_TASKS_TOKEN=$(iceprod-tasks token)
      iceprod-tasks counts
      iceprod-tasks progress <dataset_id>
      iceprod-tasks tasks list --dataset <dataset_id> --status failed
      iceprod-tasks bulk-status reset --dataset <dataset_id> --from-file failed.txt

    Bring an IceProd MongoDB's tasks in with `iceprod-tasks import --help`.
    """
    try:
        settings = Settings.resolve(url, token, config_path)
    except CliError as error:
        click.echo(f"error: {error}", err=True)
        ctx.exit(error.code)
    ctx.obj = Context(settings, as_json)


# --- counts and progress -------------------------------------------------------------------


@cli.command()
@click.option("--dataset", "dataset_id", help="Counts of one dataset (default: all tasks).")
@click.option("--by-name", is_flag=True, help="One row per task name of the dataset (needs --dataset).")
@pass_ctx
def counts(ctx: Context, dataset_id: str | None, by_name: bool) -> None:
    """Task counts by status: all tasks, one dataset, or one dataset per task name.

    Counts come from the service's counters (one read, a second or so behind the writes).

    \b
    Examples:
      iceprod-tasks counts
      iceprod-tasks counts --dataset 13af2c --by-name
      iceprod-tasks --json counts --dataset 13af2c
    """
    api = ctx.api()
    if by_name:
        if not dataset_id:
            raise click.UsageError("--by-name needs --dataset")
        data = api.json("GET", f"/datasets/{dataset_id}/task_counts/name_status")
        rows = [(name, *(c.get(s, 0) for s in STATUSES), sum(c.values())) for name, c in data.items()]
        ctx.emit(data, lambda _: _table(f"dataset {dataset_id} by name", ("name", *STATUSES, "total"), rows))
        return
    path = f"/datasets/{dataset_id}/task_counts/status" if dataset_id else "/task_counts/status"
    data = api.json("GET", path)
    rows = [(s, data[s]) for s in STATUSES if s in data] + [("total", sum(data.values()))]
    ctx.emit(data, lambda _: _table(f"dataset {dataset_id}" if dataset_id else "all tasks", ("status", "count"), rows))


@cli.command()
@click.argument("dataset_id")
@pass_ctx
def progress(ctx: Context, dataset_id: str) -> None:
    """How far a dataset is: complete out of all its tasks, and what holds the rest.

    \b
    Example:
      iceprod-tasks progress 13af2c
    """
    counted = ctx.api().json("GET", f"/datasets/{dataset_id}/task_counts/status")
    total = sum(counted.values())
    if not total:
        raise CliError(f"dataset {dataset_id} has no tasks", Exit.NOT_FOUND)
    done = counted.get("complete", 0)
    data = {"dataset_id": dataset_id, "total": total, "complete": done, "fraction": round(done / total, 4),
            "counts": counted}

    def render(_: Any) -> Group:
        rows = [(s, counted[s], f"{counted[s] / total:.1%}") for s in STATUSES if s in counted]
        headline = f"dataset {dataset_id}: {done:,} of {total:,} tasks complete ({done / total:.1%})"
        bar = ProgressBar(total=total, completed=done, width=40)
        return Group(headline, bar, _table("", ("status", "count", "share"), rows))

    ctx.emit(data, render)


# --- tasks ---------------------------------------------------------------------------------


@cli.group()
def tasks() -> None:
    """List, show and change tasks."""


@tasks.command("list")
@click.option("--dataset", "dataset_id", help="Tasks of one dataset.")
@click.option("--status", type=click.Choice(STATUSES), multiple=True, help="Only these statuses (repeatable).")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True, help="At most this many.")
@pass_ctx
def list_tasks(ctx: Context, dataset_id: str | None, status: tuple[str, ...], limit: int) -> None:
    """List tasks (one page of at most --limit), newest fields in a table.

    \b
    Examples:
      iceprod-tasks tasks list --status failed --status suspended
      iceprod-tasks tasks list --dataset 13af2c --limit 20
    """
    params = {"status": "|".join(status) or None, "limit": limit}
    path = f"/datasets/{dataset_id}/tasks" if dataset_id else "/tasks"
    answer = ctx.api().json("GET", path, params=params)
    found = list(answer.values()) if dataset_id else answer["tasks"]
    rows = [tuple(t.get(c) for c in LIST_COLUMNS) for t in found]
    ctx.emit(found, lambda _: _table(f"{len(found)} tasks", LIST_COLUMNS, rows))


@tasks.command("show")
@click.argument("task_id")
@click.option("--dataset", "dataset_id", help="Read through the dataset (what a user token may do).")
@pass_ctx
def show_task(ctx: Context, task_id: str, dataset_id: str | None) -> None:
    """One task, every key.

    \b
    Example:
      iceprod-tasks tasks show 8f0e4b6c0a2d4e1f9b3c5d7e9f1a2b3c
    """
    path = f"/datasets/{dataset_id}/tasks/{task_id}" if dataset_id else f"/tasks/{task_id}"
    task = ctx.api().json("GET", path)
    rows = [(k, json.dumps(val) if isinstance(val, (dict, list)) else val) for k, val in sorted(task.items())]
    ctx.emit(task, lambda _: _table(f"task {task_id}", ("key", "value"), rows))


@tasks.command("set-status")
@click.argument("task_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--dataset", "dataset_id", help="Change it through the dataset (a `reset` there clears failures).")
@pass_ctx
def set_status(ctx: Context, task_id: str, status: str, dataset_id: str | None) -> None:
    """Set one task's status.

    \b
    Example:
      iceprod-tasks tasks set-status 8f0e4b6c0a2d4e1f9b3c5d7e9f1a2b3c suspended
    """
    path = f"/datasets/{dataset_id}/tasks/{task_id}/status" if dataset_id else f"/tasks/{task_id}/status"
    ctx.api().json("PUT", path, {"status": status})
    ctx.emit({"task_id": task_id, "status": status}, lambda _: f"task {task_id} is now {status}")


# --- bulk changes ------------------------------------------------------------------------


def _follow(api: Api, answer: Any, job_path: str) -> dict[str, Any]:
    """A bulk answer: done in the request (``{}``), or a job followed to its end with a bar."""
    if answer.status_code != 202:
        return {"state": "done"}
    started = answer.json()
    path = f"{job_path}/{started['job']}"
    state = api.json("GET", path)
    with meter(f"job {started['job']}", state["total"]) as show:
        while state["state"] != "done":
            show(state["changed"], f"{state['changed']:,} of {state['total']:,} changed")
            time.sleep(JOB_POLL_SECONDS)
            state = api.json("GET", path)
        show(state["total"], f"{state['changed']:,} of {state['total']:,} changed")
    return state


def _ids(task_ids: tuple[str, ...], from_file: Any) -> list[str]:
    ids = list(task_ids) + ([line.strip() for line in from_file if line.strip()] if from_file else [])
    if not ids:
        raise click.UsageError("no task ids: give them as arguments or with --from-file (- for stdin)")
    return ids


@cli.command("bulk-status")
@click.argument("status", type=click.Choice(STATUSES))
@click.argument("task_ids", nargs=-1)
@click.option("--from-file", type=click.File("r"), help="Task ids, one a line (- for stdin).")
@click.option("--dataset", "dataset_id", help="Only tasks of this dataset (what a user token may do).")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Wait for a bulk job to finish.")
@pass_ctx
def bulk_status(ctx: Context, status: str, task_ids: tuple[str, ...], from_file: Any, dataset_id: str | None,
                follow: bool) -> None:
    """Set the status of many tasks (up to 100,000 ids).

    What does not fit one request continues as a job on the service; by default this follows
    the job to its end with a progress bar.

    \b
    Examples:
      iceprod-tasks bulk-status reset 8f0e... 9a1b...
      iceprod-tasks --json tasks list --status failed --limit 10000 \\
        | jq -r '.[].task_id' | iceprod-tasks bulk-status reset --from-file -
    """
    ids = _ids(task_ids, from_file)
    api = ctx.api()
    prefix = f"/datasets/{dataset_id}" if dataset_id else ""
    answer = api.call("POST", f"{prefix}/task_actions/bulk_status/{status}", {"tasks": ids})
    state = _follow(api, answer, f"{prefix}/task_actions/jobs") if follow else _started(answer)
    ctx.emit(state, lambda s: f"{len(ids):,} tasks: status {status} ({s['state']})")


def _started(answer: Any) -> dict[str, Any]:
    return {"state": "done"} if answer.status_code != 202 else {"state": "running", **answer.json()}


@cli.command("bulk-requirements")
@click.argument("dataset_id")
@click.argument("name")
@click.argument("requirements", nargs=-1, required=True)
@click.option("--follow/--no-follow", default=True, show_default=True, help="Wait for a bulk job to finish.")
@pass_ctx
def bulk_requirements(ctx: Context, dataset_id: str, name: str, requirements: tuple[str, ...], follow: bool) -> None:
    """Raise the requirements of every task of one name in a dataset (KEY=VALUE ...).

    \b
    Example:
      iceprod-tasks bulk-requirements 13af2c generate memory=4.0 disk=20
    """
    body = _pairs(requirements, "REQUIREMENTS")
    api = ctx.api()
    answer = api.call("PATCH", f"/datasets/{dataset_id}/task_actions/bulk_requirements/{name}", body)
    jobs = f"/datasets/{dataset_id}/task_actions/jobs"
    state = _follow(api, answer, jobs) if follow else _started(answer)
    ctx.emit(state, lambda s: f"requirements of {name} in {dataset_id}: {body} ({s['state']})")


# --- testing a site: claim and report --------------------------------------------------------


@cli.command()
@click.option("--requirement", "-r", "offer", multiple=True, help="What the pilot offers, KEY=VALUE (repeatable).")
@click.option("--where", "-w", "filters", multiple=True,
              help="Equality filter, KEY=VALUE on dataset_id, job_id, name, site, requirements.site.")
@pass_ctx
def claim(ctx: Context, offer: tuple[str, ...], filters: tuple[str, ...]) -> None:
    """Claim one queued task, as a pilot would (exit 3 when none matches).

    \b
    Example:
      iceprod-tasks claim -r cpu=4 -r memory=8.0 -r site=WIPAC -w dataset_id=13af2c
    """
    body = {"requirements": _pairs(offer, "--requirement"), "query_params": _pairs(filters, "--where")}
    task = ctx.api().json("POST", "/task_actions/process", body)
    ctx.emit(task, lambda t: f"claimed {t['task_id']} ({t.get('dataset_id')} {t.get('name')} {t.get('job_index')})")


@cli.command()
@click.argument("task_id")
@click.argument("outcome", type=click.Choice(("complete", "failed", "reset")))
@click.option("--time-used", type=click.FloatRange(0), help="Seconds the task ran.")
@click.option("--site", help="Where it ran.")
@click.option("--reason", help="Why it failed or was reset (classified like a pilot's).")
@pass_ctx
def report(ctx: Context, task_id: str, outcome: str, time_used: float | None, site: str | None,
           reason: str | None) -> None:
    """Report a claimed task complete, failed or reset, as a pilot would.

    \b
    Example:
      iceprod-tasks report 8f0e4b6c0a2d4e1f9b3c5d7e9f1a2b3c failed --reason "memory overuse" --time-used 30
    """
    if outcome == "complete" and reason is not None:
        raise click.UsageError("--reason is for failed or reset")
    body = {k: val for k, val in (("time_used", time_used), ("site", site), ("reason", reason)) if val is not None}
    ctx.api().json("POST", f"/tasks/{task_id}/task_actions/{outcome}", body)
    ctx.emit({"task_id": task_id, "reported": outcome}, lambda _: f"task {task_id} reported {outcome}")


# --- local token -------------------------------------------------------------------------------


@cli.command()
@click.option("--role", type=click.Choice(("admin", "system", "user")), default="admin", show_default=True)
@click.option("--dataset", "grants", multiple=True, help="A user's grant, DATASET:read or DATASET:write (repeatable).")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True)
def token(role: str, grants: tuple[str, ...], days: int) -> None:
    """Mint a token for the local secret (the one `make run` uses, in .local/ or TASKS_JWT_SECRET).

    \b
    Example:
      export ICEPROD_TASKS_TOKEN=$(iceprod-tasks token --role user --dataset 13af2c:write)
    """
    from chalicelib.auth import make_token
    from devserver.secrets import ensure_jwt_secret

    pairs = [g.partition(":") for g in grants]
    if any(not d or level not in ("read", "write") for d, _, level in pairs):
        raise click.BadParameter("grants are DATASET:read or DATASET:write", param_hint="--dataset")
    ensure_jwt_secret()
    click.echo(make_token([role], {d: level for d, _, level in pairs}, ttl_seconds=days * 86400))


cli.add_command(import_command)


def main() -> None:
    cli()
