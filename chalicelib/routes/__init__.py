"""HTTP routes: Chalice blueprints, thin (check the input, call a service, shape the answer).

A deployment serves one protocol (``ICEPROD_API_VERSION``): its blueprints are the shared ones
plus the protocol's own. Only the chosen protocol's route modules are imported, since each
registers its operations (and so the published document) when imported.
"""

from __future__ import annotations

from chalice import Blueprint


def blueprints(version: str) -> list[Blueprint]:
    """The blueprints of protocol ``version`` ("2" or "3"), the shared ones first."""
    from chalicelib.routes import datasets_admin, middleware, status

    shared = [middleware.http, status.bp, datasets_admin.bp]
    if version == "3":
        from chalicelib.routes import iceprod3

        return [*shared, *iceprod3.blueprints()]
    from chalicelib.routes import actions, counts, datasets, files, tasks

    return [*shared, tasks.bp, datasets.bp, actions.bp, counts.bp, files.bp]
