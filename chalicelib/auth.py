"""Bearer tokens → a principal (roles and dataset grants), and the access rules.

Checked inside the app rather than by an API Gateway authorizer, so ``make run`` and AWS behave
the same and every refusal keeps the ``{"code", "error"}`` shape.

Tokens are JWTs. HS256 is verified with ``TASKS_JWT_SECRET``, RS256 with the PEM in
``TASKS_JWT_PUBLIC_KEY`` (Keycloak); a token is accepted if any configured key verifies it.
``exp`` is required; ``aud`` and ``iss`` are checked when configured.

Roles come from our own ``roles`` claim (``admin``, ``system``, ``user``; a ``user`` gets the
datasets listed in ``datasets: {id: "read" | "write"}``), or from IceProd's Keycloak claims:
the admin group, the ``iceprod-system`` client role, an IceCube institution group (a user, with
``TASKS_KEYCLOAK_USER_ACCESS`` on every dataset, ``read`` by default).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from chalicelib import config
from chalicelib.errors import Forbidden, Unauthenticated

ROLES = ("admin", "system", "user")
ANY_DATASET = "*"


class Access(Enum):
    """What a route needs."""

    SYSTEM = "system"  # admin or system only (the global routes)
    READ = "read"  # admin, system, or a user with read or write on the path's dataset
    WRITE = "write"  # admin, system, or a user with write on the path's dataset
    OWN = "own datasets"  # admin, system, or any user: the answer holds only what it may read


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    datasets: dict[str, str] = field(default_factory=dict)

    def can(self, access: Access, dataset_id: str | None) -> bool:
        """Whether this principal may call a route needing ``access`` (on ``dataset_id``)."""
        if self.roles & {"admin", "system"}:
            return True
        if access is Access.OWN:
            return "user" in self.roles
        if "user" not in self.roles or access is Access.SYSTEM or dataset_id is None:
            return False
        grant = self.datasets.get(dataset_id) or self.datasets.get(ANY_DATASET)
        if access is Access.READ:
            return grant in ("read", "write")
        return grant == "write"


config.check_keys()


@functools.cache
def _secret_from_arn(arn: str) -> str:
    """The HS256 secret from Secrets Manager, fetched once per container (first request)."""
    import boto3

    return boto3.client("secretsmanager", region_name=config.REGION).get_secret_value(SecretId=arn)["SecretString"]


def _keys() -> list[tuple[Any, str]]:
    keys = []
    if config.JWT_SECRET:
        keys.append((config.JWT_SECRET, "HS256"))
    elif config.JWT_SECRET_ARN:
        keys.append((_secret_from_arn(config.JWT_SECRET_ARN), "HS256"))
    if config.JWT_PUBLIC_KEY:
        keys.append((config.JWT_PUBLIC_KEY.replace("\\n", "\n"), "RS256"))
    return keys


class _VerifiedTokens:
    """Claims of tokens already verified, so a pilot's every request does not pay the signature
    check again (RS256 especially). Keyed by the token and the key configuration; ``exp`` is
    checked on every use."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._claims: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            claims = self._claims.get(key)
            if claims is not None:
                self._claims.move_to_end(key)
        if claims is not None and claims["exp"] <= time.time():
            raise Unauthenticated("token expired")
        return claims

    def put(self, key: tuple[Any, ...], claims: dict[str, Any]) -> None:
        with self._lock:
            self._claims[key] = claims
            while len(self._claims) > self._size:
                self._claims.popitem(last=False)


_VERIFIED = _VerifiedTokens()


def decode_token(token: str) -> dict[str, Any]:
    """The verified claims of ``token``, or ``Unauthenticated``."""
    cache_key = (token, config.JWT_SECRET, config.JWT_SECRET_ARN, config.JWT_PUBLIC_KEY,
                 config.JWT_AUDIENCE, config.JWT_ISSUER)
    claims = _VERIFIED.get(cache_key)
    if claims is None:
        claims = _verify(token)
        if isinstance(claims.get("exp"), (int, float)):
            _VERIFIED.put(cache_key, claims)
    return claims


def _verify(token: str) -> dict[str, Any]:
    import jwt  # imported on first use: it loads `cryptography`, a cold-start cost

    keys = _keys()
    if not keys:
        raise Unauthenticated("no token key is configured")
    options = {"require": ["exp"], "verify_aud": bool(config.JWT_AUDIENCE)}
    last: Exception | None = None
    for key, algorithm in keys:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=config.JWT_AUDIENCE,
                issuer=config.JWT_ISSUER,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError as error:
            last = error
    raise Unauthenticated(f"invalid token: {last}")


def _keycloak_roles(claims: dict[str, Any]) -> tuple[set[str], dict[str, str]]:
    roles: set[str] = set()
    datasets: dict[str, str] = {}
    groups = claims.get("groups") if isinstance(claims.get("groups"), list) else []
    if config.KEYCLOAK_ADMIN_GROUP in groups:
        roles.add("admin")
    access = claims.get("resource_access")
    client = access.get(config.KEYCLOAK_CLIENT) if isinstance(access, dict) else None
    client_roles = client.get("roles") if isinstance(client, dict) else None
    if isinstance(client_roles, list) and config.KEYCLOAK_SYSTEM_ROLE in client_roles:
        roles.add("system")
    pattern = re.compile(config.KEYCLOAK_USER_GROUP_PATTERN)
    if any(isinstance(g, str) and pattern.fullmatch(g) for g in groups):
        roles.add("user")
        if config.KEYCLOAK_USER_ACCESS in ("read", "write"):
            datasets[ANY_DATASET] = config.KEYCLOAK_USER_ACCESS
    return roles, datasets


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Our roles from our own claims or from Keycloak's."""
    roles = {r for r in claims.get("roles") or [] if r in ROLES} if isinstance(claims.get("roles"), list) else set()
    grants = claims.get("datasets")
    datasets = (
        {k: v for k, v in grants.items() if v in ("read", "write")} if isinstance(grants, dict) else {}
    )
    kc_roles, kc_datasets = _keycloak_roles(claims)
    roles |= kc_roles
    datasets = {**kc_datasets, **datasets}
    return Principal(subject=str(claims.get("sub", "")), roles=frozenset(roles), datasets=datasets)


def authenticate(authorization: str | None) -> Principal:
    """The principal of an ``Authorization`` header (401 when there is none that verifies)."""
    if not authorization:
        raise Unauthenticated("missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'")
    return principal_from_claims(decode_token(token.strip()))


def authorize(principal: Principal, access: Access, dataset_id: str | None) -> None:
    """``Forbidden`` unless ``principal`` may use a route needing ``access``."""
    if not principal.can(access, dataset_id):
        raise Forbidden("not allowed for this token")


def make_token(roles: list[str], datasets: dict[str, str] | None = None, ttl_seconds: int = 30 * 86400,
               subject: str = "local") -> str:
    """An HS256 token for the configured secret (``make token`` and the tests)."""
    import jwt

    if not config.JWT_SECRET:
        raise RuntimeError("TASKS_JWT_SECRET is not set")
    claims: dict[str, Any] = {"sub": subject, "roles": roles, "exp": int(time.time()) + ttl_seconds}
    if datasets:
        claims["datasets"] = datasets
    if config.JWT_AUDIENCE:
        claims["aud"] = config.JWT_AUDIENCE
    if config.JWT_ISSUER:
        claims["iss"] = config.JWT_ISSUER
    return jwt.encode(claims, config.JWT_SECRET, algorithm="HS256")
