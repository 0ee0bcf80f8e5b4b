#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| processing::fuzz::spawn_payload(data));
