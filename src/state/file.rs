//! The `file` backend: `pushform.lock` on the local disk (or wherever `state.path` points).
//!
//! Writers are serialised by an OS lock on a sidecar file, every write goes through a synced
//! temporary file renamed into place (after the previous version has been saved as a backup the
//! same way), and a file that does not parse is never overwritten. A symlinked lockfile is
//! followed: the writes and the OS lock apply to its target, so two checkouts sharing one target
//! keep sharing it.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions, Permissions, TryLockError};
use std::io::{self, ErrorKind, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use super::format::{Lock, parse_lock, try_to_pretty_json};
use super::store::{Freshness, Holder, Session, Snapshot, Store};

/// How often a waiting [`LockStore::acquire`] retries the OS lock.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Why [`LockStore::acquire`] did not get the lock.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AcquireError {
    /// Another process holds the lock. `holder` is what it wrote into the
    /// sidecar (absent if unreadable, e.g. caught mid-write); `waited` is the
    /// timeout that ran out, if one was given.
    #[error("{}", held_message(lockfile, holder.as_ref(), *waited))]
    Held {
        lockfile: PathBuf,
        holder: Option<Holder>,
        waited: Option<Duration>,
    },
    // The cause is the error's source: `{:#}` (how every error is printed) appends it once.
    #[error("cannot lock {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn held_message(lockfile: &Path, holder: Option<&Holder>, waited: Option<Duration>) -> String {
    let mut message = format!("the lockfile {} is locked", lockfile.display());
    match holder {
        Some(h) => {
            let _ = write!(
                message,
                " by pid {} on host {} ({}, since {})",
                h.pid, h.host, h.command, h.started
            );
        }
        None => message.push_str(" by another process"),
    }
    match waited {
        Some(waited) => {
            let _ = write!(
                message,
                " and stayed locked for {waited:?}; another apply is running. \
                 Wait for it, or pass a longer --lock-timeout"
            );
        }
        None => message.push_str("; another apply is running. Wait for it, or pass --lock-timeout"),
    }
    message
}

/// Reads and writes one `pushform.lock`. A small interface on purpose, so a
/// shared backend can stand in for the local file later.
#[derive(Debug, Clone)]
pub struct LockStore {
    path: PathBuf,
}

impl LockStore {
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        LockStore {
            path: follow_symlinks(path),
        }
    }

    #[must_use]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `<lockfile>.backup`: the previous version, kept by every write.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".backup")
    }

    /// `<lockfile>.held`: the sidecar carrying the OS lock and the holder info.
    #[must_use]
    pub(crate) fn held_path(&self) -> PathBuf {
        with_suffix(&self.path, ".held")
    }

    /// Reads the lockfile without taking the OS lock (for `plan`): writes
    /// replace the file by rename, so a reader always sees a whole version.
    /// `None` if there is no lockfile yet.
    ///
    /// # Errors
    /// If the file cannot be read or does not parse (naming the file, line and
    /// column), has another `format_version`, or is missing while its backup
    /// exists (the history was deleted: starting afresh would re-send).
    pub fn load(&self) -> anyhow::Result<Option<Lock>> {
        load_from(&self.path)
    }

    /// Takes the exclusive write lock. Without `wait`, fails at once with
    /// [`AcquireError::Held`] if another process holds it; with `Some(d)`,
    /// retries every 100 ms for up to `d`. The lock is an OS lock on the
    /// sidecar (never on the lockfile, which each write replaces by rename),
    /// so it dies with its holder's process: there is no stale lock to clear.
    ///
    /// # Errors
    /// [`AcquireError::Held`] as above, [`AcquireError::Io`] if the sidecar
    /// cannot be opened, locked or written.
    pub(crate) fn acquire(
        &self,
        holder: &Holder,
        wait: Option<Duration>,
    ) -> Result<LockGuard, AcquireError> {
        let held_path = self.held_path();
        let io_error = |source| AcquireError::Io {
            path: held_path.clone(),
            source,
        };
        // No truncation on open: until we hold the lock, the content is the
        // current holder's, which is exactly what a refusal should report.
        // The sidecar is never deleted either: unlinking it while another
        // process waits on it would let two processes hold "the" lock.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&held_path)
            .map_err(io_error)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let remaining = wait.and_then(|d| d.checked_sub(started.elapsed()));
                    match remaining {
                        Some(remaining) if !remaining.is_zero() => {
                            std::thread::sleep(remaining.min(LOCK_POLL));
                        }
                        _ => {
                            return Err(AcquireError::Held {
                                lockfile: self.path.clone(),
                                holder: read_holder(&held_path),
                                waited: wait.filter(|d| !d.is_zero()),
                            });
                        }
                    }
                }
                Err(TryLockError::Error(source)) => return Err(io_error(source)),
            }
        }
        let mut guard = LockGuard {
            path: self.path.clone(),
            held: file,
        };
        // On failure the guard is dropped here, which releases the lock.
        guard.record_holder(holder).map_err(io_error)?;
        // Holding the lock, no other writer is between its temp file and its rename: any temp
        // file left here was left by a writer that died (kill -9, power loss).
        remove_stale_temps(&self.path);
        Ok(guard)
    }
}

pub(crate) fn read_holder(held_path: &Path) -> Option<Holder> {
    let bytes = fs::read(held_path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Proof of holding the write lock; the only way to write the lockfile.
/// Dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct LockGuard {
    path: PathBuf,
    held: File,
}

impl LockGuard {
    #[must_use]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The lockfile as on disk, or a new empty one (fresh lineage, serial 0)
    /// if there is none yet.
    ///
    /// # Errors
    /// As [`LockStore::load`].
    #[cfg(test)]
    pub(crate) fn load_or_create(&self) -> anyhow::Result<Lock> {
        Ok(load_from(&self.path)?.unwrap_or_default())
    }

    /// Durably writes `lock` with `serial` bumped (left unchanged if the write
    /// fails). Refuses, touching nothing, if the file on disk does not parse
    /// or is not the version `lock` was loaded from (other lineage or serial).
    /// Otherwise saves the on-disk version to `<lockfile>.backup`, then
    /// replaces the lockfile — each through a synced temporary file in the
    /// same folder renamed into place — and syncs the folder.
    ///
    /// # Errors
    /// On the refusals above and on any I/O error.
    pub(crate) fn write(&mut self, lock: &mut Lock) -> anyhow::Result<()> {
        let previous = read_bytes(&self.path)?;
        if let Some(bytes) = &previous {
            let on_disk = parse_lock(&self.path, bytes).with_context(|| {
                format!("refusing to write the lockfile {}", self.path.display())
            })?;
            if on_disk.lineage != lock.lineage {
                bail!(
                    "refusing to write the lockfile {}: it holds lineage {} on disk, not {} \
                     (it was replaced since it was loaded)",
                    self.path.display(),
                    on_disk.lineage,
                    lock.lineage
                );
            }
            if on_disk.serial != lock.serial {
                bail!(
                    "refusing to write the lockfile {}: it is at serial {} on disk, not {} \
                     (it changed since it was loaded)",
                    self.path.display(),
                    on_disk.serial,
                    lock.serial
                );
            }
        }
        let loaded_serial = lock.serial;
        lock.serial = loaded_serial
            .checked_add(1)
            .ok_or_else(|| anyhow!("the lockfile serial cannot go past {loaded_serial}"))?;
        let result = self.replace(lock, previous.as_deref());
        if result.is_err() {
            lock.serial = loaded_serial;
        }
        result
    }

    fn replace(&self, lock: &Lock, previous: Option<&[u8]>) -> anyhow::Result<()> {
        let json = try_to_pretty_json(lock).context("cannot serialise the lockfile")?;
        let dir = parent_dir(&self.path);
        // Keep the mode someone gave the lockfile; temp files start at 0600.
        let permissions = fs::metadata(&self.path).ok().map(|m| m.permissions());
        if let Some(previous) = previous {
            let backup = with_suffix(&self.path, ".backup");
            write_atomic(dir, &backup, previous, permissions.clone())?;
        }
        write_atomic(dir, &self.path, json.as_bytes(), permissions)?;
        sync_dir(dir)
    }

    fn record_holder(&mut self, holder: &Holder) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(holder).map_err(io::Error::other)?;
        self.held.set_len(0)?;
        self.held.seek(SeekFrom::Start(0))?;
        self.held.write_all(&json)?;
        self.held.write_all(b"\n")?;
        self.held.flush()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Best effort: the holder info is stale once we let go, and closing the
        // file releases the OS lock even if the explicit unlock fails.
        let _ = self.held.set_len(0);
        let _ = self.held.unlock();
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn read_bytes(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("cannot read the lockfile {}", path.display()))),
    }
}

fn load_from(path: &Path) -> anyhow::Result<Option<Lock>> {
    let Some(bytes) = read_bytes(path)? else {
        // Writes replace the lockfile by rename, so it is never missing once
        // it has existed: a lone backup means the history was deleted, and
        // starting an empty one would send everything again.
        let backup = with_suffix(path, ".backup");
        let orphaned = backup.try_exists().with_context(|| {
            format!("cannot check for the lockfile backup {}", backup.display())
        })?;
        if orphaned {
            bail!(
                "the lockfile {} is missing but its backup {} exists; restore it \
                 (copy the backup to the lockfile) or, to really start a new \
                 history, delete the backup",
                path.display(),
                backup.display()
            );
        }
        return Ok(None);
    };
    parse_lock(path, &bytes).map(Some)
}

/// Writes `bytes` to `target` so that `target` is always either its old or its
/// new content: a synced temp file in the same folder (a rename is only atomic
/// within one filesystem), renamed over it. On failure the temp file is removed.
fn write_atomic(
    dir: &Path,
    target: &Path,
    bytes: &[u8],
    permissions: Option<Permissions>,
) -> anyhow::Result<()> {
    let context = || format!("cannot write {}", target.display());
    let prefix = match target.file_name() {
        Some(name) => format!(".{}.", name.to_string_lossy()),
        None => ".pushform.".to_owned(),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(context)?;
    temp.write_all(bytes).with_context(context)?;
    if let Some(permissions) = permissions {
        temp.as_file()
            .set_permissions(permissions)
            .with_context(context)?;
    }
    temp.as_file().sync_all().with_context(context)?;
    temp.persist(target)
        .map_err(|e| e.error)
        .with_context(context)?;
    Ok(())
}

/// Makes the renames themselves durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let context = || format!("cannot sync the folder {}", dir.display());
        let handle = File::open(dir).with_context(context)?;
        match handle.sync_all() {
            Err(e) if e.kind() != ErrorKind::Unsupported => Err(e).with_context(context),
            _ => Ok(()),
        }
    }
    // Elsewhere a folder cannot be opened as a file; the rename is what we get.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The final target of `path` if it is a symlink (chains followed, relative links taken from
/// the link's folder), so that writes replace the target, not the link, and the OS lock sits
/// beside the target that every checkout sharing it sees. A target that does not exist yet is
/// still the target. At most 40 links, as the kernel allows.
fn follow_symlinks(mut path: PathBuf) -> PathBuf {
    for _ in 0..40 {
        match fs::read_link(&path) {
            Ok(target) => {
                path = if target.is_absolute() {
                    target
                } else {
                    parent_dir(&path).join(target)
                };
            }
            Err(_) => break,
        }
    }
    path
}

/// Removes `.<lockfile name>.*.tmp` files beside the lockfile (also those of its backup). Only
/// called with the OS lock held. Best effort: a temp file that cannot be removed is harmless.
fn remove_stale_temps(path: &Path) {
    let Some(name) = path.file_name() else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix)
            && file.ends_with(".tmp")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

// ---------------------------------------------------------------------------
// The file backend behind the store interface
// ---------------------------------------------------------------------------

/// The `file` backend: a [`LockStore`] behind [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct FileStore {
    store: LockStore,
}

impl FileStore {
    #[must_use]
    pub(crate) fn new(path: PathBuf) -> Self {
        FileStore {
            store: LockStore::new(path),
        }
    }
}

impl Store for FileStore {
    fn describe(&self) -> String {
        format!("the lockfile {}", self.store.path().display())
    }

    fn read(&self, _freshness: Freshness) -> anyhow::Result<Snapshot> {
        Ok(Snapshot {
            lock: self.store.load()?,
            warnings: Vec::new(),
        })
    }

    fn open(&self, holder: &Holder, wait: Option<Duration>) -> anyhow::Result<Box<dyn Session>> {
        let guard = self.store.acquire(holder, wait)?;
        let lock = self.store.load()?;
        Ok(Box::new(FileSession { guard, lock }))
    }

    fn unlock(&self, lease_id: &str, _force: bool) -> anyhow::Result<String> {
        bail!(
            "the file backend has no lease `{lease_id}` to clear: its lock is an OS lock on {}, \
             which vanishes with the process holding it",
            self.store.held_path().display()
        )
    }
}

/// Write access to the lockfile: the OS lock, and the state as last read or written.
struct FileSession {
    guard: LockGuard,
    lock: Option<Lock>,
}

impl Session for FileSession {
    fn current(&self) -> Option<&Lock> {
        self.lock.as_ref()
    }

    fn create(&mut self, mut lock: Lock, _message: &str) -> anyhow::Result<()> {
        if let Some(existing) = &self.lock {
            bail!(
                "{} already holds a state (lineage {}, serial {}, {} records)",
                self.guard.path().display(),
                existing.lineage,
                existing.serial,
                existing.sends.len()
            );
        }
        // The write bumps the serial: keep the one given (a pushed state keeps its serial).
        lock.serial = lock.serial.saturating_sub(1);
        let keep = lock.serial;
        let result = self.guard.write(&mut lock);
        if result.is_err() {
            lock.serial = keep + 1;
        }
        result?;
        self.lock = Some(lock);
        Ok(())
    }

    fn commit(
        &mut self,
        _message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> anyhow::Result<bool>,
    ) -> anyhow::Result<bool> {
        let Some(current) = &self.lock else {
            return Err(super::no_state(&format!(
                "the lockfile {}",
                self.guard.path().display()
            )));
        };
        let mut next = current.clone();
        if !edit(&mut next)? {
            return Ok(false);
        }
        self.guard.write(&mut next)?;
        self.lock = Some(next);
        Ok(true)
    }

    fn lease(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn release(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
