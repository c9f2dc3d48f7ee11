"""On-call rotations: who a schedule points at, at a given moment.

Participants take turns from `start` at `handoff_time` in the schedule's time zone,
for a day or a week each (weekly shifts hand off on `handoff_day`). An override in force
wins over the rotation. Time zone rules come from the standard library's zoneinfo, so
a handoff stays at 09:00 local time across daylight-saving changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from liberation_guardian.config.routing import ScheduleConfig

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def on_call(schedule: ScheduleConfig, at: datetime) -> str:
    """The receiver on call in `schedule` at `at` (a timezone-aware time)."""
    for override in schedule.overrides:
        if _aware(override.start, schedule) <= at < _aware(override.end, schedule):
            return override.receiver
    zone = ZoneInfo(schedule.timezone)
    first = datetime.combine(schedule.start, schedule.handoff_time, tzinfo=zone)
    if schedule.rotation == "weekly":
        # The first shift starts on the first handoff day on or after `start`.
        first += timedelta(days=(_DAYS.index(schedule.handoff_day) - first.weekday()) % 7)
    local = at.astimezone(zone)
    # Count whole shifts in local calendar days, so DST changes do not shift the handoff hour.
    days = (local.date() - first.date()).days
    if local.time() < schedule.handoff_time:
        days -= 1
    length = 7 if schedule.rotation == "weekly" else 1
    shift = days // length
    return schedule.participants[shift % len(schedule.participants)]


def _aware(moment: datetime, schedule: ScheduleConfig) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(schedule.timezone))
