"""``make token ROLE=system [DATASETS=d1:write,d2:read]``: print a token for the local secret."""

from __future__ import annotations

import argparse

from chalicelib.auth import ROLES, make_token
from devserver.secrets import ensure_jwt_secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", default="admin", choices=ROLES)
    parser.add_argument("--datasets", default="", help="dataset grants: id:read,id:write")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    ensure_jwt_secret()
    grants = dict(g.split(":", 1) for g in args.datasets.split(",") if g)
    print(make_token([args.role], grants, ttl_seconds=args.days * 86400))


if __name__ == "__main__":
    main()
