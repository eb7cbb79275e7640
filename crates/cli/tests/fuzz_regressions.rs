//! Replays, on stable, every input the fuzz targets keep: the minimised corpus
//! (`fuzz/corpus/<target>/`) and the reproducers of crashes found and fixed
//! (`fuzz/regressions/<target>/`), through the same target bodies the fuzzers run.

#[allow(dead_code)] // only the entry points are called here
#[path = "../../../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut inputs = 0;
    for kind in ["regressions", "corpus"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for f in dir {
            let path = f.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            if let Err(e) = std::panic::catch_unwind(|| run(&data)) {
                std::panic::resume_unwind(Box::new(format!(
                    "{} fails again: {:?}",
                    path.display(),
                    e.downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| e.downcast_ref::<&str>().copied())
                )));
            }
            inputs += 1;
        }
    }
    assert!(inputs > 0, "no kept inputs for the {target} target");
}

#[test]
fn plan_inputs() {
    replay("plan", targets::plan);
}

#[test]
fn manifest_inputs() {
    replay("manifest", targets::manifest);
}

#[test]
fn chunk_inputs() {
    replay("chunk", targets::chunk);
}

#[test]
fn journal_inputs() {
    replay("journal", targets::journal);
}
