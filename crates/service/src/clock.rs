//! Business time: the minutes an SLA counts are the company's working hours on its
//! working days (the fulfillment calendar: weekend days and holidays), at a fixed
//! offset from UTC. Timestamps in and out are UTC, like every stored timestamp.

use ordo_fulfillment::promising::WorkDays;
use time::{Duration, PrimitiveDateTime, Time};

#[derive(Debug, Clone)]
pub struct BusinessClock {
    days: WorkDays,
    /// Working hours as minutes after local midnight: [start, end).
    start: i64,
    end: i64,
    /// Local time = UTC + offset.
    offset: Duration,
}

/// Nobody waits for a business minute more than ten years away: bounds every loop.
const HORIZON_DAYS: i64 = 3660;

impl BusinessClock {
    pub fn new(days: WorkDays, start: Time, end: Time, offset_minutes: i32) -> BusinessClock {
        let mins = |t: Time| i64::from(t.hour()) * 60 + i64::from(t.minute());
        BusinessClock { days, start: mins(start), end: mins(end), offset: Duration::minutes(offset_minutes.into()) }
    }

    /// The working window of local day `d`, if it is a working day.
    fn window(&self, d: time::Date) -> Option<(PrimitiveDateTime, PrimitiveDateTime)> {
        let midnight = d.midnight();
        self.days
            .is_working(d)
            .then(|| (midnight + Duration::minutes(self.start), midnight + Duration::minutes(self.end)))
    }

    /// Business time between two UTC instants, in whole seconds (0 when `to <= from`).
    pub fn seconds_between(&self, from: PrimitiveDateTime, to: PrimitiveDateTime) -> i64 {
        if to <= from {
            return 0;
        }
        let (a, b) = (from + self.offset, to + self.offset);
        let mut total = 0;
        let mut d = a.date();
        for _ in 0..HORIZON_DAYS {
            if d > b.date() {
                break;
            }
            if let Some((ws, we)) = self.window(d) {
                let (s, e) = (ws.max(a), we.min(b));
                if s < e {
                    total += (e - s).whole_seconds();
                }
            }
            d = d.next_day().unwrap_or(d);
        }
        total
    }

    /// Business minutes between two UTC instants (whole minutes, rounded down).
    pub fn minutes_between(&self, from: PrimitiveDateTime, to: PrimitiveDateTime) -> i64 {
        self.seconds_between(from, to) / 60
    }

    /// The UTC instant `minutes` business minutes after `from`. Zero minutes is `from`
    /// itself; otherwise a moment outside working hours counts from the next opening.
    pub fn add_minutes(&self, from: PrimitiveDateTime, minutes: i64) -> PrimitiveDateTime {
        if minutes <= 0 {
            return from;
        }
        let mut left = Duration::minutes(minutes);
        let mut t = from + self.offset;
        for _ in 0..HORIZON_DAYS {
            let d = t.date();
            if let Some((ws, we)) = self.window(d) {
                let s = ws.max(t);
                if s < we {
                    if left <= we - s {
                        return s + left - self.offset;
                    }
                    left -= we - s;
                }
            }
            t = d.next_day().unwrap_or(d).midnight();
        }
        t - self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime, time};

    /// Mon–Fri 08:00–16:00 local at UTC+1, Christmas off.
    fn clock() -> BusinessClock {
        BusinessClock::new(WorkDays::new([6, 7], [date!(2026 - 12 - 25)]), time!(08:00), time!(16:00), 60)
    }

    #[test]
    fn minutes_inside_one_day() {
        let c = clock();
        // 09:00–11:30 local = 08:00–10:30 UTC.
        assert_eq!(c.minutes_between(datetime!(2026-12-01 08:00), datetime!(2026-12-01 10:30)), 150);
        // Before opening and after closing count nothing.
        assert_eq!(c.minutes_between(datetime!(2026-12-01 04:00), datetime!(2026-12-01 07:00)), 0);
        assert_eq!(c.minutes_between(datetime!(2026-12-01 15:00), datetime!(2026-12-01 22:00)), 0);
        assert_eq!(c.minutes_between(datetime!(2026-12-01 10:00), datetime!(2026-12-01 09:00)), 0);
    }

    #[test]
    fn weekends_do_not_count() {
        let c = clock();
        // Friday 15:00 local (14:00 UTC) to Monday 09:00 local (08:00 UTC): 60 + 60.
        assert_eq!(c.minutes_between(datetime!(2026-12-04 14:00), datetime!(2026-12-07 08:00)), 120);
        // Two hours from Friday 15:00 local end on Monday 09:00 local.
        assert_eq!(c.add_minutes(datetime!(2026-12-04 14:00), 120), datetime!(2026-12-07 08:00));
    }

    #[test]
    fn holidays_do_not_count() {
        let c = clock();
        // Thursday 24 Dec 15:00 local + 2 h: the 25th is a holiday, the 26th–27th a
        // weekend, so Monday the 28th at 09:00 local.
        assert_eq!(c.add_minutes(datetime!(2026-12-24 14:00), 120), datetime!(2026-12-28 08:00));
        assert_eq!(c.minutes_between(datetime!(2026-12-24 14:00), datetime!(2026-12-28 08:00)), 120);
    }

    #[test]
    fn a_ticket_opened_at_night_starts_at_opening() {
        let c = clock();
        // Tuesday 02:00 UTC (03:00 local) + 30 min: 08:30 local = 07:30 UTC.
        assert_eq!(c.add_minutes(datetime!(2026-12-01 02:00), 30), datetime!(2026-12-01 07:30));
        // A full working day of 480 minutes ends at closing, not at the next opening.
        assert_eq!(c.add_minutes(datetime!(2026-12-01 02:00), 480), datetime!(2026-12-01 15:00));
        assert_eq!(c.add_minutes(datetime!(2026-12-01 02:00), 0), datetime!(2026-12-01 02:00));
    }

    #[test]
    fn adding_and_measuring_agree() {
        let c = clock();
        let from = datetime!(2026-12-03 11:17);
        for m in [1, 59, 60, 400, 481, 2000, 9999] {
            assert_eq!(c.minutes_between(from, c.add_minutes(from, m)), m, "{m} minutes");
        }
    }
}
