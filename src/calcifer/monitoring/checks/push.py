"""``push``: no network; the monitored job calls its heartbeat URL (``monitoring/push.py`` records it)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status


class PushOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace: int = Field(default=60, ge=0, le=7 * 86_400,
                       description="Seconds allowed beyond the interval before a missing heartbeat is down.")


def _ago(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86_400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


class PushCheck(CheckType):
    kind: ClassVar[str] = "push"
    Options: ClassVar[type[BaseModel]] = PushOptions
    summary: ClassVar[str] = ("A heartbeat URL that a cron job or script calls; down when no call comes within "
                              "interval + grace, or when the call reports down.")

    async def check(self, target: Target, options: PushOptions, ctx: CheckContext) -> Outcome:
        seen = ctx.push_seen(target.slug)
        allowed = target.interval + options.grace
        if seen is None:
            return Outcome(Status.DOWN, "no heartbeat received yet")
        age = (ctx.now() - seen.at).total_seconds()
        if age > allowed:
            return Outcome(Status.DOWN, f"no heartbeat for {_ago(age)} (expected every {target.interval} s "
                           f"+ {options.grace} s grace)")
        if seen.reported_status == Status.DOWN:
            said = f": {seen.message}" if seen.message else ""
            return Outcome(Status.DOWN, f"reported down {_ago(age)} ago{said}")
        said = f": {seen.message}" if seen.message else ""
        return Outcome(Status.UP, f"last heartbeat {_ago(age)} ago{said}")
