//! Working days: Monday to Friday, less Scotland's bank holidays (computed for any year by the
//! rules of the Banking and Financial Dealings Act 1971 as applied in Scotland) and the local
//! holidays a board configures (`[requests] local_holidays`, e.g. a town's spring and autumn
//! holidays, or a one-off such as a coronation).
//!
//! Scotland's bank holidays: 1 and 2 January, Good Friday, the first Monday in May, the last
//! Monday in May, the first Monday in August, St Andrew's Day (30 November), Christmas Day and
//! Boxing Day. One that falls on a Saturday or Sunday moves to the next weekday that is not
//! already a holiday. (Easter Monday is not a bank holiday in Scotland.)

use chrono::{Datelike, Days, NaiveDate, Weekday};

fn weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm.
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

fn nth_monday(year: i32, month: u32, first: bool) -> Option<NaiveDate> {
    if first {
        NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 1)
    } else {
        // the last Monday: the fifth if there is one, else the fourth
        NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 5)
            .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 4))
    }
}

/// Scotland's bank holidays in `year`, as observed (weekend ones moved to the next free
/// weekday), in date order.
pub fn scottish_bank_holidays(year: i32) -> Vec<NaiveDate> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    let fixed_with_substitutes = [ymd(1, 1), ymd(1, 2), ymd(11, 30), ymd(12, 25), ymd(12, 26)];
    let mut days: Vec<NaiveDate> = [
        easter(year).and_then(|e| e.checked_sub_days(Days::new(2))),
        nth_monday(year, 5, true),
        nth_monday(year, 5, false),
        nth_monday(year, 8, true),
    ]
    .into_iter()
    .flatten()
    .collect();
    for d in fixed_with_substitutes.into_iter().flatten() {
        let mut o = d;
        while weekend(o) || days.contains(&o) {
            o = o.succ_opt().unwrap_or(o);
        }
        days.push(o);
    }
    days.sort_unstable();
    days
}

/// Working days for a board: weekdays less Scottish bank holidays and `local` holidays.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    local: Vec<NaiveDate>,
}

impl Calendar {
    pub fn new(local: &[NaiveDate]) -> Self {
        Self {
            local: local.to_vec(),
        }
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !weekend(d) && !self.local.contains(&d) && !scottish_bank_holidays(d.year()).contains(&d)
    }

    /// The date `n` working days after `from` (`from` itself when `n` is 0).
    pub fn add(&self, from: NaiveDate, n: i64) -> NaiveDate {
        let mut d = from;
        let mut left = n.max(0);
        while left > 0 {
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }
}

/// Midnight at the start of local date `d` in `tz`, as UTC milliseconds (the earliest instant
/// of that date; UK clocks change at 01:00, so midnight always exists there).
fn local_midnight_ms(tz: chrono_tz::Tz, d: NaiveDate) -> i64 {
    // (a zone whose clocks jump at midnight: the first instant of the day is an hour on)
    crate::util::local_ms_in(tz, d.and_time(chrono::NaiveTime::MIN))
}

fn local_date(tz: chrono_tz::Tz, ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

impl Calendar {
    /// The first working day on or after `d`.
    pub fn next_working_day(&self, d: NaiveDate) -> NaiveDate {
        let mut d = d;
        for _ in 0..366 {
            if self.is_working_day(d) {
                break;
            }
            d = d.succ_opt().unwrap_or(d);
        }
        d
    }

    /// The instant `n` working days after `from_ms` (UTC milliseconds), in the site's zone
    /// `tz`: the same local time of day on the `n`th working day after. Something that starts
    /// on a weekend or holiday counts from the start (midnight) of the next working day. A
    /// routine request made at 10:00 on the Friday before a bank holiday Monday, with a target
    /// of one working day, is due at 10:00 on Tuesday.
    pub fn add_working_days_ms(&self, tz: chrono_tz::Tz, from_ms: i64, n: i64) -> i64 {
        let d = local_date(tz, from_ms);
        let (start_day, offset) = if self.is_working_day(d) {
            (d, from_ms - local_midnight_ms(tz, d))
        } else {
            (self.next_working_day(d), 0)
        };
        let end_day = self.add(start_day, n);
        // the same wall-clock offset into the day (a clock change within the day is ignored)
        local_midnight_ms(tz, end_day) + offset
    }

    /// Working time between two instants, in working days: each working day (a local calendar
    /// day that is a working day) counts the part of it that lies between `from_ms` and
    /// `to_ms`, as a fraction of its length; weekends and holidays count nothing. Negative
    /// spans count zero.
    pub fn working_days_between(&self, tz: chrono_tz::Tz, from_ms: i64, to_ms: i64) -> f64 {
        if to_ms <= from_ms {
            return 0.0;
        }
        let mut total = 0.0;
        let mut d = local_date(tz, from_ms);
        let last = local_date(tz, to_ms);
        while d <= last {
            let next = d.succ_opt().unwrap_or(d);
            if self.is_working_day(d) {
                let (lo, hi) = (local_midnight_ms(tz, d), local_midnight_ms(tz, next));
                let overlap = to_ms.min(hi) - from_ms.max(lo);
                if overlap > 0 && hi > lo {
                    total += overlap as f64 / (hi - lo) as f64;
                }
            }
            if next == d {
                break;
            }
            d = next;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The published Scottish bank holiday dates (gov.uk, "Bank holidays: Scotland").
    #[test]
    fn published_dates() {
        let list = |y| {
            scottish_bank_holidays(y)
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            list(2025),
            [
                "2025-01-01",
                "2025-01-02",
                "2025-04-18",
                "2025-05-05",
                "2025-05-26",
                "2025-08-04",
                "2025-12-01",
                "2025-12-25",
                "2025-12-26"
            ]
        );
        assert_eq!(
            list(2026),
            [
                "2026-01-01",
                "2026-01-02",
                "2026-04-03",
                "2026-05-04",
                "2026-05-25",
                "2026-08-03",
                "2026-11-30",
                "2026-12-25",
                "2026-12-28"
            ]
        );
        // 2027: 1 Jan Friday, so 2 Jan (Saturday) moves to Monday 4 January; Christmas Day
        // (Saturday) and Boxing Day (Sunday) move to 27 and 28 December
        assert_eq!(
            list(2027),
            [
                "2027-01-01",
                "2027-01-04",
                "2027-03-26",
                "2027-05-03",
                "2027-05-31",
                "2027-08-02",
                "2027-11-30",
                "2027-12-27",
                "2027-12-28"
            ]
        );
        assert_eq!(easter(2024), Some(d("2024-03-31")));
        assert_eq!(easter(2038), Some(d("2038-04-25")));
    }

    #[test]
    fn working_days_skip_weekends_bank_and_local_holidays() {
        let cal = Calendar::new(&[d("2026-09-28")]); // a local autumn holiday
                                                     // Thursday 24 December 2026 + 2 working days: not Fri 25, Mon 28, but Tue 29 and Wed 30
        assert_eq!(cal.add(d("2026-12-24"), 2), d("2026-12-30"));
        // Friday 25 September + 1: Monday 28 is the local holiday
        assert_eq!(cal.add(d("2026-09-25"), 1), d("2026-09-29"));
        // Easter Monday is a working day in Scotland
        assert!(cal.is_working_day(d("2026-04-06")));
        assert!(!cal.is_working_day(d("2026-04-03")));
        assert_eq!(cal.add(d("2026-06-10"), 0), d("2026-06-10"));
    }

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn working_days_on_instants_in_uk_time() {
        let tz = chrono_tz::Europe::London;
        let cal = Calendar::default();
        // Friday 1 May 2026 10:00 BST, Monday 4 May is the May Day bank holiday: one working
        // day on is Tuesday 5 May 10:00 BST
        assert_eq!(
            cal.add_working_days_ms(tz, ms("2026-05-01T10:00:00+01:00"), 1),
            ms("2026-05-05T10:00:00+01:00")
        );
        // made on Saturday: counts from the start of Tuesday (Monday is the holiday)
        assert_eq!(
            cal.add_working_days_ms(tz, ms("2026-05-02T15:00:00+01:00"), 1),
            ms("2026-05-06T00:00:00+01:00")
        );
        // across the clocks going back (Sunday 25 October 2026): Friday 23 10:00 BST + 1
        // working day = Monday 26 10:00 GMT
        assert_eq!(
            cal.add_working_days_ms(tz, ms("2026-10-23T10:00:00+01:00"), 1),
            ms("2026-10-26T10:00:00Z")
        );
        // Friday 10:00 to Tuesday 10:00 over the holiday weekend is one working day
        let w = cal.working_days_between(
            tz,
            ms("2026-05-01T10:00:00+01:00"),
            ms("2026-05-05T10:00:00+01:00"),
        );
        assert!((w - 1.0).abs() < 1e-9, "{w}");
        // half a working day
        let w = cal.working_days_between(
            tz,
            ms("2026-06-10T06:00:00+01:00"),
            ms("2026-06-10T18:00:00+01:00"),
        );
        assert!((w - 0.5).abs() < 1e-9, "{w}");
        assert_eq!(cal.working_days_between(tz, 10, 5), 0.0);
    }
}
