"""What every table shares: region, endpoint, on-demand billing, connection pool and timeouts.

The models derive from :class:`chalicelib.db.RetryingModel`, which adds the retry configuration.
"""

from __future__ import annotations

from chalicelib import config


class BaseMeta:
    """PynamoDB ``Meta`` defaults for our tables."""

    region = config.REGION
    host = config.dynamodb_endpoint()
    billing_mode = "PAY_PER_REQUEST"
    max_pool_connections = config.DB_PARALLELISM + 4
    connect_timeout_seconds = 5
    read_timeout_seconds = 10
