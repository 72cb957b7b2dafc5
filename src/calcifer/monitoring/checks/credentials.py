"""Secrets of check types (passwords, SNMP keys): named in endpoint files, never written there.

Endpoint files live in git and every viewer reads an endpoint's declaration, so a check type's secret
option holds the *name* of an environment variable of the process that runs the check (the scheduler, or a
probe agent), e.g. ``password_env: CALCIFER_SECRET_REDIS_CACHE``; the value is read when the check runs.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import Field

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_ENV_NAME = re.compile(ENV_NAME)


class MissingSecret(Exception):
    """The environment variable an endpoint names is not set (retrying cannot help)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the environment variable {name} (named by the endpoint for its secret) is not set "
                         "for Calcifer")
        self.name = name


def env_field(what: str) -> Any:
    """The pydantic field of a secret option: the name of the environment variable that holds ``what``."""
    return Field(default=None, pattern=ENV_NAME,
                 description=f"Name of the environment variable holding {what} (never the secret itself: "
                 "endpoint files are in git).")


def read_secret(name: str | None) -> str | None:
    """The value of environment variable ``name`` (None when no name is given); raises MissingSecret."""
    if name is None:
        return None
    if not _ENV_NAME.match(name):  # validated by the options already; a plugin may call this directly
        raise MissingSecret(name)
    value = os.environ.get(name)
    if value is None:
        raise MissingSecret(name)
    return value
