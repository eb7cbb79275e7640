//! Where the checkpoint store's files live. [`Store`](super::Store) hashes, compresses,
//! verifies and decides; a [`Backend`] only gets, puts, lists and removes whole files by
//! kind and id (in the style of rustic's backends), so an object-store backend is one more
//! implementation of this trait.
//!
//! [`LocalBackend`] keeps the on-disk format described in `store.rs`: `chunks/ab/<id>.zst`,
//! `manifests/<id>.json`, `pending/<id>.json`, each written to a temporary name, fsynced,
//! renamed into place and its directory fsynced.

use super::StoreError;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The kinds of file a store holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A compressed chunk; its id is the blake3 of its uncompressed bytes.
    Chunk,
    /// A checkpoint's manifest; its id is the checkpoint's.
    Manifest,
    /// The marker of a checkpoint being written (see `retention::begin_write`).
    Pending,
}

/// A listed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub id: String,
    /// Stored bytes.
    pub size: u64,
}

/// Whole-file access to a store. Object-safe: the store holds an `Arc<dyn Backend>`.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Where a file is, for messages (a path, a URL without credentials).
    fn location(&self, kind: FileKind, id: &str) -> String;
    /// The file's bytes; `None` when there is no such file.
    fn get(&self, kind: FileKind, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores the file whole: a reader sees the old file, no file, or all of the new one.
    fn put(&self, kind: FileKind, id: &str, bytes: &[u8]) -> Result<(), StoreError>;
    fn exists(&self, kind: FileKind, id: &str) -> Result<bool, StoreError>;
    /// Removes the file; `false` when it was already absent.
    fn remove(&self, kind: FileKind, id: &str) -> Result<bool, StoreError>;
    /// Every file of a kind, by id in ascending order.
    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, StoreError>;
    /// Removes what writers that were killed left half-written; returns how many. Only
    /// called by the collector while it holds the store lock exclusively.
    fn remove_leftovers(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

/// A store in a local directory (the format in `store.rs`).
#[derive(Clone, Debug)]
pub struct LocalBackend {
    root: PathBuf,
}

const TMP_PREFIX: &str = ".tmp-";

impl LocalBackend {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend { root: root.into() }
    }

    fn dir(&self, kind: FileKind) -> PathBuf {
        self.root.join(match kind {
            FileKind::Chunk => "chunks",
            FileKind::Manifest => "manifests",
            FileKind::Pending => "pending",
        })
    }

    fn path(&self, kind: FileKind, id: &str) -> PathBuf {
        match kind {
            FileKind::Chunk => self
                .dir(kind)
                .join(id.get(..2).unwrap_or(id))
                .join(format!("{id}.zst")),
            FileKind::Manifest | FileKind::Pending => self.dir(kind).join(format!("{id}.json")),
        }
    }

    /// The directories a kind's files are in (chunks: one per two-digit prefix).
    fn dirs(&self, kind: FileKind) -> Result<Vec<PathBuf>, StoreError> {
        let top = self.dir(kind);
        match kind {
            FileKind::Chunk => Ok(read_dir(&top)?.into_iter().filter(|p| p.is_dir()).collect()),
            FileKind::Manifest | FileKind::Pending => Ok(vec![top]),
        }
    }
}

impl Backend for LocalBackend {
    fn location(&self, kind: FileKind, id: &str) -> String {
        self.path(kind, id).display().to_string()
    }

    fn get(&self, kind: FileKind, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(kind, id);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn put(&self, kind: FileKind, id: &str, bytes: &[u8]) -> Result<(), StoreError> {
        write_atomic(&self.path(kind, id), bytes)
    }

    fn exists(&self, kind: FileKind, id: &str) -> Result<bool, StoreError> {
        let path = self.path(kind, id);
        path.try_exists().map_err(io(&path))
    }

    fn remove(&self, kind: FileKind, id: &str) -> Result<bool, StoreError> {
        let path = self.path(kind, id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, StoreError> {
        let ext = match kind {
            FileKind::Chunk => ".zst",
            FileKind::Manifest | FileKind::Pending => ".json",
        };
        let mut out = Vec::new();
        for dir in self.dirs(kind)? {
            for path in read_dir(&dir)? {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with(TMP_PREFIX) {
                    continue;
                }
                if let Some(id) = name.strip_suffix(ext) {
                    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    out.push(FileInfo {
                        id: id.to_string(),
                        size,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn remove_leftovers(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for kind in [FileKind::Chunk, FileKind::Manifest, FileKind::Pending] {
            for dir in self.dirs(kind)? {
                for path in read_dir(&dir)? {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    if name.starts_with(TMP_PREFIX) {
                        fs::remove_file(&path).map_err(io(&path))?;
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().expect("store paths have a parent");
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        path.file_name().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// A directory's entries, sorted; none when it does not exist.
fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v = Vec::new();
            for e in rd {
                v.push(e.map_err(io(dir))?.path());
            }
            v.sort();
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_local_backend_keeps_the_on_disk_layout() {
        let dir = tempfile::tempdir().unwrap();
        let b: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path()));
        let id = "ab".to_string() + &"0".repeat(62);
        assert!(!b.exists(FileKind::Chunk, &id).unwrap());
        assert_eq!(b.get(FileKind::Chunk, &id).unwrap(), None);
        b.put(FileKind::Chunk, &id, b"zz").unwrap();
        b.put(FileKind::Manifest, "cp-1", b"{}").unwrap();
        b.put(FileKind::Pending, "w-1", b"{}").unwrap();
        assert!(dir.path().join(format!("chunks/ab/{id}.zst")).is_file());
        assert!(dir.path().join("manifests/cp-1.json").is_file());
        assert!(dir.path().join("pending/w-1.json").is_file());
        assert!(b.exists(FileKind::Chunk, &id).unwrap());
        assert_eq!(
            b.get(FileKind::Chunk, &id).unwrap().as_deref(),
            Some(&b"zz"[..])
        );
        assert_eq!(
            b.list(FileKind::Chunk).unwrap(),
            vec![FileInfo {
                id: id.clone(),
                size: 2
            }]
        );
        assert_eq!(b.list(FileKind::Manifest).unwrap()[0].id, "cp-1");
        // A writer killed between its write and its rename leaves a temporary file.
        fs::write(dir.path().join("manifests/.tmp-1-cp-2.json"), b"{").unwrap();
        fs::write(dir.path().join("chunks/ab/.tmp-1-x.zst"), b"{").unwrap();
        assert_eq!(b.list(FileKind::Manifest).unwrap().len(), 1);
        assert_eq!(b.remove_leftovers().unwrap(), 2);
        assert!(b.remove(FileKind::Chunk, &id).unwrap());
        assert!(!b.remove(FileKind::Chunk, &id).unwrap());
        assert!(b.list(FileKind::Chunk).unwrap().is_empty());
    }
}
