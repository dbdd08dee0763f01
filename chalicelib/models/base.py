"""What every table shares: region, endpoint, on-demand billing, connection pool, retries."""

from pynamodb.models import Model

from chalicelib import config


class BaseMeta:
    """PynamoDB ``Meta`` defaults for our tables."""

    region = config.REGION
    host = config.dynamodb_endpoint()
    billing_mode = "PAY_PER_REQUEST"
    max_pool_connections = config.DB_PARALLELISM + 4
    # botocore's adaptive retry mode: backs off and rate-limits itself under throttling.
    retry_configuration = {"mode": "adaptive", "max_attempts": 6}
    connect_timeout_seconds = 5
    read_timeout_seconds = 10


def connection(model: type[Model]):
    """The model's table connection, for raw reads and writes of whole items."""
    return model._get_connection()
