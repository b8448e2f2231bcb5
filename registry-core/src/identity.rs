//! Who is acting: recorded in chain history (and, later, checked by access rules).

/// The acting user: `VALET_USER`, else the login name (`USER`, `LOGNAME`), else
/// `unknown`. Command-line `--user` overrides all of these by setting `VALET_USER`.
pub fn current_user() -> String {
    ["VALET_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Wall-clock time now, in nanoseconds since 1970-01-01 UTC.
pub fn now_utc_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}
