"""The service's HTTP API as the command line uses it: where it is, who calls, what failed.

The command line talks HTTP only, so it behaves the same against ``make run`` and a deployed
stack. Settings come from options, then the environment (``ICEPROD_TASKS_URL``,
``ICEPROD_TASKS_TOKEN``), then a TOML config file (``url = ...``, ``token = ...``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import requests

DEFAULT_CONFIG = Path("~/.config/iceprod-tasks/config.toml").expanduser()
TIMEOUT_SECONDS = 60


class Exit(IntEnum):
    """Exit codes: a script can tell "not there" from "not allowed" from "try again"."""

    OK = 0
    FAILED = 1  #: the request was refused as invalid (400, 409, ...), or another error
    USAGE = 2  #: wrong command line (click's own code)
    NOT_FOUND = 3  #: 404: no such task, job or dataset content
    DENIED = 4  #: 401/403: no token, a bad one, or not allowed
    UNAVAILABLE = 5  #: the service cannot be reached, or answered 5xx
    MISMATCH = 6  #: an import's verification found a difference
    INCOMPLETE = 7  #: an import finished with records not imported (rejected or differing)


class CliError(Exception):
    """An error to print on stderr and exit with ``code``."""

    def __init__(self, message: str, code: Exit = Exit.FAILED) -> None:
        super().__init__(message)
        self.code = code


def exit_code(status: int) -> Exit:
    if status == 404:
        return Exit.NOT_FOUND
    if status in (401, 403):
        return Exit.DENIED
    if status >= 500:
        return Exit.UNAVAILABLE
    return Exit.FAILED


@dataclass
class Settings:
    url: str | None
    token: str | None

    @classmethod
    def resolve(cls, url: str | None, token: str | None, config_path: Path | None) -> Settings:
        """Options and environment first (click passes both as ``url``/``token``), then the file."""
        path = config_path or DEFAULT_CONFIG
        saved: dict[str, Any] = {}
        if path.exists():
            try:
                saved = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as error:
                raise CliError(f"{path}: not TOML: {error}") from None
        elif config_path is not None:
            raise CliError(f"{path}: no such config file")
        return cls(url or saved.get("url"), token or saved.get("token"))


class Api:
    """A session against the service: JSON in, JSON out, errors as :class:`CliError`."""

    def __init__(self, settings: Settings) -> None:
        if not settings.url:
            raise CliError("no service URL: --url, ICEPROD_TASKS_URL or `url` in the config file", Exit.USAGE)
        if not settings.token:
            raise CliError("no token: --token, ICEPROD_TASKS_TOKEN or `token` in the config file "
                           "(`iceprod-tasks token` mints one for make run)", Exit.USAGE)
        self.base = settings.url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(Authorization=f"Bearer {settings.token}", Accept="application/json")

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> requests.Response:
        """The answer of a 2xx; otherwise the service's ``{"code", "error"}`` as a CliError."""
        try:
            answer = self.session.request(method, self.base + path, json=body, timeout=TIMEOUT_SECONDS,
                                          params={k: v for k, v in (params or {}).items() if v is not None})
        except requests.RequestException as error:
            raise CliError(f"cannot reach {self.base}: {error}", Exit.UNAVAILABLE) from None
        if answer.status_code >= 400:
            try:
                reason = answer.json().get("error", answer.text)
            except ValueError:
                reason = answer.text[:500]
            raise CliError(f"{method} {path}: {answer.status_code} {reason}", exit_code(answer.status_code))
        return answer

    def json(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        answer = self.call(method, path, body, params)
        return answer.json() if answer.content else None
