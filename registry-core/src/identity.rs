//! Who is acting: recorded in chain history and checked by the access rules.

use std::cell::RefCell;

use crate::error::{RegistryError, Result};

thread_local! {
    static THREAD_USER: RefCell<Option<String>> = const { RefCell::new(None) };
    static THREAD_MAY_ADMINISTER: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether this thread's user may use their admin rights (default: yes). A server
/// acting for a token whose scope is below `admin` turns it off, so the token cannot
/// do what its user could do as an admin.
pub fn set_thread_may_administer(allowed: bool) {
    THREAD_MAY_ADMINISTER.with(|a| a.set(allowed));
}

/// Whether this thread's user may use their admin rights.
pub fn may_administer() -> bool {
    THREAD_MAY_ADMINISTER.with(|a| a.get())
}

/// Act as `user` on this thread (`None` restores the default). For services that
/// handle several users, and for tests.
pub fn set_thread_user(user: Option<&str>) {
    THREAD_USER.with(|u| *u.borrow_mut() = user.map(str::to_owned));
}

/// The acting user: this thread's user if set, else `VALET_USER`, else the login name
/// (`USER`, `LOGNAME`), else the operating system's name for this process's account.
/// The command line's `--user` sets `VALET_USER`. Refuses a name that is not a valid
/// user name (see [`validate_user_name`]), wherever it came from.
pub fn current_user() -> Result<String> {
    let (name, origin) = match THREAD_USER.with(|u| u.borrow().clone()) {
        Some(u) => (u, "the acting user"),
        None => match ["VALET_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()).map(|v| (v, *k)))
        {
            Some((v, k)) => (v, k),
            None => (
                os_account_name().ok_or_else(|| {
                    RegistryError::Invalid(
                        "no acting user: set --user or VALET_USER (this process's account has no name)"
                            .into(),
                    )
                })?,
                "the operating system account",
            ),
        },
    };
    validate_user_name(&name).map_err(|e| RegistryError::Invalid(format!("{origin}: {e}")))?;
    Ok(name)
}

/// The name the system's user database gives this process's real user id.
fn os_account_name() -> Option<String> {
    // SAFETY: getpwuid_r writes into the buffers given, which outlive the call; the
    // returned pointer is checked before it is read.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_str()
            .ok()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    }
}

/// A user name is one path segment of `u/<user>/…` and a database role name: not
/// empty, not `unknown`, `.` or `..`, at most 64 characters, with no `/`, `\`,
/// white space or control and formatting characters.
pub fn validate_user_name(name: &str) -> std::result::Result<(), String> {
    let why = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name == "unknown" || name == "." || name == ".." {
        Some("it is reserved".to_owned())
    } else if name.chars().count() > 64 {
        Some("it is longer than 64 characters".to_owned())
    } else {
        name.chars()
            .find(|c| matches!(c, '/' | '\\') || c.is_whitespace())
            .or_else(|| crate::text::first_invisible(name))
            .map(|c| format!("it contains {}", crate::text::describe_char(c)))
    };
    match why {
        Some(why) => Err(format!("user name {name:?} is not valid: {why}")),
        None => Ok(()),
    }
}

/// Wall-clock time now, in nanoseconds since 1970-01-01 UTC.
pub fn now_utc_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}
