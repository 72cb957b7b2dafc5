"""Fixtures of the off-site backup tests (see offsite.py)."""

from tests.backup.offsite import s3_server, ssh_server  # noqa: F401 - pytest fixtures
