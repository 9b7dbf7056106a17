//! Time helpers: the ledger stores milliseconds since the Unix epoch (UTC).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

static SITE_TZ: std::sync::OnceLock<chrono_tz::Tz> = std::sync::OnceLock::new();

/// Set the site's time zone (once, when the server starts; later calls are ignored).
pub fn set_site_timezone(name: &str) {
    if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
        let _ = SITE_TZ.set(tz);
    }
}

/// The site's time zone (`[server] timezone`, Europe/London unless set).
pub fn site_tz() -> chrono_tz::Tz {
    SITE_TZ.get().copied().unwrap_or(chrono_tz::Europe::London)
}

/// Today's date at the site.
pub fn site_today() -> chrono::NaiveDate {
    Utc::now().with_timezone(&site_tz()).date_naive()
}

/// An RFC 3339 time as the site's local time, for people: `Sun 29 Mar 2026 03:30 BST`.
pub fn local_text(rfc: &str) -> String {
    DateTime::parse_from_rfc3339(rfc)
        .map(|t| {
            t.with_timezone(&site_tz())
                .format("%a %d %b %Y %H:%M %Z")
                .to_string()
        })
        .unwrap_or_else(|_| rfc.to_string())
}

/// A wall-clock date and time at the site (a clinic's 09:00) as UTC milliseconds. In the hour
/// skipped when the clocks go forward the time is read an hour later; in the hour repeated when
/// they go back, the first (summer-time) one.
pub fn local_to_ms(naive: chrono::NaiveDateTime) -> i64 {
    local_ms_in(site_tz(), naive)
}

/// As [`local_to_ms`], in time zone `tz`.
pub fn local_ms_in(tz: chrono_tz::Tz, naive: chrono::NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.timestamp_millis(),
        chrono::LocalResult::Ambiguous(first, _) => first.timestamp_millis(),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| naive.and_utc().timestamp_millis()),
    }
}

/// The start of local date `d` at the site (its first instant), as UTC milliseconds.
pub fn local_midnight_ms(d: chrono::NaiveDate) -> i64 {
    local_to_ms(d.and_time(chrono::NaiveTime::MIN))
}

/// The site's local date of a time in UTC milliseconds.
pub fn local_date_of_ms(ms: i64) -> chrono::NaiveDate {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&site_tz())
        .date_naive()
}

/// The local clock time of an RFC 3339 time, `HH:MM` (slot times on printed pull lists).
pub fn local_clock(rfc: &str) -> String {
    DateTime::parse_from_rfc3339(rfc)
        .map(|t| t.with_timezone(&site_tz()).format("%H:%M").to_string())
        .unwrap_or_default()
}

/// An RFC 3339 time as the site's local time with its offset, for CSVs and exports
/// (`2026-07-01T10:00:00+01:00`).
pub fn local_rfc3339(rfc: &str) -> String {
    DateTime::parse_from_rfc3339(rfc)
        .map(|t| {
            t.with_timezone(&site_tz())
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        })
        .unwrap_or_else(|_| rfc.to_string())
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn ms_to_rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Parse an RFC 3339 time (any offset) to UTC milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UK local time across the clock changes (the site's zone is Europe/London unless set).
    #[test]
    fn local_time_follows_the_clock_changes() {
        assert_eq!(
            local_text("2026-01-10T12:00:00Z"),
            "Sat 10 Jan 2026 12:00 GMT"
        );
        // clocks go forward at 01:00 UTC on Sunday 29 March 2026
        assert_eq!(
            local_text("2026-03-29T00:59:00Z"),
            "Sun 29 Mar 2026 00:59 GMT"
        );
        assert_eq!(
            local_text("2026-03-29T01:00:00Z"),
            "Sun 29 Mar 2026 02:00 BST"
        );
        assert_eq!(
            local_rfc3339("2026-07-01T09:00:00.000Z"),
            "2026-07-01T10:00:00+01:00"
        );
        assert_eq!(local_clock("2026-07-01T09:00:00.000Z"), "10:00");
        assert_eq!(local_clock("2026-01-10T09:00:00Z"), "09:00");
        let at = |s: &str| {
            ms_to_rfc3339(local_to_ms(
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap(),
            ))
        };
        assert_eq!(at("2026-07-01 09:00"), "2026-07-01T08:00:00.000Z");
        assert_eq!(at("2026-01-10 09:00"), "2026-01-10T09:00:00.000Z");
        assert_eq!(
            at("2026-03-29 01:30"),
            "2026-03-29T01:30:00.000Z",
            "skipped hour"
        );
        assert_eq!(
            at("2026-10-25 01:30"),
            "2026-10-25T00:30:00.000Z",
            "repeated hour"
        );
        // and back at 01:00 UTC on Sunday 25 October 2026
        assert_eq!(
            local_text("2026-10-25T00:30:00Z"),
            "Sun 25 Oct 2026 01:30 BST"
        );
        assert_eq!(
            local_text("2026-10-25T01:30:00Z"),
            "Sun 25 Oct 2026 01:30 GMT"
        );
        assert_eq!(local_text("not a time"), "not a time");
    }
}
