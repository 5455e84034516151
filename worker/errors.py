"""Error classes that decide a job's fate.

The worker loop sorts every failure into one of two kinds: a permanent problem
(the job can never succeed as submitted, so it is marked `failed` with the
message and its SQS message is deleted) or anything else, which is treated as
transient and retried through SQS redelivery.
"""
from __future__ import annotations


class PermanentJobError(Exception):
    """The job cannot succeed as submitted; the message is shown to a person."""


class InvalidVideoError(PermanentJobError):
    """The input is not a video we can analyse (empty, corrupt, too long, no person...)."""
