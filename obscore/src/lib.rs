//! The IVOA ObsCore table. ObsCore times are MJD in UTC while the registry keeps TAI,
//! so the conversion (with leap seconds) lives here.

pub mod time;

pub use time::{tai_minus_utc_seconds, tai_ns_to_mjd_utc};
