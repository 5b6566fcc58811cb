#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trilemma_fuzzing::gguf_header(data));
