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
}
