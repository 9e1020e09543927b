"""The local API Gateway + Lambda + DynamoDB: `python -m devkit sandbox`."""
