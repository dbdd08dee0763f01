"""``make reconcile``: recompute the counters from the tasks table and repair drift."""

from __future__ import annotations

import logging

from chalicelib import config


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if config.dynamodb_endpoint() is None:
        print("reconciling the tables of AWS (AWS_ENDPOINT_URL_DYNAMODB is unset)")
    from chalicelib.services import counters

    fixes = counters.reconcile()
    print(f"{len(fixes)} counter items repaired")
    for key, diff in sorted(fixes.items()):
        print(f"  {key[0]} {key[1]}: {diff}")


if __name__ == "__main__":
    main()
