#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trilemma_fuzzing::sse(data));
