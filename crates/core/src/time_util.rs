//! Timestamps are UTC, stored as `TIMESTAMP` (a `PrimitiveDateTime`), shown as RFC 3339.
//! Truncated to microseconds so both databases return exactly what was written.

use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

pub fn now() -> PrimitiveDateTime {
    let t = OffsetDateTime::now_utc();
    let micros = t.microsecond();
    let t = t.replace_microsecond(micros).expect("valid microsecond");
    PrimitiveDateTime::new(t.date(), t.time())
}

pub fn to_utc(t: PrimitiveDateTime) -> OffsetDateTime {
    t.assume_utc()
}

pub fn from_offset(t: OffsetDateTime) -> PrimitiveDateTime {
    let u = t.to_offset(UtcOffset::UTC);
    let u = u.replace_microsecond(u.microsecond()).expect("valid microsecond");
    PrimitiveDateTime::new(u.date(), u.time())
}
