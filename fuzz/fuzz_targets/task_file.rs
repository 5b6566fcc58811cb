#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trilemma_fuzzing::task_file(data));
