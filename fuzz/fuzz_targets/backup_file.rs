#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| m2mhub_fuzz::backup_file(data));
