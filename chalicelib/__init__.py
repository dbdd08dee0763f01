"""iceprod-tasks: the IceProd Tasks REST API on Chalice, PynamoDB and DynamoDB."""
