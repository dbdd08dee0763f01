"""Event handlers: the tasks stream and the schedules (Lambda functions, not HTTP routes)."""
