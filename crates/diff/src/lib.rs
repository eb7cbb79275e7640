//! ripcord's diff engine: proves, row by row, what is the same, what differs and what is
//! missing between two tables on any two of SQLite, PostgreSQL and MariaDB, or between a
//! checkpoint and a live table.
//!
//! Both sides answer the [`DiffSource`] questions (counts, quantile boundaries, checksums
//! per key range, rows of a range) in their own SQL over the same canonical row encoding
//! ([`canon`]); [`diff_table`] splits the key space by the real row distribution, keeps
//! only ranges whose checksums differ, and downloads rows only for small ranges.
//! Numbers are compared exactly ([`exact`]), never through an f64, and only a tolerance
//! the operator set lets a difference pass (it is still listed).
//! [`arabic`] classifies text damage, [`fk`] finds orphans, [`aggregate`] compares totals.

pub mod aggregate;
pub mod arabic;
pub mod canon;
mod compare;
/// Exact decimals live in core, which the plan's invariants share.
pub use ripcord_core::exact;
pub mod fk;
mod report;
pub mod source;
pub mod sql;
pub mod stream;

pub use compare::{ColumnChange, RowChange, Tolerances};
pub use exact::Decimal;
pub use report::{Gap, Stats, TableDiff};
pub use source::{
    CanonRow, DiffSource, Digest, ForeignKey, KeyProblems, KeyVals, MemorySource, Range, TableSpec,
};
pub use stream::{ExpectedRow, Streamed, diff_ordered};

use canon::Checksum;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{0}")]
    Usage(String),
    #[error("{side}: {context}: {reason}")]
    Query {
        side: String,
        context: String,
        reason: String,
    },
    #[error(transparent)]
    Core(#[from] ripcord_core::Error),
}

impl DiffError {
    pub fn query(
        side: impl Into<String>,
        context: impl Into<String>,
        reason: impl std::fmt::Display,
    ) -> DiffError {
        DiffError::Query {
            side: side.into(),
            context: context.into(),
            reason: ripcord_core::redact::scrub(&reason.to_string()),
        }
    }
}

/// How the key space is cut and what counts as equal.
#[derive(Clone, Debug)]
pub struct Options {
    /// Key columns (default: the primary key of side A).
    pub key: Vec<String>,
    /// Columns compared (default: every column both sides have).
    pub columns: Vec<String>,
    /// A range holding at most this many rows on each side is downloaded and compared.
    pub leaf_rows: u64,
    /// Sub-ranges per split below the first level.
    pub fanout: u64,
    /// Rows per range at the first level: small, so that one scan of each side narrows
    /// scattered differences down to ranges cheap to download.
    pub first_level_rows: u64,
    /// At most this many ranges at the first level.
    pub first_level_max: u64,
    pub tolerances: Tolerances,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            key: Vec::new(),
            columns: Vec::new(),
            leaf_rows: 256,
            fanout: 16,
            first_level_rows: 64,
            first_level_max: 16384,
            tolerances: Tolerances::default(),
        }
    }
}

/// Runs `fa` on `a` and `fb` on `b` at the same time, each on its own thread.
fn both<A, B, RA, RB>(
    a: &mut A,
    b: &mut B,
    fa: impl FnOnce(&mut A) -> RA + Send,
    fb: impl FnOnce(&mut B) -> RB + Send,
) -> (RA, RB)
where
    A: ?Sized + Send,
    B: ?Sized + Send,
    RA: Send,
    RB: Send,
{
    std::thread::scope(|s| {
        let ha = s.spawn(move || fa(a));
        let rb = fb(b);
        (ha.join().expect("diff thread panicked"), rb)
    })
}

/// A range whose checksums differ (or that is not checked yet), with each side's count.
#[derive(Clone, Debug)]
struct Pending {
    range: Range,
    count_a: u64,
    count_b: u64,
}

/// Compares `table` on both sides.
pub fn diff_table(
    a: &mut dyn DiffSource,
    b: &mut dyn DiffSource,
    table: &str,
    opts: &Options,
) -> Result<TableDiff, DiffError> {
    let started = Instant::now();
    let (sa, sb) = both(a, b, |a| a.schema(table), |b| b.schema(table));
    let (sa, sb) = (sa?, sb?);
    let names_b = sb.column_names();
    let names_a = sa.column_names();
    let columns: Vec<String> = if opts.columns.is_empty() {
        names_a
            .iter()
            .filter(|c| names_b.contains(c))
            .cloned()
            .collect()
    } else {
        opts.columns.clone()
    };
    let key = if opts.key.is_empty() {
        sa.key_names()
    } else {
        opts.key.clone()
    };
    let mut spec_a = TableSpec::from_schema(&sa, &key, &columns)?;
    let mut spec_b = TableSpec::from_schema(&sb, &key, &columns)?;
    if let (Some(x), Some(y)) = (a.fast_digest(), b.fast_digest())
        && x == y
    {
        spec_a.digest = x;
        spec_b.digest = x;
    }
    for (i, k) in key.iter().enumerate() {
        let (ca, cb) = (spec_a.classes[i], spec_b.classes[i]);
        let num = |c: canon::Class| matches!(c, canon::Class::Int | canon::Class::Bool);
        if ca != cb && !(num(ca) && num(cb)) {
            return Err(DiffError::Usage(format!(
                "key column {k:?} is {ca:?} on {} but {cb:?} on {}; both sides must order the key the same way",
                a.describe(),
                b.describe()
            )));
        }
    }
    let mut out = TableDiff::new(table, a.describe(), b.describe(), &spec_a);
    out.columns_only(&names_a, &names_b);
    let tol = opts.tolerances.for_spec(&spec_a);

    // Duplicate or NULL keys make "the row with key k" meaningless: report them and stop.
    let (pa, pb) = both(
        a,
        b,
        |a| {
            if spec_a.key_is_primary {
                Ok(KeyProblems::default())
            } else {
                a.key_problems(&spec_a)
            }
        },
        |b| {
            if spec_b.key_is_primary {
                Ok(KeyProblems::default())
            } else {
                b.key_problems(&spec_b)
            }
        },
    );
    out.key_problems_a = pa?;
    out.key_problems_b = pb?;
    let (na, nb) = both(
        a,
        b,
        |a| a.count(&spec_a, &Range::all()),
        |b| b.count(&spec_b, &Range::all()),
    );
    out.rows_a = na?;
    out.rows_b = nb?;
    out.stats.queries += 6;
    if !out.key_problems_a.is_clean() || !out.key_problems_b.is_clean() {
        out.stats.seconds = started.elapsed().as_secs_f64();
        return Ok(out);
    }

    out.stats.count_seconds = started.elapsed().as_secs_f64();
    let mut pending = vec![Pending {
        range: Range::all(),
        count_a: out.rows_a,
        count_b: out.rows_b,
    }];
    let mut first = true;
    while !pending.is_empty() {
        out.stats.levels += 1;
        let (leaves, split): (Vec<Pending>, Vec<Pending>) = pending
            .into_iter()
            .partition(|p| p.count_a.max(p.count_b) <= opts.leaf_rows);
        compare_leaves(a, b, &spec_a, &spec_b, &leaves, &tol, &mut out)?;
        pending = Vec::new();
        if split.is_empty() {
            break;
        }
        // Boundaries come from whichever side holds more rows in the range, so a range is
        // always cut by the real distribution of its bigger side.
        let parts = |p: &Pending| -> u64 {
            if first {
                (p.count_a.max(p.count_b) / opts.first_level_rows.max(1))
                    .clamp(2, opts.first_level_max.max(2))
            } else {
                opts.fanout.max(2)
            }
        };
        let plan_a: Vec<(usize, u64)> = split
            .iter()
            .enumerate()
            .filter(|(_, p)| p.count_a >= p.count_b)
            .map(|(i, p)| (i, p.count_a.div_ceil(parts(p))))
            .collect();
        let plan_b: Vec<(usize, u64)> = split
            .iter()
            .enumerate()
            .filter(|(_, p)| p.count_a < p.count_b)
            .map(|(i, p)| (i, p.count_b.div_ceil(parts(p))))
            .collect();
        first = false;
        let t = Instant::now();
        let (ba, bb) = both(
            a,
            b,
            |a| {
                plan_a
                    .iter()
                    .map(|&(i, step)| Ok((i, a.boundaries(&spec_a, &split[i].range, step)?)))
                    .collect::<Result<Vec<_>, DiffError>>()
            },
            |b| {
                plan_b
                    .iter()
                    .map(|&(i, step)| Ok((i, b.boundaries(&spec_b, &split[i].range, step)?)))
                    .collect::<Result<Vec<_>, DiffError>>()
            },
        );
        out.stats.boundary_seconds += t.elapsed().as_secs_f64();
        let mut bounds: Vec<Vec<KeyVals>> = vec![Vec::new(); split.len()];
        for (i, bs) in ba?.into_iter().chain(bb?) {
            // The range's own lower bound cannot cut it; dropping it avoids an empty range.
            bounds[i] = bs
                .into_iter()
                .filter(|k| split[i].range.lo.as_ref() != Some(k))
                .collect();
        }
        out.stats.queries += 2 * split.len() as u64;
        // A range with no boundary inside (its rows changed under us, or it has a single
        // key) is compared row by row rather than split forever.
        let (split, bounds): (Vec<Pending>, Vec<Vec<KeyVals>>) = {
            let (keep, whole): (Vec<_>, Vec<_>) = split
                .into_iter()
                .zip(bounds)
                .partition(|(_, bs)| !bs.is_empty());
            let whole: Vec<Pending> = whole.into_iter().map(|(p, _)| p).collect();
            compare_leaves(a, b, &spec_a, &spec_b, &whole, &tol, &mut out)?;
            keep.into_iter().unzip()
        };
        let t = Instant::now();
        let (ca, cb) = both(
            a,
            b,
            |a| {
                split
                    .iter()
                    .zip(&bounds)
                    .map(|(p, bs)| a.checksums(&spec_a, &p.range, bs))
                    .collect::<Result<Vec<_>, DiffError>>()
            },
            |b| {
                split
                    .iter()
                    .zip(&bounds)
                    .map(|(p, bs)| b.checksums(&spec_b, &p.range, bs))
                    .collect::<Result<Vec<_>, DiffError>>()
            },
        );
        let (ca, cb) = (ca?, cb?);
        out.stats.checksum_seconds += t.elapsed().as_secs_f64();
        for (((p, bs), xa), xb) in split.iter().zip(&bounds).zip(ca).zip(cb) {
            out.stats.ranges_checked += (bs.len() + 1) as u64;
            for ((r, sa), sb) in p.range.split(bs).into_iter().zip(xa).zip(xb) {
                if sa != sb {
                    pending.push(Pending {
                        range: r,
                        count_a: sa.count,
                        count_b: sb.count,
                    });
                }
            }
        }
        out.stats.queries += 2 * split.len() as u64;
    }
    out.sort();
    out.stats.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

fn compare_leaves(
    a: &mut dyn DiffSource,
    b: &mut dyn DiffSource,
    spec_a: &TableSpec,
    spec_b: &TableSpec,
    leaves: &[Pending],
    tol: &[Option<Decimal>],
    out: &mut TableDiff,
) -> Result<(), DiffError> {
    if leaves.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    let fetch = |s: &mut dyn DiffSource, spec: &TableSpec, want: fn(&Pending) -> u64| {
        let mut rows = Vec::new();
        for p in leaves {
            if want(p) > 0 {
                rows.extend(s.rows(spec, &p.range)?);
            }
        }
        rows.sort_by(|x, y| spec.cmp_keys(&spec.key_of(x), &spec.key_of(y)));
        Ok::<_, DiffError>(rows)
    };
    let (ra, rb) = both(
        a,
        b,
        |a| fetch(a, spec_a, |p| p.count_a),
        |b| fetch(b, spec_b, |p| p.count_b),
    );
    let (ra, rb) = (ra?, rb?);
    out.stats.download_seconds += t.elapsed().as_secs_f64();
    out.stats.rows_downloaded += (ra.len() + rb.len()) as u64;
    out.stats.queries += 2 * leaves.len() as u64;
    compare::merge(spec_a, spec_b, &ra, &rb, tol, out);
    Ok(())
}

/// The checksum of a whole table on one side (used by tests and by `verify`).
pub fn table_checksum(s: &mut dyn DiffSource, spec: &TableSpec) -> Result<Checksum, DiffError> {
    Ok(s.checksums(spec, &Range::all(), &[])?
        .into_iter()
        .next()
        .unwrap_or_default())
}
