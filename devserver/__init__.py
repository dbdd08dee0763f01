"""What only ``make run`` and the tests need: the local gateway and server, the embedded
DynamoDB, the stream consumer and the background schedules."""
