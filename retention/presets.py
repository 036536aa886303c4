"""The SLA's retention policies as named, documented presets.

* ``sla-app``: "4 keer per dag wordt er een back-up gemaakt … na 2 maanden verwijderd":
  application backups four times a day, each kept two months (``keep_within = "2m"``).
* ``sla-server``: "dagelijkse backups worden 7 dagen bewaard … wekelijkse backup … 4 weken
  … maandelijkse … 6 maanden": one daily for each of the last 7 days, one per ISO week for
  4 weeks, one per month for 6 months (``keep_within_daily/weekly/monthly``).
"""

from __future__ import annotations

from retention.duration import Duration
from retention.policy import Policy

__all__ = ["PRESETS", "SLA_APP", "SLA_SCHEDULES", "SLA_SERVER"]

SLA_APP = Policy(keep_within=Duration(months=2))
SLA_SERVER = Policy(
    keep_within_daily=Duration(days=7),
    keep_within_weekly=Duration(weeks=4),
    keep_within_monthly=Duration(months=6),
)
PRESETS: dict[str, Policy] = {"sla-app": SLA_APP, "sla-server": SLA_SERVER}
SLA_SCHEDULES: dict[str, str] = {"sla-app": "0 0,6,12,18 * * *", "sla-server": "0 2 * * *"}
