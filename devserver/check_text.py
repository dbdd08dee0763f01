"""``make check-text``: list stored strings that are not valid text (lone UTF-16 surrogates)."""

from __future__ import annotations

import sys

from chalicelib import config


def main() -> None:
    if config.dynamodb_endpoint() is None:
        print("checking the tables of AWS (AWS_ENDPOINT_URL_DYNAMODB is unset)")
    from chalicelib.services import integrity

    found = 0
    for table, key, path in integrity.invalid_text():
        found += 1
        print(f"{table} {key} {path}")
    print(f"{found} values that are not valid text")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
