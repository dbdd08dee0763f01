"""What every table shares: region, endpoint, on-demand billing, connection pool, retries."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib import config

#: botocore's adaptive retry mode: exponential backoff with jitter, and a client-side rate
#: limiter that slows down under throttling; 6 attempts in all, then the caller answers 503.
RETRIES = {"mode": "adaptive", "total_max_attempts": 6}


class BaseMeta:
    """PynamoDB ``Meta`` defaults for our tables."""

    region = config.REGION
    host = config.dynamodb_endpoint()
    billing_mode = "PAY_PER_REQUEST"
    max_pool_connections = config.DB_PARALLELISM + 4
    connect_timeout_seconds = 5
    read_timeout_seconds = 10


class BaseModel(Model):
    """Our models' base: PynamoDB takes a retry configuration only from a global settings file,
    not from ``Meta``, so it is set on each model's connection before its client exists."""

    @classmethod
    def _get_connection(cls):  # type: ignore[override]
        connection = super()._get_connection()
        connection.connection._retry_configuration = RETRIES
        return connection
