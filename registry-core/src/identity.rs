//! Who is acting: recorded in chain history and checked by the access rules.

use std::cell::RefCell;

thread_local! {
    static THREAD_USER: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Act as `user` on this thread (`None` restores the default). For services that
/// handle several users, and for tests.
pub fn set_thread_user(user: Option<&str>) {
    THREAD_USER.with(|u| *u.borrow_mut() = user.map(str::to_owned));
}

/// The acting user: this thread's user if set, else `VALET_USER`, else the login name
/// (`USER`, `LOGNAME`), else `unknown`. The command line's `--user` sets `VALET_USER`.
pub fn current_user() -> String {
    if let Some(u) = THREAD_USER.with(|u| u.borrow().clone()) {
        return u;
    }
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
