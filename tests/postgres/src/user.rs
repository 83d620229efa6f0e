//! Who the server runs as. `initdb` and `postgres` refuse to run as root, so when the
//! tests run as root the cluster belongs to the system user [`SERVER_USER`], created on
//! first use; otherwise it runs as the current user.
//!
//! Owns: looking that user up and creating it (`useradd --system --no-create-home`),
//! tolerating another test process creating it at the same moment.
//! Must not: change an existing user, create one when not root, or use sudo.

use std::ffi::CString;
use std::io;
use std::process::Command;
use std::time::Duration;

/// The system user the cluster runs as when the tests run as root.
pub(crate) const SERVER_USER: &str = "keyway-pg";

/// How often creating the user is tried: a concurrent `useradd` holds the password file's
/// lock for a moment, and this one fails meanwhile.
const CREATE_ATTEMPTS: u32 = 50;
const CREATE_PAUSE: Duration = Duration::from_millis(100);

/// The user and group the server's programs are started as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `None` when not root (the programs run as the current user), else [`SERVER_USER`],
/// created if missing.
pub(crate) fn server_owner() -> Result<Option<Owner>, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    ensure_user(SERVER_USER).map(Some)
}

fn ensure_user(name: &str) -> Result<Owner, String> {
    let mut last_failure = String::new();
    for _ in 0..CREATE_ATTEMPTS {
        if let Some(owner) = lookup(name).map_err(|e| format!("looking up user {name}: {e}"))? {
            return Ok(owner);
        }
        match useradd(name) {
            // Looked up again at the top of the loop.
            Ok(()) => continue,
            // Another process may be creating the same user (useradd then exits 9, "already
            // exists", or 10, "cannot lock /etc/passwd"): look again after a pause.
            Err(failure) => last_failure = failure,
        }
        std::thread::sleep(CREATE_PAUSE);
    }
    Err(format!(
        "could not create the system user {name} to run PostgreSQL as (the tests run as root, \
         which initdb and postgres refuse): {last_failure}"
    ))
}

/// Runs `useradd`, from `PATH` or Debian's `/usr/sbin`.
fn useradd(name: &str) -> Result<(), String> {
    let args = ["--system", "--no-create-home", name];
    let output = match Command::new("useradd").args(args).output() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Command::new("/usr/sbin/useradd").args(args).output()
        }
        other => other,
    }
    .map_err(|e| format!("running useradd: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "useradd {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The user's uid and primary gid, or `None` when there is no such user.
fn lookup(name: &str) -> io::Result<Option<Owner>> {
    let cname = CString::new(name).map_err(io::Error::other)?;
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: passwd is plain old data; getpwnam_r fills it with pointers into `buf`,
        // which outlives every read of it below (only the two integers are read).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buf.len()` is its size.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => {
                return Ok(Some(Owner {
                    uid: pwd.pw_uid,
                    gid: pwd.pw_gid,
                }));
            }
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            // Some C libraries report "no such user" as one of these.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_users_up() {
        assert_eq!(lookup("root").unwrap(), Some(Owner { uid: 0, gid: 0 }));
        assert_eq!(lookup("keyway-no-such-user").unwrap(), None);
    }
}
