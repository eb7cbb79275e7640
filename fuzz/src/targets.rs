//! The bodies of the fuzz targets, shared by the libFuzzer binaries (nightly, `fuzz/`) and
//! the stable regression test (`crates/cli/tests/fuzz_regressions.rs`), which replays the
//! kept corpus and every reproducer through exactly the same code.
//!
//! Each target feeds untrusted bytes to one parser ripcord trusts its data to and asserts
//! what must hold for any input: no panic, no unbounded allocation, and an error that says
//! what is wrong and where (the chunk id, the column) instead of a wrong answer.

use ripcord_core::schema::{Column, TableSchema};
use ripcord_core::store::{
    CheckpointId, ChunkId, ChunkRef, ChunkWriter, ComponentEntry, Manifest, Store, TableEntry,
    checkpoint_id_for, parse_manifest,
};
use std::path::Path;

/// A secret resolved through `${…}`: it must never be echoed in a plan error.
const SECRET: &str = "Zq9-fuzz-secret-Zq9";

/// The plan parser and validator, and the rendering of its diagnostics (spans must point
/// inside the source, or miette panics while drawing them).
pub fn plan(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |k: &str| (k != "UNSET").then(|| SECRET.to_string());
    match ripcord_core::plan::parse(
        Path::new("/fuzz/ripcord.toml"),
        text,
        &env,
        &[
            ripcord_sqlite::KIND,
            ripcord_postgres::KIND,
            ripcord_mysql::KIND,
        ],
    ) {
        Ok(plan) => {
            // A resolved value is only secret where a password goes: `scheme://user:SECRET@`.
            for db in plan.databases.values() {
                let url = db.url.expose();
                let Some(start) = url.find("://").map(|i| i + 3) else {
                    continue;
                };
                let Some(at) = url[start..].find(&format!(":{SECRET}@")) else {
                    continue;
                };
                if url[start..start + at].contains(['/', '?', '#', '@', ':']) {
                    continue;
                }
                let shown = format!("{:?} {}", db.url, db.url);
                assert!(!shown.contains(SECRET), "a password is printed: {shown}");
            }
        }
        Err(e) => {
            let shown = format!("{:?}", miette::Report::new(*e));
            assert!(
                !shown.contains(SECRET),
                "a plan error echoes a secret: {shown}"
            );
        }
    }
}

/// The manifest parser: whatever it accepts can be hashed into an id, re-serialized and
/// parsed back to the same manifest, and is safe to hand to the chunk reader.
pub fn manifest(data: &[u8]) {
    let Ok(m) = parse_manifest(data) else { return };
    let id = checkpoint_id_for(&m);
    assert!(id.0.starts_with("cp-") && id.0.len() == 19);
    let again = serde_json::to_vec(&m).expect("a parsed manifest serializes");
    let back = parse_manifest(&again).expect("a serialized manifest parses");
    assert_eq!(checkpoint_id_for(&back), id, "the id survives a round trip");
    // Every chunk reference it names must be readable or refused, never a panic or an
    // allocation sized by the manifest's claim.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path());
    for c in &m.components {
        for t in &c.tables {
            for ch in t.all_chunks().take(4) {
                let err = store.get_chunk(ch).expect_err("the store is empty");
                assert!(err.to_string().contains(&ch.id.0), "{err}");
            }
            for r in store.rows(&m.id, t).take(4) {
                let _ = r;
            }
        }
    }
}

fn schema(columns: usize) -> TableSchema {
    TableSchema {
        name: "t".into(),
        columns: (0..columns)
            .map(|i| Column {
                name: format!("c{i}"),
                decl_type: "TEXT".into(),
                not_null: false,
            })
            .collect(),
        primary_key: vec![0],
        create_sql: String::new(),
        post_sql: Vec::new(),
    }
}

/// The chunk reader. Byte 0 picks the mode and the table's column count.
///
/// Mode 0: the rest is row bytes (any bytes), stored as valid chunks cut at points taken
/// from the input, optionally with one chunk then damaged (missing, truncated, flipped);
/// reading the table back must give rows or an error, and a damaged chunk's error names it.
///
/// Mode 1: the rest is the stored (compressed) file itself, with the uncompressed length
/// the manifest claims taken from the input: the reader must refuse it by id.
pub fn chunk(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let columns = 1 + (head as usize >> 1) % 4;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path());
    let cp = CheckpointId("cp-fuzz".into());
    if head & 1 == 1 {
        let (claim, file) = rest.split_at(rest.len().min(8));
        let mut len = [0u8; 8];
        len[..claim.len()].copy_from_slice(claim);
        // An id that cannot be the hash of the file's content unless blake3 is broken.
        let r = ChunkRef {
            id: ChunkId("ab".repeat(32)),
            len: u64::from_le_bytes(len),
        };
        let path = dir.path().join("chunks/ab").join(format!("{}.zst", r.id.0));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, file).unwrap();
        let err = store
            .get_chunk(&r)
            .expect_err("a chunk that does not hash to its id");
        assert!(err.to_string().contains(&r.id.0), "{err}");
        return;
    }
    let (ctl, rows) = rest.split_at(rest.len().min(4));
    let mut cuts: Vec<usize> = ctl[..ctl.len().min(2)]
        .iter()
        .map(|&b| (b as usize * rows.len()) / 256)
        .collect();
    cuts.push(rows.len());
    cuts.sort_unstable();
    let writer = ChunkWriter::new(&store);
    let mut refs = Vec::new();
    let mut from = 0;
    for &to in &cuts {
        if to > from {
            refs.push(writer.put(&rows[from..to]).expect("chunk queued"));
            from = to;
        }
    }
    writer.finish().expect("chunks written");
    let claimed_rows = ctl.get(2).copied().unwrap_or(0) as u64;
    let damage = ctl.get(3).copied().unwrap_or(0);
    let mut damaged = None;
    if damage & 3 != 0 && !refs.is_empty() {
        let r = &refs[(damage as usize >> 2) % refs.len()];
        let path = dir
            .path()
            .join("chunks")
            .join(&r.id.0[..2])
            .join(format!("{}.zst", r.id.0));
        let bytes = std::fs::read(&path).unwrap();
        match damage & 3 {
            1 => std::fs::remove_file(&path).unwrap(),
            2 => std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap(),
            _ => {
                let mut b = bytes;
                let i = (damage as usize * 7) % b.len();
                b[i] ^= 0x5a;
                std::fs::write(&path, b).unwrap();
            }
        }
        damaged = Some(r.id.0.clone());
    }
    let t = TableEntry {
        schema: schema(columns),
        rows: claimed_rows,
        bytes: rows.len() as u64,
        fingerprint: String::new(),
        chunks: refs,
        capture_token: None,
        delta: None,
    };
    let mut got = 0u64;
    let mut failure = None;
    for r in store.rows(&cp, &t) {
        match r {
            Ok(row) => {
                assert_eq!(row.len(), columns);
                got += 1;
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    match (&failure, &damaged) {
        (None, _) => assert_eq!(got, claimed_rows, "rows read match the manifest's count"),
        (Some(msg), Some(id)) if msg.starts_with("chunk ") => {
            assert!(msg.contains(id), "the error names the damaged chunk: {msg}")
        }
        _ => {}
    }
    // A flipped bit can land where zstd does not look (the bytes still decode to the same
    // content, which then re-hashes): only a missing or truncated file must fail.
    if let Some(id) = damaged.as_ref().filter(|_| damage & 3 != 3) {
        let m = Manifest {
            format: 1,
            id: cp.clone(),
            created_at: String::new(),
            components: vec![ComponentEntry {
                name: "c".into(),
                database: "d".into(),
                engine: "sqlite".into(),
                journal_mark: Default::default(),
                tables: vec![t],
                capture: Default::default(),
            }],
        };
        let err = store.verify(&m);
        let msg = err
            .expect_err("a damaged chunk fails verification")
            .to_string();
        assert!(
            msg.contains(id),
            "verification names the damaged chunk: {msg}"
        );
    }
}

/// The journal decoders: the core's serde forms of entries and marks, and each engine's
/// decoding of captured row images (SQLite's and MariaDB's JSON images, PostgreSQL's COPY
/// text lines and typed text values). Byte 0 picks the decoder.
pub fn journal(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(e) = serde_json::from_slice::<ripcord_core::journal::JournalEntry>(rest) {
                let back = serde_json::to_vec(&e).expect("entries serialize");
                let again: ripcord_core::journal::JournalEntry =
                    serde_json::from_slice(&back).expect("a serialized entry parses");
                assert_eq!(again.seq, e.seq);
            }
        }
        1 => {
            if let Ok(m) = serde_json::from_slice::<ripcord_core::journal::JournalMark>(rest) {
                for s in [
                    i64::MIN,
                    -1,
                    0,
                    1,
                    m.high,
                    m.high.saturating_add(1),
                    i64::MAX,
                ] {
                    let _ = m.is_after(s);
                }
            }
        }
        2 => {
            if let Ok(s) = std::str::from_utf8(rest) {
                let _ = ripcord_sqlite::decode_image(Some(s.to_string()));
            }
        }
        3 => {
            if let Ok(s) = std::str::from_utf8(rest) {
                let _ = ripcord_mysql::decode_image(Some(s));
            }
        }
        4 => {
            if let Ok(fields) = ripcord_postgres::copy_line(rest) {
                for (i, f) in fields.iter().enumerate() {
                    if let Some(f) = f {
                        let _ = ripcord_postgres::from_text(kind(i), f);
                    }
                }
            }
        }
        _ => {
            let mut d = ripcord_core::value::RowDecoder::new(rest);
            while let Ok(Some(row)) = d.next_row() {
                let mut again = Vec::new();
                ripcord_core::value::encode_row(&mut again, &row);
                let mut d2 = ripcord_core::value::RowDecoder::new(&again);
                assert_eq!(
                    d2.next_row(),
                    Ok(Some(row)),
                    "a decoded row re-encodes to itself"
                );
            }
        }
    }
}

fn kind(i: usize) -> ripcord_postgres::Kind {
    use ripcord_postgres::Kind::*;
    [Int, Float, Numeric, Bool, Bytea, Text][i % 6]
}
