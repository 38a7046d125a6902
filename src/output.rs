//! Writing an output file (`-o` of the rewrite and of `prove`): whole or not at all, and only
//! over a regular file or onto a new path.
//!
//! [`check_output`] refuses a path that holds anything but a regular file (a symbolic link, a
//! FIFO, a device, a directory, a socket) or a read-only file, saying what is there and what to
//! do; nothing is created and the thing at the path is left as it is. The CLI calls it before
//! any work, [`write_atomic`] again before writing.
//!
//! [`write_atomic`] writes the bytes to a file with no name (Linux `O_TMPFILE`), syncs it and
//! links it into place: onto a new path directly (`linkat`, which fails rather than replace
//! anything that appeared meanwhile), over an existing file through a temporary name and a
//! `rename`, which is atomic. A crash while writing leaves nothing behind: the unnamed file
//! disappears with the process. Where `O_TMPFILE` is not available (another OS, a file system
//! without it, no `/proc`), the temporary file has a recognisable name,
//! `.nexus-relink-<pid>-<random>.tmp`, and every write first removes the ones in the output
//! directory whose process is no longer alive (a crash of an earlier run); the same sweep
//! catches a crash in the instant between the link to the temporary name and the rename.

use crate::Error;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix and suffix of this tool's temporary files.
const TMP_PREFIX: &str = ".nexus-relink-";
const TMP_SUFFIX: &str = ".tmp";

fn refuse(out: &Path, what: String) -> Error {
    Error::Output {
        path: crate::escape::path(out),
        what,
    }
}

fn io_error(out: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Write {
        path: crate::escape::path(out),
        source: e,
    }
}

/// The directory a path is in (`.` for a bare file name).
fn parent(out: &Path) -> &Path {
    match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// What kind of thing other than a regular file is at a path (for the refusal).
fn describe(out: &Path, ft: std::fs::FileType) -> String {
    const ONLY: &str = "-o writes only a regular file or a new path";
    if ft.is_symlink() {
        let target = std::fs::read_link(out)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        return format!(
            "it is a symbolic link (to {target}); {ONLY} and neither replaces a link nor writes through it: give the target's path, or remove the link"
        );
    }
    if ft.is_dir() {
        return format!(
            "it is a directory; give a file name inside it (e.g. {})",
            out.join("out").display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = if ft.is_fifo() {
            Some("a FIFO (named pipe)")
        } else if ft.is_char_device() {
            Some("a character device")
        } else if ft.is_block_device() {
            Some("a block device")
        } else if ft.is_socket() {
            Some("a socket")
        } else {
            None
        };
        if let Some(kind) = kind {
            return format!(
                "it is {kind}; {ONLY}: write to a file and copy it there, or choose another path"
            );
        }
    }
    format!("it is not a regular file; {ONLY}: choose another path")
}

/// Refuse an output path that holds anything but a writable regular file, in a directory where
/// a file can be created (the output is written beside it and renamed). Leaves nothing behind.
pub fn check_output(out: &Path) -> Result<(), Error> {
    let dir = parent(out);
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_file() => {
            if m.permissions().readonly() {
                return Err(refuse(
                    out,
                    "it is a read-only file; make it writable (chmod u+w) or remove it".into(),
                ));
            }
        }
        Ok(m) => return Err(refuse(out, describe(out, m.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::metadata(dir) {
            Ok(d) if d.is_dir() => {}
            Ok(_) => {
                return Err(refuse(
                    out,
                    format!("{} is not a directory", crate::escape::path(dir)),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refuse(
                    out,
                    format!(
                        "the directory {} does not exist; create it or choose another path",
                        crate::escape::path(dir)
                    ),
                ))
            }
            Err(e) => return Err(io_error(out)(e)),
        },
        Err(e) => return Err(io_error(out)(e)),
    }
    probe_dir(dir).map_err(|e| {
        refuse(
            out,
            format!(
                "no file can be created in the directory {} ({}); choose a directory you can write to",
                crate::escape::path(dir),
                in_words(&e)
            ),
        )
    })
}

/// An I/O error without Rust's "(os error N)".
fn in_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::PermissionDenied => "permission denied".into(),
        K::ReadOnlyFilesystem => "a read-only file system".into(),
        K::StorageFull => "no space left on the device".into(),
        K::QuotaExceeded => "the disk quota is exceeded".into(),
        // Creating a file in a directory that exists (/proc answers ENOENT).
        K::NotFound => "the file system refuses new files there".into(),
        _ => e.to_string(),
    }
}

/// Create a file in `dir` and remove it: the check that the output can be written there,
/// before any work (a permission, a read-only mount, a full quota). Permission bits alone do
/// not say it (root passes them; a read-only mount does not show in them). An unnamed file
/// (`O_TMPFILE`) disappears when closed; elsewhere a named temporary file is removed at once.
fn probe_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Mode, OFlags};
        use rustix::io::Errno;
        match rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(_fd) => return Ok(()),
            // No O_TMPFILE here (as in `unnamed::write`): try a named file.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let path = temp_name(dir);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)
}

/// Write `bytes` to `out`, whole or not at all (see the module documentation). The file mode
/// of `like` (the input) is kept; otherwise that of the file replaced, or the default for a new
/// file (0666 less the umask).
pub fn write_atomic(out: &Path, bytes: &[u8], like: Option<&Path>) -> Result<(), Error> {
    check_output(out)?;
    let dir = parent(out);
    remove_stale(dir);
    let mode = like
        .or_else(|| out.exists().then_some(out))
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.permissions());
    // NEXUS_RELINK_TMPFILE=named skips O_TMPFILE (a file system that misbehaves with it;
    // the tests of the named path).
    #[cfg(target_os = "linux")]
    if std::env::var_os("NEXUS_RELINK_TMPFILE").is_none_or(|v| v != "named")
        && unnamed::write(dir, out, bytes, mode.as_ref())?
    {
        sync_dir(dir);
        return Ok(());
    }
    let tmp = named_temp(dir, bytes, mode.as_ref()).map_err(io_error(out))?;
    replace(&tmp, out)?;
    sync_dir(dir);
    Ok(())
}

/// Rename a finished temporary file over `out`, after checking again that `out` is still a
/// regular file or absent. The temporary file is removed on failure.
fn replace(tmp: &Path, out: &Path) -> Result<(), Error> {
    let r = check_output(out).and_then(|()| std::fs::rename(tmp, out).map_err(io_error(out)));
    if r.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    r
}

/// A fresh temporary name in `dir`, recognisable as this process's.
fn temp_name(dir: &Path) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    dir.join(format!(
        "{TMP_PREFIX}{}-{:016x}{TMP_SUFFIX}",
        std::process::id(),
        h.finish()
    ))
}

/// Write `bytes` to a new named temporary file in `dir`, synced; its path.
fn named_temp(
    dir: &Path,
    bytes: &[u8],
    mode: Option<&std::fs::Permissions>,
) -> std::io::Result<PathBuf> {
    let mut last = None;
    for _ in 0..16 {
        let path = temp_name(dir);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        let mut f = match f {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let r = (|| {
            f.write_all(bytes)?;
            if let Some(m) = mode {
                f.set_permissions(m.clone())?;
            }
            f.sync_all()
        })();
        return match r {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        };
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// The process id in one of this tool's temporary file names.
fn temp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TMP_PREFIX)?.strip_suffix(TMP_SUFFIX)?;
    let (pid, tag) = rest.split_once('-')?;
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    pid.parse().ok()
}

/// Is a process with this id running? (Unknown counts as alive: nothing is removed.)
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Some(p) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        // ESRCH: no such process. Success or EPERM: it exists.
        !matches!(
            rustix::process::test_kill_process(p),
            Err(rustix::io::Errno::SRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Remove this tool's temporary files in `dir` left by processes that no longer run (a crash
/// or a kill of an earlier run). Best effort: errors are ignored.
pub fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(temp_pid) else {
            continue;
        };
        let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && pid != me && !alive(pid) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Make a rename or link durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(target_os = "linux")]
mod unnamed {
    use super::*;
    use rustix::fs::{AtFlags, Mode, OFlags, CWD};
    use rustix::io::Errno;
    use std::os::fd::AsRawFd;

    /// Write through an `O_TMPFILE` file and link it into place. `Ok(false)`: not available
    /// here (nothing was created; use a named temporary file).
    pub(super) fn write(
        dir: &Path,
        out: &Path,
        bytes: &[u8],
        mode: Option<&std::fs::Permissions>,
    ) -> Result<bool, Error> {
        let io = io_error(out);
        let fd = match rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        ) {
            Ok(fd) => fd,
            // Kernels and file systems without O_TMPFILE answer one of these.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => return Ok(false),
            Err(e) => return Err(io(e.into())),
        };
        let mut f = std::fs::File::from(fd);
        f.write_all(bytes).map_err(&io)?;
        if let Some(m) = mode {
            f.set_permissions(m.clone()).map_err(&io)?;
        }
        f.sync_all().map_err(&io)?;
        // The file is reachable by name only through /proc (linkat with AT_EMPTY_PATH needs a
        // capability).
        let proc = format!("/proc/self/fd/{}", f.as_raw_fd());
        let link =
            |to: &Path| rustix::fs::linkat(CWD, proc.as_str(), CWD, to, AtFlags::SYMLINK_FOLLOW);
        if !out.exists() {
            match link(out) {
                Ok(()) => return Ok(true),
                Err(Errno::EXIST) => {} // something appeared: check it and replace it below
                Err(Errno::NOENT | Errno::XDEV | Errno::PERM | Errno::OPNOTSUPP) => {
                    return Ok(false)
                }
                Err(e) => return Err(io(e.into())),
            }
        }
        let mut tmp = temp_name(dir);
        loop {
            match link(&tmp) {
                Ok(()) => break,
                Err(Errno::EXIST) => tmp = temp_name(dir),
                Err(Errno::NOENT | Errno::XDEV | Errno::PERM | Errno::OPNOTSUPP) => {
                    return Ok(false)
                }
                Err(e) => return Err(io(e.into())),
            }
        }
        replace(&tmp, out)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        let t = temp_name(Path::new("/x"));
        let name = t.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_pid(name), Some(std::process::id()));
        for other in [
            ".nexus-relink-rJQnrO",
            ".nexus-relink-12-.tmp",
            ".nexus-relink-x-12ab.tmp",
            "nexus-relink-12-ab.tmp",
        ] {
            assert_eq!(temp_pid(other), None, "{other}");
        }
    }

    #[test]
    fn stale_temporary_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A child that has exited: its pid is not alive (until reused, which a fresh pid is not
        // this soon).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir
            .path()
            .join(format!("{TMP_PREFIX}{dead}-00ff{TMP_SUFFIX}"));
        let mine = dir.path().join(format!(
            "{TMP_PREFIX}{}-00ff{TMP_SUFFIX}",
            std::process::id()
        ));
        let other = dir.path().join(".nexus-relink-rJQnrO");
        for p in [&stale, &mine, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        write_atomic(&dir.path().join("out"), b"data", None).unwrap();
        assert!(
            !stale.exists(),
            "a dead process's temporary file is removed"
        );
        assert!(mine.exists() && other.exists(), "nothing else is");
        assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), b"data");
    }

    #[test]
    fn replaces_a_regular_file_and_keeps_the_mode_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (out, like) = (dir.path().join("out"), dir.path().join("like"));
        std::fs::write(&out, b"old contents, longer").unwrap();
        std::fs::write(&like, b"").unwrap();
        std::fs::set_permissions(&like, std::fs::Permissions::from_mode(0o751)).unwrap();
        write_atomic(&out, b"new", Some(&like)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o751);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(TMP_PREFIX))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::write(&ro, b"keep").unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
        let e = write_atomic(&ro, b"new", None).unwrap_err().to_string();
        assert!(e.contains("read-only file"), "{e}");
        assert_eq!(std::fs::read(&ro).unwrap(), b"keep");
        let e = write_atomic(dir.path(), b"new", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
        // A directory no file can be created in (sysfs refuses even root).
        let e = check_output(Path::new("/sys/out")).unwrap_err().to_string();
        assert!(
            e.contains("no file can be created in the directory /sys") && !e.contains("os error"),
            "{e}"
        );
        let e = write_atomic(Path::new("/dev/null"), b"new", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("character device") && !e.contains('\n'), "{e}");
    }
}
