"""``example-file``: up while a file exists on the Calcifer server (and is at least ``min_bytes`` long)."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status


class FileOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_bytes: int = Field(default=0, ge=0, description="Down when the file is shorter than this.")


class FileCheck(CheckType):
    kind = "example-file"
    Options = FileOptions
    summary = "Up while a file exists on the server (the example plugin)."
    needs_target = True

    async def check(self, target: Target, options: Any, ctx: CheckContext) -> Outcome:
        path = target.target or ""
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            return Outcome(Status.DOWN, f"{path}: {exc.strerror or 'not found'}")
        if size < options.min_bytes:
            return Outcome(Status.DOWN, f"{path} has {size} bytes, fewer than {options.min_bytes}")
        return Outcome(Status.UP, f"{path}: {size} bytes")
