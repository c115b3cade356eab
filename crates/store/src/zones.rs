//! Time zones: lessons cross them (Seoul and Abu Dhabi are five hours apart), so every lesson
//! keeps both sides' zones and exports show both local times. The zone database is bundled, so
//! this works the same on Windows, which has none.

use crate::{Invalid, Result, StoreError, UnixMs};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Checks an IANA zone name such as `Asia/Seoul`.
pub fn validate_zone(name: &str) -> Result<()> {
    TimeZone::get(name)
        .map(|_| ())
        .map_err(|_| StoreError::Invalid(Invalid::UnknownZone(name.to_owned())))
}

/// `2026-11-22 18:00 (Asia/Seoul)`; an unknown zone or time shows as UTC.
pub(crate) fn local(t: UnixMs, zone: &str) -> String {
    let Ok(ts) = Timestamp::from_millisecond(t.0) else {
        return format!("{} ms", t.0);
    };
    match TimeZone::get(zone) {
        Ok(tz) => format!("{} ({zone})", ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M")),
        Err(_) => format!("{} (UTC)", ts.strftime("%Y-%m-%d %H:%M")),
    }
}

/// Just the clock time in a zone, `18:02`.
pub(crate) fn clock(t: UnixMs, zone: &str) -> String {
    let Ok(ts) = Timestamp::from_millisecond(t.0) else {
        return String::new();
    };
    let tz = TimeZone::get(zone).unwrap_or(TimeZone::UTC);
    ts.to_zoned(tz).strftime("%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seoul_and_abu_dhabi_are_five_hours_apart() {
        // 2026-11-22 09:00 UTC.
        let t = UnixMs(1_795_338_000_000);
        assert_eq!(local(t, "Asia/Seoul"), "2026-11-22 18:00 (Asia/Seoul)");
        assert_eq!(local(t, "Asia/Dubai"), "2026-11-22 13:00 (Asia/Dubai)");
        assert_eq!(clock(t, "Asia/Dubai"), "13:00");
        assert_eq!(local(t, "Mars/Olympus"), "2026-11-22 09:00 (UTC)");
    }

    #[test]
    fn zone_names_are_checked() {
        assert!(validate_zone("Asia/Seoul").is_ok());
        assert!(matches!(
            validate_zone("Seoul"),
            Err(StoreError::Invalid(_))
        ));
    }
}
