#![no_main]

#[allow(dead_code)] // each target uses one of the shared bodies
#[path = "../src/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::chunk(data));
