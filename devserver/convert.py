"""``make convert-protocol``: convert tables of IceProd 2 data to IceProd 3's protocol.

Talks to whatever ``AWS_ENDPOINT_URL_DYNAMODB`` points at, or to AWS (with the table names of
the deployment in ``TASKS_TABLE``, ``FILES_TABLE``, ``COUNTERS_TABLE``). See the README,
Protocols, for the steps around it.
"""

from __future__ import annotations

import argparse
import logging

from chalicelib import config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make convert-protocol", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="count what would change; write nothing")
    parser.add_argument("--settle-seconds", type=float, default=60.0,
                        help="how long to wait for the stream to count the conversion before reconciling")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    where = config.dynamodb_endpoint() or "AWS (AWS_ENDPOINT_URL_DYNAMODB is unset)"
    print(f"tables {config.TASKS_TABLE}, {config.COUNTERS_TABLE} at {where}", flush=True)
    from chalicelib.services import conversion

    if args.dry_run:
        report = conversion.dry_run()
        state = "already hold IceProd 3's data" if report.already else "hold IceProd 2's data"
        print(f"dry run: the tables {state}; a conversion would find "
              + ", ".join(f"{report.run[o]} {o}" for o in conversion.OUTCOMES))
        return
    report = conversion.convert(settle_seconds=args.settle_seconds)
    if report.already:
        print("nothing to do: the tables already hold IceProd 3's data")
        return
    print("this run: " + ", ".join(f"{report.run[o]} {o}" for o in conversion.OUTCOMES))
    print("all runs of this conversion: " + ", ".join(f"{report.total[o]} {o}" for o in conversion.OUTCOMES))
    if not report.settled:
        print(f"the stream had not counted every change after {args.settle_seconds:g} s: the counters were "
              "reconciled anyway; run make reconcile once the stream consumer has caught up")
    print(f"counters reconciled: {report.fixed} items repaired")
    print("the tables now hold IceProd 3's data: serve them with ICEPROD_API_VERSION=3")


if __name__ == "__main__":
    main()
