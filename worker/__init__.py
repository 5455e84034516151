"""The Cricksy video-analysis worker: SQS -> S3 -> pose analysis -> PostgreSQL."""
