"""Every setting of the service, read from the environment in one place.

Nothing else in the code base reads ``os.environ``: a reader who wants to know what can be
configured reads this module. Values are read once, at import; the local launcher calls
:func:`use_endpoint` before the models are imported.
"""

from __future__ import annotations

import os

_env = os.environ


def _int(name: str, default: int) -> int:
    return int(_env.get(name, default))


def _float(name: str, default: float) -> float:
    return float(_env.get(name, default))


def _opt(name: str) -> str | None:
    value = _env.get(name, "").strip()
    return value or None


# --- protocol --------------------------------------------------------------------------
#: Which IceProd Tasks protocol this deployment serves: "2" (pilots claim with
#: ``/task_actions/process``) or "3" (the grid daemon claims with ``queue_many``).
ICEPROD_API_VERSION = _env.get("ICEPROD_API_VERSION", "2").strip()
if ICEPROD_API_VERSION not in ("2", "3"):
    raise RuntimeError(f"ICEPROD_API_VERSION must be 2 or 3, not {ICEPROD_API_VERSION!r}")

# --- tables ---------------------------------------------------------------------------
TASKS_TABLE = _env.get("TASKS_TABLE", "iceprod-tasks")
FILES_TABLE = _env.get("FILES_TABLE", "iceprod-dataset-files")
COUNTERS_TABLE = _env.get("COUNTERS_TABLE", "iceprod-task-counters")
#: IceProd 3's task stats (the grid's per-attempt reports), one partition per dataset.
TASK_STATS_TABLE = _env.get("TASK_STATS_TABLE", "iceprod-task-stats")
#: The tasks table's stream, for the Lambda event source (the template wires the real one).
TASKS_STREAM_ARN = _env.get(
    "TASKS_STREAM_ARN",
    "arn:aws:dynamodb:us-east-1:000000000000:table/iceprod-tasks/stream/1970-01-01T00:00:00.000",
)
#: Write shards of the status/priority index key (``"<status>#<shard>"``).
STATUS_SHARDS = max(1, _int("STATUS_SHARDS", 1))

# --- DynamoDB endpoint -----------------------------------------------------------------
REGION = _env.get("AWS_REGION") or _env.get("AWS_DEFAULT_REGION") or "us-east-1"
DYNAMODB_ENDPOINT = _opt("AWS_ENDPOINT_URL_DYNAMODB")
STREAMS_ENDPOINT = _opt("AWS_ENDPOINT_URL_DYNAMODB_STREAMS") or DYNAMODB_ENDPOINT
#: Parallel DynamoDB requests one bulk operation may have in flight (also the pool size).
DB_PARALLELISM = max(1, _int("DB_PARALLELISM", 16))


def use_endpoint(url: str) -> None:
    """Point DynamoDB and its streams at ``url`` (the embedded engine of ``make run``).

    Must run before ``chalicelib.models`` is imported: the models read the endpoint once.
    Local engines need some credentials, any will do.
    """
    global DYNAMODB_ENDPOINT, STREAMS_ENDPOINT
    DYNAMODB_ENDPOINT = STREAMS_ENDPOINT = url
    _env["AWS_ENDPOINT_URL_DYNAMODB"] = url
    _env["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = url
    _env.setdefault("AWS_ACCESS_KEY_ID", "local")
    _env.setdefault("AWS_SECRET_ACCESS_KEY", "local")


def dynamodb_endpoint() -> str | None:
    """The configured endpoint, as it is now (``use_endpoint`` may have changed it)."""
    return DYNAMODB_ENDPOINT


# --- auth ------------------------------------------------------------------------------
JWT_SECRET = _opt("TASKS_JWT_SECRET")
#: A Secrets Manager secret holding the HS256 secret (the deployed stack's way).
JWT_SECRET_ARN = _opt("TASKS_JWT_SECRET_ARN")
JWT_PUBLIC_KEY = _opt("TASKS_JWT_PUBLIC_KEY")
#: Seconds the Secrets Manager secret is kept before it is read again (a rotation reaches warm
#: functions within this time; until then the previous version still verifies).
JWT_SECRET_TTL_SECONDS = max(0.0, _float("TASKS_JWT_SECRET_TTL_SECONDS", 300.0))
#: Optional ``aud`` / ``iss`` of tokens signed with the shared secret.
JWT_AUDIENCE = _opt("TASKS_JWT_AUDIENCE")
JWT_ISSUER = _opt("TASKS_JWT_ISSUER")
#: ``aud`` and ``iss`` of RS256 (Keycloak) tokens: required with ``TASKS_JWT_PUBLIC_KEY``, since
#: the realm's key signs tokens for every client of the realm.
KEYCLOAK_AUDIENCE = _opt("TASKS_KEYCLOAK_AUDIENCE")
KEYCLOAK_ISSUER = _opt("TASKS_KEYCLOAK_ISSUER")
#: Unsafe: accept a Keycloak token of any audience (any client of the realm).
KEYCLOAK_ANY_AUDIENCE = _env.get("TASKS_KEYCLOAK_ANY_AUDIENCE", "no").lower() in ("yes", "on", "1", "true")
#: Keycloak claim mapping (IceProd's production tokens).
KEYCLOAK_ADMIN_GROUP = _env.get("TASKS_KEYCLOAK_ADMIN_GROUP", "/tokens/IceProdAdmins")
KEYCLOAK_CLIENT = _env.get("TASKS_KEYCLOAK_CLIENT", "iceprod")
KEYCLOAK_SYSTEM_ROLE = _env.get("TASKS_KEYCLOAK_SYSTEM_ROLE", "iceprod-system")
KEYCLOAK_USER_GROUP_PATTERN = _env.get("TASKS_KEYCLOAK_USER_GROUP_PATTERN", r"/institutions/IceCube.*")
#: What a Keycloak ``user`` may do on every dataset: ``read`` (default), ``write`` or ``none``.
KEYCLOAK_USER_ACCESS = _env.get("TASKS_KEYCLOAK_USER_ACCESS", "read")
#: IceProd 3: seconds a dataset's access record is kept per process before it is read again
#: (every ``user`` call of a dataset route needs it; a change reaches warm functions within this
#: time, at once in the process that made it).
ACCESS_CACHE_SECONDS = max(0.0, _float("TASKS_ACCESS_CACHE_SECONDS", 5.0))


IN_LAMBDA = bool(_opt("AWS_LAMBDA_FUNCTION_NAME"))


def check_keys() -> None:
    """Refuse to start when tokens could not be verified, or would be verified too widely.

    A deployed function needs a key. A Keycloak public key needs the issuer and the audience
    (or the explicit ``TASKS_KEYCLOAK_ANY_AUDIENCE``): without them any token of the realm,
    issued to any of its clients, would verify.
    """
    if IN_LAMBDA and not (JWT_SECRET or JWT_SECRET_ARN or JWT_PUBLIC_KEY):
        raise RuntimeError("no token key: set TASKS_JWT_SECRET_ARN, TASKS_JWT_SECRET or TASKS_JWT_PUBLIC_KEY")
    if JWT_PUBLIC_KEY and not KEYCLOAK_ISSUER:
        raise RuntimeError("TASKS_JWT_PUBLIC_KEY needs TASKS_KEYCLOAK_ISSUER (the realm's issuer URL)")
    if JWT_PUBLIC_KEY and not (KEYCLOAK_AUDIENCE or KEYCLOAK_ANY_AUDIENCE):
        raise RuntimeError("TASKS_JWT_PUBLIC_KEY needs TASKS_KEYCLOAK_AUDIENCE "
                           "(or TASKS_KEYCLOAK_ANY_AUDIENCE=yes, which accepts tokens of every client)")


def set_jwt_secret(secret: str) -> None:
    """The local launcher's generated secret (when ``TASKS_JWT_SECRET`` is unset)."""
    global JWT_SECRET
    JWT_SECRET = secret
    _env["TASKS_JWT_SECRET"] = secret


# --- CORS (the IceProd website calls the API from its own origin) -------------------------
#: Origins allowed to call the API from a browser, comma-separated (``*``: any); empty: none.
CORS_ALLOW_ORIGINS = tuple(o.strip() for o in _env.get("CORS_ALLOW_ORIGINS", "").split(",") if o.strip())
CORS_MAX_AGE = _int("CORS_MAX_AGE", 600)

# --- answers ---------------------------------------------------------------------------
#: Answers at least this long (bytes of JSON) are gzip-compressed for clients that accept it.
GZIP_MIN_BYTES = max(0, _int("GZIP_MIN_BYTES", 1024))
#: JSON one answer may gather for a gzip client before compression (the compressed answer must
#: still fit the 6 MB Lambda cap; IceProd-like tasks compress 4.2x, base64 included).
GZIP_MAX_JSON_BYTES = max(1, _int("GZIP_MAX_JSON_BYTES", 24_000_000))

# --- claims, queueing ------------------------------------------------------------------
#: Index items one claim reads per Query page.
CLAIM_PAGE_SIZE = max(1, _int("CLAIM_PAGE_SIZE", 25))
#: Pick at random among the top-priority candidates (off: always the first, the naive claim
#: the benchmark compares against).
CLAIM_SPREAD = _env.get("CLAIM_SPREAD", "on").lower() not in ("off", "0", "false", "no")
#: Seconds a claim's left-over candidates are kept for the next claims of the same offer (each
#: is checked against the index head first); after that the next read starts from the top.
CLAIM_CACHE_SECONDS = _float("CLAIM_CACHE_SECONDS", 1.0)
#: Opt-in bounded staleness: a claim may be served by an index read sent up to this many seconds
#: before it began (fewer reads; a task queued meanwhile, even of a higher priority, may wait
#: this long). 0: every claim is served by a read sent after it began.
CLAIM_STALENESS_SECONDS = max(0.0, _float("CLAIM_STALENESS_SECONDS", 0.0))
#: Upper bound on index items one claim examines before it answers 404.
CLAIM_MAX_SCANNED = max(1, _int("CLAIM_MAX_SCANNED", 5000))
#: Upper bound on the seconds one claim spends before it answers 404.
CLAIM_MAX_SECONDS = _float("CLAIM_MAX_SECONDS", 10.0)
#: What one ``POST /task_actions/queue`` may move, and for how long (API Gateway allows 29 s).
QUEUE_MAX_PER_REQUEST = max(1, _int("QUEUE_MAX_PER_REQUEST", 10000))
REQUEST_WORK_SECONDS = _float("REQUEST_WORK_SECONDS", 20.0)
#: Items a listing asks DynamoDB for per request (its page size: never the client's ``limit``).
LIST_PAGE_SIZE = max(1, _int("LIST_PAGE_SIZE", 1000))
#: Items a paged listing (``limit``) may read in one request before it answers short, with a cursor.
LIST_MAX_READ = max(1, _int("LIST_MAX_READ", 20000))
#: Index items a request over a whole dataset that cannot be paged may read (a bulk action's
#: selection, a name's tasks, IceProd 2's task_stats); beyond it the request is refused (400).
DATASET_READ_MAX = max(1, _int("DATASET_READ_MAX", 100_000))
#: Bulk status changes beyond what a request can finish continue as a job, run every minute.
JOBS_RATE_MINUTES = max(1, _int("JOBS_RATE_MINUTES", 1))
JOB_WORK_SECONDS = _float("JOB_WORK_SECONDS", 240.0)
QUEUE_SCHEDULE = _env.get("QUEUE_SCHEDULE", "off").lower() in ("on", "1", "true", "yes")
QUEUE_RATE_MINUTES = max(1, _int("QUEUE_RATE_MINUTES", 5))
QUEUE_TARGET = max(0, _int("QUEUE_TARGET", 250000))
QUEUE_PER_CYCLE = max(0, _int("QUEUE_PER_CYCLE", 1000))

# --- leases and the janitor ------------------------------------------------------------
#: A claim's lease: max(LEASE_FLOOR_SECONDS, requirements.time hours x 3600 x LEASE_MARGIN);
#: a task without a numeric ``requirements.time`` counts LEASE_DEFAULT_HOURS (IceProd 3's default).
LEASE_FLOOR_SECONDS = max(1, _int("LEASE_FLOOR_SECONDS", 3600))
LEASE_MARGIN = max(1.0, _float("LEASE_MARGIN", 1.5))
LEASE_DEFAULT_HOURS = max(0.0, _float("LEASE_DEFAULT_HOURS", 8.0))
#: Write shards of the leases index key (``"<shard>"``): the janitor queries each.
LEASE_SHARDS = max(1, _int("LEASE_SHARDS", 4))
#: The janitor: on/off, its rate on AWS (Lambda's minimum is a minute) and in ``make run``.
JANITOR_SCHEDULE = _env.get("JANITOR_SCHEDULE", "on").lower() in ("on", "1", "true", "yes")
JANITOR_RATE_MINUTES = max(1, _int("JANITOR_RATE_MINUTES", 1))
JANITOR_LOCAL_SECONDS = max(1.0, _float("JANITOR_LOCAL_SECONDS", 10.0))
#: One janitor run's bounds: tasks moved and seconds spent (the next run resumes).
JANITOR_MAX_TASKS = max(1, _int("JANITOR_MAX_TASKS", 1000))
JANITOR_MAX_SECONDS = _float("JANITOR_MAX_SECONDS", 40.0)
#: IceProd 2: a ``reset`` task that has failed more than this many times ends ``failed``.
MAX_FAILURES = max(0, _int("MAX_FAILURES", 10))
#: IceProd 3: the same cap on ``waiting`` tasks, opt-in (0: off, as IceProd 3 has none).
MAX_FAILURES_PROTOCOL3 = max(0, _int("MAX_FAILURES_PROTOCOL3", 0))
#: Index items one run of that cap's sweep reads (it resumes where the last run stopped).
JANITOR_SWEEP_ITEMS = max(1, _int("JANITOR_SWEEP_ITEMS", 10000))
#: Characters of a failure's reason kept on the task (``failure_reason``).
FAILURE_REASON_CHARS = max(1, _int("FAILURE_REASON_CHARS", 1000))

# --- counters --------------------------------------------------------------------------
#: Seconds a stream record's "applied" marker lives (streams keep records 24 h).
MARKER_TTL_SECONDS = _int("MARKER_TTL_SECONDS", 48 * 3600)
RECONCILE_RATE_HOURS = max(1, _int("RECONCILE_RATE_HOURS", 24))
#: The SQS queue where Lambda reports stream batches the counters function gave up on.
STREAM_FAILURE_QUEUE_URL = _opt("STREAM_FAILURE_QUEUE_URL")

# --- local server ----------------------------------------------------------------------
PORT = _int("PORT", 8000)
HOST = _env.get("HOST", "127.0.0.1")
LOCAL_STATE_DIR = _env.get("TASKS_LOCAL_DIR", ".local")
LOG_LEVEL = _env.get("LOG_LEVEL", "INFO").upper()
#: What ``make run`` prints: ``human`` (one line per request, plain log lines) or ``json`` (also
#: the JSON log lines and EMF metric lines the deployed functions print).
LOCAL_CONSOLE = _env.get("LOCAL_CONSOLE", "human").lower()
#: JSON log lines and EMF metric lines (what CloudWatch reads): always on in a deployed function;
#: ``make run`` turns them off unless ``LOCAL_CONSOLE=json``.
STRUCTURED_OUTPUT = True


def use_human_console() -> None:
    """``make run``'s readable console: no JSON log or EMF lines (call before the app is imported)."""
    global STRUCTURED_OUTPUT
    STRUCTURED_OUTPUT = False
