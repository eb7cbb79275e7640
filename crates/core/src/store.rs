//! The checkpoint store: content-addressed chunks plus manifests. Hashing, compression
//! and verification are here; the files themselves go through a [`Backend`] (`backend.rs`;
//! [`LocalBackend`], a local directory, is the one there is).
//!
//! On-disk format (versions 1 and 2), under the store root:
//! - `chunks/ab/<64 hex>.zst`: a zstd frame whose *uncompressed* bytes hash (blake3) to the
//!   file name. Chunks are cut from each table's row stream (see `value.rs` for the row
//!   encoding) with FastCDC, so unchanged rows give the same chunks and are stored once.
//! - `manifests/<checkpoint id>.json`: a [`Manifest`]. Written last, after every chunk it
//!   names was written, fsynced and re-read to its hash; a checkpoint without a manifest
//!   does not exist. A manifest with any differential table entry (see [`Delta`] and
//!   `differential.rs`) is format 2, so a reader that only knows format 1, which would
//!   restore the base alone, refuses it.
//!
//! - `pending/<id>.json`: a checkpoint being written (`retention::begin_write`).
//! - `lock`: the store lock, a local file (`retention.rs`).
//!
//! Every file is written to a temporary name, fsynced, then renamed into place.

use crate::journal::JournalMark;
use crate::schema::TableSchema;
use crate::value::{Row, RowDecoder, StoredRow, Value, encode_row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod backend;
pub use backend::{Backend, FileInfo, FileKind, LocalBackend};

const MIN_CHUNK: u32 = 16 * 1024;
const AVG_CHUNK: u32 = 64 * 1024;
const MAX_CHUNK: u32 = 256 * 1024;
/// Row bytes buffered before cutting chunks; the tail chunk is carried over so chunk
/// boundaries are the same as if the whole stream had been cut at once.
const CUT_BUFFER: usize = 4 * 1024 * 1024;
/// zstd's fastest levels keep compression off the critical path of a checkpoint.
const ZSTD_LEVEL: i32 = 1;

/// A chunk's id: blake3 of its uncompressed bytes, in hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChunkId(pub String);

/// A checkpoint's id: `cp-` and the first 16 hex digits of blake3 over its manifest body.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckpointId(pub String);

impl std::fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub id: ChunkId,
    /// Uncompressed length.
    pub len: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    pub schema: TableSchema,
    pub rows: u64,
    pub bytes: u64,
    /// blake3 over the rows in key order (see `value::Fingerprint`).
    pub fingerprint: String,
    /// The row stream; for a differential entry, its base checkpoint's stream.
    pub chunks: Vec<ChunkRef>,
    /// See `Engine::capture_tokens`: the table's capture identity while it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_token: Option<String>,
    /// Present on a differential entry: the rows are `chunks` with `delta` merged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
}

impl TableEntry {
    /// Every chunk a reader of this table needs.
    pub fn all_chunks(&self) -> impl Iterator<Item = &ChunkRef> {
        self.chunks
            .iter()
            .chain(self.delta.iter().flat_map(|d| d.chunks.iter()))
    }
}

/// The rows that changed since a full checkpoint, taken from the capture journal.
///
/// Its stream holds one row per changed key, in key order: `[true, …every column]` for a
/// row as it now is, `[false, …key columns]` for a row that is gone. Only made for keys
/// whose order ripcord and the engine agree on (integers, text in byte order, binary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The full checkpoint whose stream `chunks` is.
    pub base: CheckpointId,
    pub base_rows: u64,
    /// Changed keys in the stream below.
    pub changes: u64,
    pub chunks: Vec<ChunkRef>,
}

/// Compares two keys in the order engines stream rows (integers numerically, text and
/// binary bytewise); `None` when a part has another type, whose orders may differ.
pub fn key_order(a: &[Value], b: &[Value]) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering::Equal;
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Value::Blob(x), Value::Blob(y)) => x.cmp(y),
            _ => return None,
        };
        if o != Equal {
            return Some(o);
        }
    }
    Some(a.len().cmp(&b.len()))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentEntry {
    pub name: String,
    pub database: String,
    pub engine: String,
    /// Where the capture journal stood in the snapshot the tables were read from.
    pub journal_mark: JournalMark,
    pub tables: Vec<TableEntry>,
    /// Captured table (in the capture database) → its capture token, read before and after
    /// the snapshot and equal both times; `None` when capture could not be vouched for.
    /// Empty in checkpoints taken before ripcord recorded it: those cannot be vouched for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: CheckpointId,
    pub created_at: String,
    pub components: Vec<ComponentEntry>,
}

impl Manifest {
    pub fn component(&self, name: &str) -> Option<&ComponentEntry> {
        self.components.iter().find(|c| c.name == name)
    }
    pub fn stored_bytes(&self) -> u64 {
        self.components
            .iter()
            .flat_map(|c| &c.tables)
            .map(|t| t.bytes)
            .sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chunk {id} is missing from the store ({at})")]
    MissingChunk { id: String, at: String },
    #[error("chunk {id} is corrupt: its bytes hash to {actual}; refusing to use it")]
    CorruptChunk { id: String, actual: String },
    #[error("chunk {id} cannot be decompressed: {reason}")]
    BadChunk { id: String, reason: String },
    #[error("table {table} in checkpoint {checkpoint}: {reason}")]
    BadRows {
        checkpoint: String,
        table: String,
        reason: String,
    },
    #[error("no checkpoint {0} in the store")]
    NoManifest(String),
    #[error("manifest {at} is unreadable: {reason}")]
    BadManifest { at: String, reason: String },
}

/// Runs `f` with this thread's zstd contexts: making them per chunk costs more than a
/// 64 KiB chunk's compression.
fn with_zstd<T>(
    f: impl FnOnce(
        &mut zstd::bulk::Compressor<'static>,
        &mut zstd::bulk::Decompressor<'static>,
    ) -> std::io::Result<T>,
) -> std::io::Result<T> {
    type Contexts = (
        zstd::bulk::Compressor<'static>,
        zstd::bulk::Decompressor<'static>,
    );
    thread_local! {
        static ZSTD: std::cell::RefCell<Option<Contexts>> = const { std::cell::RefCell::new(None) };
    }
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some((
                zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
                zstd::bulk::Decompressor::new()?,
            ));
        }
        let (c, d) = slot.as_mut().expect("set above");
        f(c, d)
    })
}

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    backend: Arc<dyn Backend>,
}

impl Store {
    /// The store in the local directory `root`.
    pub fn open(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Store {
            backend: Arc::new(LocalBackend::new(&root)),
            root,
        }
    }

    /// A store whose files go through `backend`; `root` is the local directory of its
    /// lock (`retention.rs`).
    pub fn with_backend(root: impl Into<PathBuf>, backend: Arc<dyn Backend>) -> Self {
        Store {
            root: root.into(),
            backend,
        }
    }

    /// The local directory of the store's lock (and, for the local backend, its files).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Makes sure a verified copy of the chunk is on disk: an existing file that re-hashes is
    /// kept, a missing or corrupt one is (re)written and then read back and re-hashed.
    /// Returns whether bytes were written.
    fn store_verified(&self, id: &str, data: &[u8]) -> Result<bool, StoreError> {
        let r = ChunkRef {
            id: ChunkId(id.to_string()),
            len: data.len() as u64,
        };
        if self.backend.exists(FileKind::Chunk, id)? && self.get_chunk(&r).is_ok() {
            return Ok(false);
        }
        let z = with_zstd(|c, _| c.compress(data)).map_err(|e| StoreError::BadChunk {
            id: id.to_string(),
            reason: format!("cannot compress it: {e}"),
        })?;
        self.backend.put(FileKind::Chunk, id, &z)?;
        self.get_chunk(&r)?;
        Ok(true)
    }

    /// Reads a chunk and proves it re-hashes to its id (ARCHITECTURE.md invariant 1).
    pub fn get_chunk(&self, r: &ChunkRef) -> Result<Vec<u8>, StoreError> {
        // Chunks are cut at MAX_CHUNK bytes at most: a larger length comes from a damaged
        // manifest and must not size an allocation (found by fuzz/ `chunk`).
        if r.len > MAX_CHUNK as u64 {
            return Err(StoreError::BadChunk {
                id: r.id.0.clone(),
                reason: format!(
                    "the manifest gives it {} bytes, over the {MAX_CHUNK}-byte chunk limit",
                    r.len
                ),
            });
        }
        let Some(z) = self.backend.get(FileKind::Chunk, &r.id.0)? else {
            return Err(StoreError::MissingChunk {
                id: r.id.0.clone(),
                at: self.backend.location(FileKind::Chunk, &r.id.0),
            });
        };
        let data = with_zstd(|_, d| d.decompress(&z, r.len as usize + 1)).map_err(|e| {
            StoreError::BadChunk {
                id: r.id.0.clone(),
                reason: e.to_string(),
            }
        })?;
        let actual = blake3::hash(&data).to_hex().to_string();
        if actual != r.id.0 || data.len() as u64 != r.len {
            return Err(StoreError::CorruptChunk {
                id: r.id.0.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Publishes a manifest. Call only after every chunk it names is stored and verified.
    pub fn put_manifest(&self, m: &Manifest) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(m).expect("manifests serialize");
        self.backend.put(FileKind::Manifest, &m.id.0, &bytes)
    }

    pub fn manifest(&self, id: &CheckpointId) -> Result<Manifest, StoreError> {
        let Some(bytes) = self.backend.get(FileKind::Manifest, &id.0)? else {
            return Err(StoreError::NoManifest(id.0.clone()));
        };
        parse_manifest(&bytes).map_err(|reason| StoreError::BadManifest {
            at: self.backend.location(FileKind::Manifest, &id.0),
            reason,
        })
    }

    /// Re-reads every chunk of the checkpoint and checks its hash; the first bad one is
    /// returned as the error.
    pub fn verify(&self, m: &Manifest) -> Result<(), StoreError> {
        for c in &m.components {
            for t in &c.tables {
                for ch in t.all_chunks() {
                    self.get_chunk(ch)?;
                }
            }
        }
        Ok(())
    }

    /// The table's fingerprint; a differential entry's is computed from its merged rows.
    pub fn fingerprint(
        &self,
        checkpoint: &CheckpointId,
        t: &TableEntry,
    ) -> Result<String, crate::Error> {
        if t.delta.is_none() {
            return Ok(t.fingerprint.clone());
        }
        let mut f = crate::value::Fingerprint::default();
        for row in self.rows(checkpoint, t) {
            f.add(&row?);
        }
        Ok(f.finish())
    }

    /// Streams a table's rows back out of its chunks, verifying each chunk as it is read;
    /// a differential entry's changes are merged in by key.
    pub fn rows<'a>(&'a self, checkpoint: &'a CheckpointId, t: &'a TableEntry) -> TableRows<'a> {
        TableRows {
            checkpoint,
            table: t,
            base: ChunkStream::new(self, &t.chunks),
            encoded: false,
            delta: None,
            held: None,
            base_seen: 0,
            done: false,
            produced: 0,
        }
    }

    /// [`Store::rows`] with the checkpoint's rows kept encoded ([`StoredRow::Encoded`]), for
    /// a reader that compares them rather than uses them (the streamed proof); a
    /// differential entry's changes come as values. Checked the same way.
    pub fn stored_rows<'a>(
        &'a self,
        checkpoint: &'a CheckpointId,
        t: &'a TableEntry,
    ) -> StoredRows<'a> {
        StoredRows(TableRows {
            encoded: true,
            ..self.rows(checkpoint, t)
        })
    }
}

/// Parses a manifest, checking what a reader relies on.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if m.format != 1 && m.format != 2 {
        return Err(format!(
            "manifest format {} is not supported (this ripcord reads formats 1 and 2)",
            m.format
        ));
    }
    for c in &m.components {
        for t in &c.tables {
            if t.delta.is_some() && m.format < 2 {
                return Err(format!(
                    "table {} is differential in a format {} manifest",
                    t.schema.name, m.format
                ));
            }
            if t.all_chunks()
                .any(|ch| ch.id.0.len() != 64 || !ch.id.0.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(format!(
                    "table {} names a chunk whose id is not 64 hex digits",
                    t.schema.name
                ));
            }
            if t.schema
                .primary_key
                .iter()
                .any(|&i| i >= t.schema.columns.len())
            {
                return Err(format!(
                    "table {}: primary key names a column that does not exist",
                    t.schema.name
                ));
            }
        }
    }
    Ok(m)
}

/// Rows decoded from a run of chunks; a row may span a chunk boundary.
struct ChunkStream<'a> {
    store: &'a Store,
    chunks: &'a [ChunkRef],
    next_chunk: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl<'a> ChunkStream<'a> {
    fn new(store: &'a Store, chunks: &'a [ChunkRef]) -> Self {
        ChunkStream {
            store,
            chunks,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn next_row(&mut self) -> Result<Option<Row>, crate::Error> {
        self.next_with(|d: &mut RowDecoder<'_>| d.next_row())
    }

    fn next_with<T>(
        &mut self,
        read: impl Fn(&mut RowDecoder) -> Result<Option<T>, crate::value::DecodeError>,
    ) -> Result<Option<T>, crate::Error> {
        loop {
            let mut d = RowDecoder::new(&self.buf[self.pos..]);
            match read(&mut d) {
                Ok(Some(row)) => {
                    self.pos += d.position();
                    return Ok(Some(row));
                }
                Ok(None) | Err(crate::value::DecodeError::Truncated(_))
                    if self.next_chunk < self.chunks.len() =>
                {
                    let data = self.store.get_chunk(&self.chunks[self.next_chunk])?;
                    self.next_chunk += 1;
                    // Most chunks end on a row boundary: take the new one as it is rather
                    // than copying it behind nothing.
                    if self.pos == self.buf.len() {
                        self.buf = data;
                    } else {
                        self.buf.drain(..self.pos);
                        self.buf.extend_from_slice(&data);
                    }
                    self.pos = 0;
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(crate::Error::Verify(e.to_string())),
            }
        }
    }
}

pub struct TableRows<'a> {
    checkpoint: &'a CheckpointId,
    table: &'a TableEntry,
    base: ChunkStream<'a>,
    /// Base rows kept encoded (see [`Store::stored_rows`]).
    encoded: bool,
    /// A differential entry's changes, loaded on the first read, front = lowest key.
    delta: Option<std::collections::VecDeque<(bool, Row)>>,
    /// A base row read ahead while changes with lower keys were emitted.
    held: Option<StoredRow>,
    base_seen: u64,
    done: bool,
    produced: u64,
}

impl TableRows<'_> {
    fn bad(&self, reason: String) -> crate::Error {
        StoreError::BadRows {
            checkpoint: self.checkpoint.0.clone(),
            table: self.table.schema.name.clone(),
            reason,
        }
        .into()
    }

    fn load_delta(&mut self) -> Result<(), crate::Error> {
        let Some(d) = &self.table.delta else {
            self.delta = Some(Default::default());
            return Ok(());
        };
        let (ncols, nkey) = (
            self.table.schema.columns.len(),
            self.table.schema.primary_key.len(),
        );
        let mut stream = ChunkStream::new(self.base.store, &d.chunks);
        let mut out = std::collections::VecDeque::new();
        while let Some(mut row) = stream.next_row()? {
            let upsert = match row.first() {
                Some(Value::Bool(b)) => *b,
                _ => return Err(self.bad("a change in the delta has no marker".into())),
            };
            row.remove(0);
            if row.len() != if upsert { ncols } else { nkey } {
                return Err(self.bad(format!("a change in the delta has {} fields", row.len())));
            }
            out.push_back((upsert, row));
        }
        if out.len() as u64 != d.changes {
            return Err(self.bad(format!(
                "{} changes in the delta, the manifest says {}",
                out.len(),
                d.changes
            )));
        }
        self.delta = Some(out);
        Ok(())
    }

    fn key_of(&self, row: &[Value]) -> Vec<Value> {
        self.table
            .schema
            .primary_key
            .iter()
            .map(|&i| row[i].clone())
            .collect()
    }

    fn stored_key(&self, row: &StoredRow) -> Vec<Value> {
        self.table
            .schema
            .primary_key
            .iter()
            .map(|&i| row.get(i).to_value())
            .collect()
    }

    fn next_base(&mut self) -> Result<Option<StoredRow>, crate::Error> {
        if let Some(r) = self.held.take() {
            return Ok(Some(r));
        }
        let row = if self.encoded {
            self.base
                .next_with(|d: &mut RowDecoder<'_>| d.next_encoded())?
                .map(StoredRow::Encoded)
        } else {
            self.base.next_row()?.map(StoredRow::Values)
        };
        if let Some(r) = &row {
            if r.len() != self.table.schema.columns.len() {
                return Err(self.bad(format!(
                    "a row has {} fields, the table {} columns",
                    r.len(),
                    self.table.schema.columns.len()
                )));
            }
            self.base_seen += 1;
        }
        Ok(row)
    }

    fn step(&mut self) -> Result<Option<StoredRow>, crate::Error> {
        if self.delta.is_none() {
            self.load_delta()?;
        }
        loop {
            let base = self.next_base()?;
            let Some((upsert, change)) = self.delta.as_ref().and_then(|d| d.front()) else {
                return Ok(base);
            };
            let change_key = if *upsert {
                self.key_of(change)
            } else {
                change.clone()
            };
            let order = match &base {
                None => std::cmp::Ordering::Greater,
                Some(b) => key_order(&self.stored_key(b), &change_key).ok_or_else(|| {
                    self.bad("a key of the delta cannot be ordered against the base".into())
                })?,
            };
            match order {
                std::cmp::Ordering::Less => return Ok(base),
                std::cmp::Ordering::Greater => {
                    self.held = base;
                    let (upsert, change) = self
                        .delta
                        .as_mut()
                        .and_then(|d| d.pop_front())
                        .expect("front seen");
                    if !upsert {
                        return Err(self.bad(format!(
                            "the delta deletes key {}, which the base does not hold",
                            crate::value::Key(change_key.iter().map(Into::into).collect())
                        )));
                    }
                    return Ok(Some(StoredRow::Values(change)));
                }
                std::cmp::Ordering::Equal => {
                    let (upsert, change) = self
                        .delta
                        .as_mut()
                        .and_then(|d| d.pop_front())
                        .expect("front seen");
                    if upsert {
                        return Ok(Some(StoredRow::Values(change)));
                    }
                }
            }
        }
    }
}

impl Iterator for TableRows<'_> {
    type Item = Result<Row, crate::Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_stored().map(|r| r.map(StoredRow::into_values))
    }
}

/// See [`Store::stored_rows`].
pub struct StoredRows<'a>(TableRows<'a>);

impl Iterator for StoredRows<'_> {
    type Item = Result<StoredRow, crate::Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_stored()
    }
}

impl TableRows<'_> {
    fn next_stored(&mut self) -> Option<Result<StoredRow, crate::Error>> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(row)) => {
                self.produced += 1;
                Some(Ok(row))
            }
            Ok(None) => {
                self.done = true;
                let base_rows = self.table.delta.as_ref().map(|d| d.base_rows);
                if base_rows.is_some_and(|n| n != self.base_seen) {
                    return Some(Err(self.bad(format!(
                        "{} base rows read, the manifest says {}",
                        self.base_seen,
                        base_rows.unwrap_or_default()
                    ))));
                }
                if self.produced != self.table.rows {
                    return Some(Err(self.bad(format!(
                        "{} rows read, the manifest says {}",
                        self.produced, self.table.rows
                    ))));
                }
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(match e {
                    crate::Error::Verify(reason) => self.bad(reason),
                    other => other,
                }))
            }
        }
    }
}

/// Compresses, writes and re-verifies chunks on a background thread while the caller keeps
/// reading rows (the two halves of a checkpoint then use both cores). Every chunk handed to
/// it, new or already stored, has been read back from disk and re-hashed when `finish`
/// returns `Ok`: only then may a manifest naming these chunks be published.
pub struct ChunkWriter {
    tx: Option<std::sync::mpsc::SyncSender<(String, Vec<u8>)>>,
    worker: Option<std::thread::JoinHandle<Result<u64, StoreError>>>,
}

impl ChunkWriter {
    pub fn new(store: &Store) -> Self {
        let store = store.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel::<(String, Vec<u8>)>(16);
        let worker = std::thread::spawn(move || {
            let mut seen = std::collections::HashSet::new();
            let mut new_bytes = 0u64;
            let mut failed = None;
            // Keep draining after a failure so the sender never blocks on a full channel.
            for (id, data) in rx {
                if failed.is_some() || !seen.insert(id.clone()) {
                    continue;
                }
                match store.store_verified(&id, &data) {
                    Ok(true) => new_bytes += data.len() as u64,
                    Ok(false) => {}
                    Err(e) => failed = Some(e),
                }
            }
            failed.map_or(Ok(new_bytes), Err)
        });
        ChunkWriter {
            tx: Some(tx),
            worker: Some(worker),
        }
    }

    pub fn put(&self, data: &[u8]) -> Result<ChunkRef, StoreError> {
        let id = blake3::hash(data).to_hex().to_string();
        let r = ChunkRef {
            id: ChunkId(id.clone()),
            len: data.len() as u64,
        };
        let tx = self.tx.as_ref().expect("not finished");
        if tx.send((id, data.to_vec())).is_err() {
            return Err(StoreError::BadChunk {
                id: r.id.0,
                reason: "the chunk writer stopped".into(),
            });
        }
        Ok(r)
    }

    /// Waits for every chunk to be written and verified; returns the bytes newly stored.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        drop(self.tx.take());
        match self.worker.take().expect("finish once").join() {
            Ok(r) => r,
            Err(_) => Err(StoreError::BadChunk {
                id: String::new(),
                reason: "the chunk writer panicked".into(),
            }),
        }
    }
}

/// Cuts a table's row stream into content-defined chunks and hands them to a [`ChunkWriter`].
pub struct TableWriter<'a> {
    writer: &'a ChunkWriter,
    schema: TableSchema,
    buf: Vec<u8>,
    chunks: Vec<ChunkRef>,
    fingerprint: crate::value::Fingerprint,
    bytes: u64,
}

impl<'a> TableWriter<'a> {
    pub fn new(writer: &'a ChunkWriter, schema: TableSchema) -> Self {
        TableWriter {
            writer,
            schema,
            buf: Vec::new(),
            chunks: Vec::new(),
            fingerprint: Default::default(),
            bytes: 0,
        }
    }

    /// Row-stream bytes so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn push(&mut self, row: &Row) -> Result<(), StoreError> {
        let before = self.buf.len();
        encode_row(&mut self.buf, row);
        self.fingerprint.add_encoded(&self.buf[before..]);
        self.bytes += (self.buf.len() - before) as u64;
        if self.buf.len() >= CUT_BUFFER {
            self.cut(false)?;
        }
        Ok(())
    }

    fn cut(&mut self, last: bool) -> Result<(), StoreError> {
        let cuts: Vec<(usize, usize)> =
            fastcdc::v2020::FastCDC::new(&self.buf, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK)
                .map(|c| (c.offset, c.length))
                .collect();
        let keep = if last {
            cuts.len()
        } else {
            cuts.len().saturating_sub(1)
        };
        let mut consumed = 0;
        for &(off, len) in &cuts[..keep] {
            self.chunks
                .push(self.writer.put(&self.buf[off..off + len])?);
            consumed = off + len;
        }
        self.buf.drain(..consumed);
        Ok(())
    }

    pub fn finish(mut self) -> Result<TableEntry, StoreError> {
        self.cut(true)?;
        Ok(TableEntry {
            rows: self.fingerprint.rows(),
            fingerprint: self.fingerprint.finish(),
            bytes: self.bytes,
            chunks: self.chunks,
            schema: self.schema,
            capture_token: None,
            delta: None,
        })
    }
}

/// The id a manifest gets from its content (its own id field blank while hashing).
pub fn checkpoint_id_for(m: &Manifest) -> CheckpointId {
    let mut copy = m.clone();
    copy.id = CheckpointId(String::new());
    let bytes = serde_json::to_vec(&copy).expect("manifests serialize");
    CheckpointId(format!("cp-{}", &blake3::hash(&bytes).to_hex()[..16]))
}
