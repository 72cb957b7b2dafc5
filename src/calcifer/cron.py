"""Cron expressions (UTC) that Calcifer can schedule by: maintenance windows and backups share the rule.

croniter accepts expressions that never fire (``0 0 31 2 *``) and raises only when asked for the next
run, which used to happen in every page and loop that read the schedule. Every cron is checked here
before it is stored, and readers skip a stored one that fails.
"""

from __future__ import annotations

import datetime as dt

from croniter import CroniterError, croniter

# One firing on 29 February (every four years) or on a date that never comes is a mistake, not a schedule.
MAX_CRON_GAP = dt.timedelta(days=366)
CRON_ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
MAX_CRON_LENGTH = 120
# The Gregorian calendar repeats, so whether a cron fires often enough does not depend on when it is asked.
_CRON_REFERENCE = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)


def cron_problem(cron: str, *, example: str = "0 2 * * 0") -> str | None:
    """What is wrong with `cron` as a schedule (None: nothing): it must be five fields (or @daily,
    @weekly...), valid, and fire at least once a year."""
    text = cron.strip()
    hint = ("give a valid cron expression: 5 fields (minute hour day-of-month month day-of-week, UTC), "
            f"e.g. {example}")
    if len(text) > MAX_CRON_LENGTH or (text.lower() not in CRON_ALIASES and len(text.split()) != 5):
        return hint
    try:
        if not croniter.is_valid(text):
            return hint
        moment = _CRON_REFERENCE
        for _ in range(3):
            fire: dt.datetime = croniter(text, moment).get_next(dt.datetime)
            if fire - moment > MAX_CRON_GAP:
                return (f"the cron expression {text} fires less than once a year; "
                        f"choose one that fires at least yearly, e.g. {example}")
            moment = fire
    except (CroniterError, ValueError, KeyError, IndexError, OverflowError):
        # CroniterBadDateError for dates that never come (0 0 31 2 *); the others guard against
        # expressions its parser accepts but cannot iterate.
        return (f"the cron expression {text} never fires (check day of month and month); "
                f"choose one that fires at least yearly, e.g. {example}")
    return None
