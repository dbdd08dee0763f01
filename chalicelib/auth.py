"""Bearer tokens → a principal (roles and dataset grants), and the access rules.

Checked inside the app rather than by an API Gateway authorizer, so ``make run`` and AWS behave
the same and every refusal keeps the ``{"code", "error"}`` shape.

Tokens are JWTs, verified by one of the configured keys:

* the shared secret (``TASKS_JWT_SECRET``, or the Secrets Manager secret of
  ``TASKS_JWT_SECRET_ARN``), HS256 or HS512 (IceProd 3's tools sign HS512); ``aud`` and ``iss``
  are checked when ``TASKS_JWT_AUDIENCE`` / ``TASKS_JWT_ISSUER`` are set;
* Keycloak's public key (``TASKS_JWT_PUBLIC_KEY``), RS256; ``iss`` and ``aud`` always checked
  (``config.check_keys`` refuses to start without them).

``exp`` is required. Roles come from IceProd's Keycloak claims (the admin group, the
``iceprod-system`` client role, an IceCube institution group: a user with
``TASKS_KEYCLOAK_USER_ACCESS`` on every dataset, ``read`` by default), whichever key signed;
our own ``roles`` / ``datasets`` claims count only in tokens signed with the shared secret, which
only we hold: a Keycloak user could otherwise have such claims mapped into a realm token.

IceProd 3 (``protocol.CURRENT.access_records``) maps tokens as IceProd 3 does: the token's groups
(``admin``, ``simprod``, ``filtering``, ``users`` from Keycloak's group paths) and username
(``iceprod-system`` for system tokens, else ``preferred_username``, which a non-system token must
carry); a ``user``'s dataset rights come from the dataset's access record
(:mod:`chalicelib.services.access`) instead of ``TASKS_KEYCLOAK_USER_ACCESS``, besides the
``datasets`` grants of our own tokens; and refusals carry IceProd's reasons: every failed
authentication is 401 ``"authentication failed"`` (IceProd says 403; the status is ours, as
under IceProd 2, the reason IceProd's), a missing role 403 ``"authorization failed"``, and a
record's verdicts 403 ``"attr not found"``, ``"role not found"``, ``"authorization failed"`` or
``"failed auth"``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from chalicelib import config, protocol
from chalicelib.errors import Forbidden, Unauthenticated
from chalicelib.services import access as access_records

log = logging.getLogger("iceprod_tasks.auth")
ROLES = ("admin", "system", "user")
ANY_DATASET = "*"
#: IceProd 3's username of system tokens.
SYSTEM_USERNAME = "iceprod-system"
#: IceProd 3's groups beside ``admin`` and ``users`` (``iceprod/roles_groups.py``), by Keycloak path.
KEYCLOAK_GROUPS = {"/posix/simprod-submit": "simprod", "/posix/i3filter": "filtering"}


class Access(Enum):
    """What a route needs."""

    SYSTEM = "system"  # admin or system only (the global routes)
    ADMIN = "admin"  # admin only (a dataset's access record)
    READ = "read"  # admin, system, or a user with read or write on the path's dataset
    WRITE = "write"  # admin, system, or a user with write on the path's dataset
    OWN = "own datasets"  # admin, system, or any user: the answer holds only what it may read


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    datasets: dict[str, str] = field(default_factory=dict)
    #: IceProd 3's groups of the token (``admin``, ``simprod``, ``filtering``, ``users``).
    groups: frozenset[str] = frozenset()
    #: IceProd 3's username (``iceprod-system`` for system tokens, else ``preferred_username``).
    username: str | None = None

    def can(self, access: Access, dataset_id: str | None) -> bool:
        """Whether this principal may call a route needing ``access`` (on ``dataset_id``) by its
        roles and grants alone (IceProd 3's access records aside: see :func:`authorize`)."""
        if access is Access.ADMIN:
            return "admin" in self.roles
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


#: The clock of the secret's cache (tests move it instead of sleeping).
_clock = time.monotonic


class _SecretVersions:
    """The shared secret's current and previous values from Secrets Manager, re-read after
    ``JWT_SECRET_TTL_SECONDS``: a warm function follows a rotation within that time, and tokens
    signed just before it (``AWSPREVIOUS``) verify until they expire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arn: str | None = None
        self._values: tuple[str, ...] = ()
        self._read_at = 0.0

    def get(self, arn: str) -> tuple[str, ...]:
        with self._lock:
            if arn == self._arn and _clock() - self._read_at < config.JWT_SECRET_TTL_SECONDS:
                return self._values
            try:
                values = _read_secret_versions(arn)
            except Exception:
                if arn != self._arn or not self._values:
                    raise
                log.warning("Secrets Manager unavailable; keeping the secret read before", exc_info=True)
                values = self._values
            self._arn, self._values, self._read_at = arn, values, _clock()
            return values

    def clear(self) -> None:
        with self._lock:
            self._arn, self._values = None, ()


def _read_secret_versions(arn: str) -> tuple[str, ...]:
    import boto3

    client = boto3.client("secretsmanager", region_name=config.REGION)
    values = [client.get_secret_value(SecretId=arn)["SecretString"]]
    try:
        previous = client.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"]
    except client.exceptions.ResourceNotFoundException:  # never rotated
        previous = None
    if previous and previous != values[0]:
        values.append(previous)
    return tuple(values)


_SECRETS = _SecretVersions()


@dataclass(frozen=True)
class _Key:
    """A key that may verify a token; ``shared`` keys are ours, so our own claims count."""

    material: str
    algorithms: tuple[str, ...]
    shared: bool


def _keys() -> tuple[_Key, ...]:
    secrets: tuple[str, ...] = ()
    if config.JWT_SECRET:
        secrets = (config.JWT_SECRET,)
    elif config.JWT_SECRET_ARN:
        secrets = _SECRETS.get(config.JWT_SECRET_ARN)
    keys = [_Key(secret, ("HS256", "HS512"), shared=True) for secret in secrets]
    if config.JWT_PUBLIC_KEY:
        keys.append(_Key(config.JWT_PUBLIC_KEY.replace("\\n", "\n"), ("RS256",), shared=False))
    return tuple(keys)


class _VerifiedTokens:
    """Claims of tokens already verified, so a pilot's every request does not pay the signature
    check again (RS256 especially). Keyed by the token and the key configuration; ``exp`` is
    checked on every use."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._claims: OrderedDict[tuple[Any, ...], tuple[dict[str, Any], bool]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[dict[str, Any], bool] | None:
        with self._lock:
            verified = self._claims.get(key)
            if verified is not None:
                self._claims.move_to_end(key)
        if verified is not None and verified[0]["exp"] <= time.time():
            raise Unauthenticated("token expired")
        return verified

    def put(self, key: tuple[Any, ...], verified: tuple[dict[str, Any], bool]) -> None:
        with self._lock:
            self._claims[key] = verified
            while len(self._claims) > self._size:
                self._claims.popitem(last=False)


_VERIFIED = _VerifiedTokens()


def decode_token(token: str) -> tuple[dict[str, Any], bool]:
    """The verified claims of ``token`` and whether the shared secret signed it; or
    ``Unauthenticated``. The cache key holds the key material, so a token verified by a secret
    that rotation has since dropped is verified again (and refused)."""
    keys = _keys()
    cache_key = (token, keys, config.JWT_AUDIENCE, config.JWT_ISSUER, config.KEYCLOAK_AUDIENCE,
                 config.KEYCLOAK_ISSUER, config.KEYCLOAK_ANY_AUDIENCE)
    cached = _VERIFIED.get(cache_key)
    if cached is not None:
        return cached
    verified = _verify(token, keys)
    if isinstance(verified[0].get("exp"), (int, float)):
        _VERIFIED.put(cache_key, verified)
    return verified


def _verify(token: str, keys: tuple[_Key, ...]) -> tuple[dict[str, Any], bool]:
    import jwt  # imported on first use: it loads `cryptography`, a cold-start cost

    if not keys:
        raise Unauthenticated("no token key is configured")
    last: Exception | None = None
    for key in keys:
        if key.shared:
            audience, issuer, required = config.JWT_AUDIENCE, config.JWT_ISSUER, ["exp"]
        else:
            audience = None if config.KEYCLOAK_ANY_AUDIENCE else config.KEYCLOAK_AUDIENCE
            issuer, required = config.KEYCLOAK_ISSUER, ["exp", "iss"] + (["aud"] if audience else [])
        try:
            claims = jwt.decode(token, key.material, algorithms=list(key.algorithms), audience=audience,
                                issuer=issuer, options={"require": required, "verify_aud": bool(audience)})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError as error:
            last = error
            continue
        return claims, key.shared
    raise Unauthenticated(f"invalid token: {last}")


def _keycloak_roles(claims: dict[str, Any]) -> tuple[set[str], dict[str, str], set[str]]:
    """Roles, dataset grants and IceProd 3's groups of Keycloak's claims."""
    roles: set[str] = set()
    datasets: dict[str, str] = {}
    groups = claims.get("groups") if isinstance(claims.get("groups"), list) else []
    iceprod_groups = {KEYCLOAK_GROUPS[g] for g in groups if isinstance(g, str) and g in KEYCLOAK_GROUPS}
    if config.KEYCLOAK_ADMIN_GROUP in groups:
        roles.add("admin")
        iceprod_groups.add("admin")
    access = claims.get("resource_access")
    client = access.get(config.KEYCLOAK_CLIENT) if isinstance(access, dict) else None
    client_roles = client.get("roles") if isinstance(client, dict) else None
    if isinstance(client_roles, list) and config.KEYCLOAK_SYSTEM_ROLE in client_roles:
        roles.add("system")
    pattern = re.compile(config.KEYCLOAK_USER_GROUP_PATTERN)
    if any(isinstance(g, str) and pattern.fullmatch(g) for g in groups):
        roles.add("user")
        iceprod_groups.add("users")
        if config.KEYCLOAK_USER_ACCESS in ("read", "write") and not protocol.CURRENT.access_records:
            datasets[ANY_DATASET] = config.KEYCLOAK_USER_ACCESS
    return roles, datasets, iceprod_groups


def principal_from_claims(claims: dict[str, Any], shared: bool) -> Principal:
    """Our roles from Keycloak's claims, plus our own ``roles`` / ``datasets`` claims when the
    token was signed with the shared secret (``shared``)."""
    roles, datasets, groups = _keycloak_roles(claims)
    if shared:
        own = claims.get("roles")
        roles |= {r for r in own if r in ROLES} if isinstance(own, list) else set()
        grants = claims.get("datasets")
        if isinstance(grants, dict):
            datasets.update({k: v for k, v in grants.items() if v in ("read", "write")})
    named = claims.get("preferred_username")
    username = SYSTEM_USERNAME if "system" in roles else named if isinstance(named, str) and named else None
    return Principal(subject=str(claims.get("sub", "")), roles=frozenset(roles), datasets=datasets,
                     groups=frozenset(groups), username=username)


def authenticate(authorization: str | None) -> Principal:
    """The principal of an ``Authorization`` header (401 when there is none that verifies).

    IceProd 3 also refuses a non-system token without ``preferred_username``, and says only
    ``"authentication failed"`` (the cause is logged)."""
    if not protocol.CURRENT.access_records:
        return _authenticate(authorization)
    try:
        principal = _authenticate(authorization)
        if principal.username is None:
            raise Unauthenticated("a non-system token without preferred_username")
    except Unauthenticated as error:
        log.info("authentication failed: %s", error)
        raise Unauthenticated("authentication failed") from None
    return principal


def _authenticate(authorization: str | None) -> Principal:
    if not authorization:
        raise Unauthenticated("missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'")
    return principal_from_claims(*decode_token(token.strip()))


def authorize(principal: Principal, access: Access, dataset_id: str | None) -> None:
    """``Forbidden`` unless ``principal`` may use a route needing ``access``.

    Under IceProd 3 a ``user`` not granted by its token is judged by the dataset's access record
    (one cached read: :func:`chalicelib.services.access.record`)."""
    if principal.can(access, dataset_id):
        return
    if _judged_by_records(principal, access, dataset_id):
        _check_record(principal, access.value, access_records.record(dataset_id))
        return
    raise Forbidden("authorization failed" if protocol.CURRENT.access_records else "not allowed for this token")


def _judged_by_records(principal: Principal, access: Access, dataset_id: str | None) -> bool:
    return (protocol.CURRENT.access_records and "user" in principal.roles and dataset_id is not None
            and access in (Access.READ, Access.WRITE))


def _check_record(principal: Principal, right: str, record: dict[str, Any] | None) -> None:
    """IceProd 3's verdict on a record for ``right`` (``read`` or ``write``), in its order."""
    if record is None:
        raise Forbidden("attr not found")
    if f"{right}_groups" not in record:
        raise Forbidden("role not found")
    groups, users = record[f"{right}_groups"], record.get(f"{right}_users", [])
    if not (_strings(groups) and _strings(users)):
        raise Forbidden("failed auth")
    if not (principal.groups & set(groups) or principal.username in users):
        raise Forbidden("authorization failed")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def readable(principal: Principal, dataset_ids: list[str]) -> list[str]:
    """Those of ``dataset_ids`` that ``principal`` may read, in order; under IceProd 3 a
    ``user``'s by the access records, read together (cached, then one BatchGetItem a 100)."""
    granted = {d for d in dataset_ids if principal.can(Access.READ, d)}
    judged = [d for d in dataset_ids if d not in granted and _judged_by_records(principal, Access.READ, d)]
    found = access_records.records(judged) if judged else {}
    return [d for d in dataset_ids if d in granted or (d in found and _may_read(principal, found[d]))]


def _may_read(principal: Principal, record: dict[str, Any] | None) -> bool:
    try:
        _check_record(principal, Access.READ.value, record)
    except Forbidden:
        return False
    return True


def make_token(roles: list[str], datasets: dict[str, str] | None = None, ttl_seconds: int = 30 * 86400,
               subject: str = "local") -> str:
    """An HS256 token for the configured secret (``make token`` and the tests); its username
    (``preferred_username``, which IceProd 3 requires) is the subject."""
    import jwt

    if not config.JWT_SECRET:
        raise RuntimeError("TASKS_JWT_SECRET is not set")
    claims: dict[str, Any] = {"sub": subject, "preferred_username": subject, "roles": roles,
                              "exp": int(time.time()) + ttl_seconds}
    if datasets:
        claims["datasets"] = datasets
    if config.JWT_AUDIENCE:
        claims["aud"] = config.JWT_AUDIENCE
    if config.JWT_ISSUER:
        claims["iss"] = config.JWT_ISSUER
    return jwt.encode(claims, config.JWT_SECRET, algorithm="HS256")
