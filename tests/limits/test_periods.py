"""Billing periods: calendar months in the account's time zone, with fixed dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenants.limits.periods import period_at


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_a_period_is_the_local_calendar_month():
    period = period_at("Europe/Paris", utc(2025, 11, 14, 12, 0))
    assert period.key == "2025-11"
    assert period.label == "November"
    # Winter time (UTC+1) at both ends.
    assert period.start.astimezone(UTC) == utc(2025, 10, 31, 23, 0)
    assert period.end.astimezone(UTC) == utc(2025, 11, 30, 23, 0)
    assert period.describe_reset() == "1 December 00:00 Europe/Paris"
    assert period.end_ms == int(utc(2025, 11, 30, 23, 0).timestamp() * 1000)


def test_the_month_turns_at_local_midnight_not_at_utc_midnight():
    before = period_at("Europe/Paris", utc(2025, 11, 30, 22, 59, 59))
    after = period_at("Europe/Paris", utc(2025, 11, 30, 23, 0))
    assert (before.key, after.key) == ("2025-11", "2025-12")
    assert before.end == after.start
    # West of UTC the same instant is still the previous month.
    assert period_at("America/New_York", utc(2025, 12, 1, 4, 59)).key == "2025-11"
    assert period_at("America/New_York", utc(2025, 12, 1, 5, 0)).key == "2025-12"


def test_a_year_end_rolls_into_january():
    period = period_at("Asia/Tokyo", utc(2025, 12, 31, 14, 59))
    assert period.key == "2025-12"
    assert period.end.astimezone(UTC) == utc(2025, 12, 31, 15, 0)
    assert period_at("Asia/Tokyo", utc(2025, 12, 31, 15, 0)).key == "2026-01"


@pytest.mark.parametrize(
    ("instant", "key"),
    [
        # Europe/Paris moves to summer time on 30 March 2025 at 02:00 local.
        (utc(2025, 3, 30, 0, 59), "2025-03"),  # before the change
        (utc(2025, 3, 30, 1, 1), "2025-03"),  # after it, same month
        (utc(2025, 3, 31, 21, 59), "2025-03"),  # 23:59 CEST on the 31st
        (utc(2025, 3, 31, 22, 0), "2025-04"),  # midnight CEST: April
    ],
)
def test_a_month_with_a_dst_change_ends_at_summer_midnight(instant, key):
    assert period_at("Europe/Paris", instant).key == key


def test_both_sides_of_a_dst_change_share_one_period_of_the_right_length():
    march = period_at("Europe/Paris", utc(2025, 3, 15))
    # Starts at winter midnight (UTC+1), ends at summer midnight (UTC+2): one hour short.
    assert march.start.astimezone(UTC) == utc(2025, 2, 28, 23, 0)
    assert march.end.astimezone(UTC) == utc(2025, 3, 31, 22, 0)
    assert march.end.timestamp() - march.start.timestamp() == (31 * 24 - 1) * 3600
    october = period_at("Europe/Paris", utc(2025, 10, 26, 0, 30))  # before the change back
    assert october == period_at("Europe/Paris", utc(2025, 10, 26, 1, 30))  # after it
    assert october.end.timestamp() - october.start.timestamp() == (31 * 24 + 1) * 3600


def test_seconds_left_count_real_seconds_across_a_dst_change():
    march = period_at("Europe/Paris", utc(2025, 3, 29, 22, 0))  # midnight local, 30 March
    now = datetime(2025, 3, 30, 0, 0, tzinfo=march.start.tzinfo)
    # 48 wall-clock hours to 1 April, but only 47 real ones.
    assert march.seconds_left(now) == 47 * 3600


def test_an_unknown_zone_counts_in_utc():
    assert period_at("Mars/Olympus_Mons", utc(2025, 11, 30, 23, 30)).key == "2025-11"


def test_the_month_kept_for_a_zone_is_only_used_for_instants_inside_it():
    december = period_at("Europe/Paris", utc(2025, 12, 10))
    assert period_at("Europe/Paris", utc(2025, 12, 20)) is december  # kept
    assert period_at("Europe/Paris", utc(2025, 11, 30, 22, 59, 59)).key == "2025-11"
    assert period_at("Europe/Paris", utc(2025, 11, 30, 23, 0)).key == "2025-12"
    assert period_at("UTC", utc(2025, 11, 30, 23, 0)).key == "2025-11"  # zones apart
    assert december.end_s == int(utc(2025, 12, 31, 23, 0).timestamp())
