//! Progress of long data operations as throttled [`Event::DataProgress`] events; listeners
//! turn them into rows, bytes, rate and ETA.

use crate::events::{Bus, Event, Operation};
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(1);

pub struct Meter<'a> {
    bus: &'a Bus,
    what: Operation,
    total_rows: u64,
    rows: u64,
    bytes: u64,
    started: Instant,
    last: Instant,
}

impl<'a> Meter<'a> {
    pub fn new(bus: &'a Bus, what: Operation, total_rows: u64) -> Self {
        let now = Instant::now();
        Meter {
            bus,
            what,
            total_rows,
            rows: 0,
            bytes: 0,
            started: now,
            last: now,
        }
    }

    pub fn add(&mut self, rows: u64, bytes: u64) {
        self.rows += rows;
        self.bytes += bytes;
        // Reading the clock per row would cost more than the row; every 4096th is enough.
        if self.rows % 4096 < rows && self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            self.emit(false);
        }
    }

    /// The closing event, only for operations long enough to have reported on the way.
    pub fn finish(self) {
        if self.started.elapsed() >= EVERY {
            self.emit(true);
        }
    }

    fn emit(&self, finished: bool) {
        self.bus.emit(Event::DataProgress {
            what: self.what.clone(),
            rows: self.rows,
            total_rows: self.total_rows,
            bytes: self.bytes,
            seconds: self.started.elapsed().as_secs_f64(),
            finished,
        });
    }
}

/// One line for people: `1.2M/2.0M rows · 250 MB · 410k rows/s · ETA 2s`.
pub fn describe(rows: u64, total_rows: u64, bytes: u64, seconds: f64) -> String {
    let n = |x: f64| {
        if x >= 1e6 {
            format!("{:.1}M", x / 1e6)
        } else if x >= 1e3 {
            format!("{:.0}k", x / 1e3)
        } else {
            format!("{x:.0}")
        }
    };
    let rate = rows as f64 / seconds.max(1e-9);
    let mut out = if total_rows > 0 {
        format!("{}/{} rows", n(rows as f64), n(total_rows as f64))
    } else {
        format!("{} rows", n(rows as f64))
    };
    out.push_str(&format!(
        " · {:.0} MB · {} rows/s",
        bytes as f64 / 1e6,
        n(rate)
    ));
    if total_rows > rows && rate > 0.0 {
        out.push_str(&format!(" · ETA {:.0}s", (total_rows - rows) as f64 / rate));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_rate_and_eta() {
        assert_eq!(
            describe(1_000_000, 2_000_000, 250_000_000, 2.0),
            "1.0M/2.0M rows · 250 MB · 500k rows/s · ETA 2s"
        );
        assert_eq!(describe(10, 0, 0, 1.0), "10 rows · 0 MB · 10 rows/s");
    }
}
