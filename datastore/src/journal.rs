//! Leases and journals: how a write into the datastore tells `check --repair` which
//! files it may still commit, and how repair proves a file abandoned.
//!
//! Every write that puts files under the datastore root holds a *write lease*: a shared
//! lock on `.valet/lock` for as long as its transaction may still commit, and a journal
//! `.valet/writes/<name>.journal` (locked exclusively by its writer) that lists every
//! staging file, destination and directory before it is made. Repair takes the lock
//! exclusively, so while it works no writer is alive; a journal left behind then
//! belongs to a writer that died, and exactly the files it lists (and that no artifact
//! record claims) are debris of that writer. Locks are `flock`s: the kernel drops them
//! when a process dies, however it dies.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::transfer::{io, TransferError};

/// The directory under the datastore root that holds valet's own control files.
pub const CONTROL_DIR: &str = ".valet";
const LOCK_FILE: &str = "lock";
const WRITES_DIR: &str = "writes";
const JOURNAL_SUFFIX: &str = ".journal";

/// One thing a writer made, as its journal records it (before making it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    /// A directory the writer created.
    Dir(PathBuf),
    /// A file staged at `staging` and renamed to `dest`; `moved_from` is where a
    /// `move` transfer took it from (so repair can put it back rather than delete it).
    File {
        /// The staging name.
        staging: PathBuf,
        /// The final name.
        dest: PathBuf,
        /// The source of a move.
        moved_from: Option<PathBuf>,
    },
}

fn hex_path(p: &Path) -> String {
    hex::encode(p.as_os_str().as_bytes())
}

fn path_from_hex(s: &str) -> Option<PathBuf> {
    hex::decode(s)
        .ok()
        .map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
}

impl JournalEntry {
    fn line(&self) -> String {
        match self {
            JournalEntry::Dir(d) => format!("D {}\n", hex_path(d)),
            JournalEntry::File {
                staging,
                dest,
                moved_from,
            } => format!(
                "F {} {} {}\n",
                hex_path(staging),
                hex_path(dest),
                moved_from.as_deref().map(hex_path).unwrap_or("-".into())
            ),
        }
    }

    fn parse(line: &str) -> Option<JournalEntry> {
        let mut parts = line.split(' ');
        match parts.next()? {
            "D" => Some(JournalEntry::Dir(path_from_hex(parts.next()?)?)),
            "F" => {
                let staging = path_from_hex(parts.next()?)?;
                let dest = path_from_hex(parts.next()?)?;
                let moved_from = match parts.next()? {
                    "-" => None,
                    h => Some(path_from_hex(h)?),
                };
                Some(JournalEntry::File {
                    staging,
                    dest,
                    moved_from,
                })
            }
            _ => None,
        }
    }
}

fn control_path(root: &Path, name: &str) -> PathBuf {
    root.join(CONTROL_DIR).join(name)
}

fn open_lock(root: &Path) -> Result<File, TransferError> {
    let dir = root.join(CONTROL_DIR);
    fs::create_dir_all(dir.join(WRITES_DIR)).map_err(|e| io(&dir, e))?;
    let path = dir.join(LOCK_FILE);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io(&path, e))
}

/// A writer's lease: held from before its first file until its transaction has
/// committed (then [`WriteLease::finish`]) or its files are taken back
/// ([`WriteLease::finish`] after the undo). Dropped without `finish` (a panic), the
/// journal stays for repair to read, as after a crash.
pub struct WriteLease {
    _shared: File,
    journal: File,
    journal_path: PathBuf,
}

impl WriteLease {
    /// Take a lease on the datastore at `root` (waits while a repair runs).
    pub fn acquire(root: &Path) -> Result<WriteLease, TransferError> {
        let lock = open_lock(root)?;
        lock.lock_shared()
            .map_err(|e| io(&control_path(root, LOCK_FILE), e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let journal_path = control_path(root, WRITES_DIR).join(format!(
            "{}-{nanos}-{}{JOURNAL_SUFFIX}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let journal = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&journal_path)
            .map_err(|e| io(&journal_path, e))?;
        journal.lock().map_err(|e| io(&journal_path, e))?;
        Ok(WriteLease {
            _shared: lock,
            journal,
            journal_path,
        })
    }

    /// Record what is about to be made; it reaches the file (not only a buffer) before
    /// this returns, so a crash right after leaves it on record.
    pub fn record(&mut self, entry: &JournalEntry) -> Result<(), TransferError> {
        self.journal
            .write_all(entry.line().as_bytes())
            .map_err(|e| io(&self.journal_path, e))
    }

    /// The write is over (committed, or undone): forget the journal, release the lease.
    pub fn finish(self) {
        let _ = fs::remove_file(&self.journal_path);
    }
}

/// A journal left in the datastore.
#[derive(Debug)]
pub struct Journal {
    /// Its file.
    pub path: PathBuf,
    /// Whether its writer is still alive (holds its lock).
    pub live: bool,
    /// What it recorded, oldest first.
    pub entries: Vec<JournalEntry>,
}

impl Journal {
    /// Forget a journal once its debris is dealt with.
    pub fn remove(&self) -> Result<(), TransferError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.path, e)),
            _ => Ok(()),
        }
    }
}

/// Every journal under the datastore at `root`, telling live writers from dead ones.
pub fn journals(root: &Path) -> Result<Vec<Journal>, TransferError> {
    let dir = control_path(root, WRITES_DIR);
    let listing = match fs::read_dir(&dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir, e)),
    };
    let mut out = Vec::new();
    for e in listing {
        let path = e.map_err(|e| io(&dir, e))?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.as_bytes().ends_with(JOURNAL_SUFFIX.as_bytes()))
        {
            continue;
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            // Finished between the listing and now.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path, e)),
        };
        let live = match file.try_lock() {
            Ok(()) => false,
            Err(fs::TryLockError::WouldBlock) => true,
            Err(fs::TryLockError::Error(e)) => return Err(io(&path, e)),
        };
        let text = fs::read(&path).map_err(|e| io(&path, e))?;
        // A line cut short by a crash is the one thing a journal may hold that does
        // not parse: what it would have named was never made.
        let entries = String::from_utf8_lossy(&text)
            .lines()
            .filter_map(JournalEntry::parse)
            .collect();
        out.push(Journal {
            path,
            live,
            entries,
        });
    }
    Ok(out)
}

/// Repair's hold on the datastore: while it exists no writer holds a lease, so every
/// journal is a dead writer's.
pub struct RepairLock {
    _exclusive: File,
}

impl RepairLock {
    /// Take the datastore at `root` for repair; `waiting` is called once if writes are
    /// in progress, before waiting for them to end.
    pub fn acquire(root: &Path, waiting: impl FnOnce()) -> Result<RepairLock, TransferError> {
        let lock = open_lock(root)?;
        let path = control_path(root, LOCK_FILE);
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                waiting();
                lock.lock().map_err(|e| io(&path, e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&path, e)),
        }
        Ok(RepairLock { _exclusive: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_liveness_follows_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let mut lease = WriteLease::acquire(dir.path()).unwrap();
        let entries = [
            JournalEntry::Dir(dir.path().join("a b")),
            JournalEntry::File {
                staging: dir.path().join("a b/.s"),
                dest: dir.path().join("a b/f\nx"),
                moved_from: Some(PathBuf::from("/src/f")),
            },
        ];
        for e in &entries {
            lease.record(e).unwrap();
        }
        let j = journals(dir.path()).unwrap();
        assert_eq!(j.len(), 1);
        assert!(j[0].live);
        assert_eq!(j[0].entries, entries);
        // A repair waits while the lease is held.
        let (tx, rx) = std::sync::mpsc::channel();
        let root = dir.path().to_owned();
        let repair = std::thread::spawn(move || {
            let _l = RepairLock::acquire(&root, || tx.send(()).unwrap()).unwrap();
            journals(&root).unwrap().len()
        });
        rx.recv().unwrap();
        lease.finish();
        assert_eq!(repair.join().unwrap(), 0);
    }

    #[test]
    fn a_dropped_lease_leaves_a_dead_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut lease = WriteLease::acquire(dir.path()).unwrap();
        lease
            .record(&JournalEntry::Dir(dir.path().join("x")))
            .unwrap();
        drop(lease);
        let _repair = RepairLock::acquire(dir.path(), || panic!("no writer is alive")).unwrap();
        let j = journals(dir.path()).unwrap();
        assert_eq!(j.len(), 1);
        assert!(!j[0].live);
        j[0].remove().unwrap();
        assert!(journals(dir.path()).unwrap().is_empty());
    }
}
