"""Where usage periods begin in a time zone (api.md "Usage rows": periods start at midnight in tz)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from backend.domain.usage import last_whole_months, periods, utc

SANTIAGO = ZoneInfo("America/Santiago")
PARIS = ZoneInfo("Europe/Paris")


def test_a_day_starts_at_the_first_instant_of_its_local_date_across_dst():
    # 2026-04-05: at 00:00 (-03) the clock goes back to 23:00 (-04): the 5th begins at the second midnight
    assert utc(date(2026, 4, 5), SANTIAGO) == datetime(2026, 4, 5, 4, tzinfo=UTC)
    # 2026-09-06: 00:00 (-04) jumps to 01:00 (-03): the 6th begins at 01:00
    assert utc(date(2026, 9, 6), SANTIAGO) == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert utc(date(2026, 3, 29), PARIS) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert utc(date(2026, 3, 30), PARIS) == datetime(2026, 3, 29, 22, tzinfo=UTC)


def test_periods_partition_the_range_and_are_labelled_by_their_true_start():
    days = periods(date(2026, 3, 25), date(2026, 4, 3), "week", PARIS)
    assert [p.label.isoformat() for p in days] == ["2026-03-23T00:00:00+01:00", "2026-03-30T00:00:00+02:00"]
    assert days[0].start == utc(date(2026, 3, 25), PARIS) and days[0].end == days[1].start
    assert days[1].end == utc(date(2026, 4, 3), PARIS)
    months = periods(date(2026, 1, 31), date(2026, 3, 2), "month", PARIS)
    assert [p.label.date() for p in months] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    gap = periods(date(2026, 9, 5), date(2026, 9, 7), "day", SANTIAGO)
    assert [p.label.isoformat() for p in gap] == ["2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00"]


def test_the_last_three_whole_months_end_where_this_month_begins():
    start, end = last_whole_months(date(2026, 1, 15), PARIS)
    assert (start, end) == (utc(date(2025, 10, 1), PARIS), utc(date(2026, 1, 1), PARIS))
