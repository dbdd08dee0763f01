"""IceProd 3's routes (``ICEPROD_API_VERSION=3``): the grid daemon's protocol, with IceProd 3's
state machine, answers and reason strings, over the same services as IceProd 2's routes."""

from __future__ import annotations

from chalice import Blueprint


def blueprints() -> list[Blueprint]:
    """The blueprints of IceProd 3's own routes (imported only when that protocol is served)."""
    from chalicelib.routes.iceprod3 import access, actions, counts, datasets, files, task_stats, tasks

    return [tasks.bp, datasets.bp, actions.bp, files.bp, counts.bp, access.bp, task_stats.bp]
