//! One entry point per parser of outside input, shared by the libFuzzer targets in
//! `fuzz/` (nightly, `cargo fuzz run TARGET`) and by the replay test that CI runs on
//! stable (`tests/replay.rs`: every committed corpus file plus a fixed number of
//! generated inputs per target). Each entry point must return for any bytes: an error
//! is an answer, a panic or a hang is a finding. Where a parser has a property that
//! can be checked cheaply, the entry point checks it.

use std::path::Path;

/// A target's entry point: runs one input.
pub type Entry = fn(&[u8]);

/// The targets, by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`).
pub const TARGETS: &[(&str, Entry)] = &[
    ("gguf_header", gguf_header),
    ("task_file", task_file),
    ("sse", sse),
    ("serve_request", serve_request),
    ("analysis_csv", analysis_csv),
    ("cascade_file", cascade_file),
];

/// The GGUF header reader on a file's bytes. A header it accepts says the file must
/// hold at least its own header.
pub fn gguf_header(data: &[u8]) {
    if let Ok(h) = trilemma_gguf::read_bytes(data) {
        assert!(
            h.file_bytes == data.len() as u64,
            "the header's file length is the input's"
        );
    }
}

/// Splits `data` at the first line `%%`: the part before, the part after.
fn split_parts(data: &[u8]) -> (&[u8], &[u8]) {
    const SEP: &[u8] = b"\n%%\n";
    match data.windows(SEP.len()).position(|w| w == SEP) {
        Some(i) => (&data[..i], &data[i + SEP.len()..]),
        None => (data, &[]),
    }
}

/// A task file and its data: the input is the TOML, a line `%%`, then the data, written
/// as both `data.jsonl` and `data.csv` beside it. A task file naming any other data file
/// is not read (it could name a device that never ends).
pub fn task_file(data: &[u8]) {
    let (toml_part, data_part) = split_parts(data);
    let Ok(text) = std::str::from_utf8(toml_part) else {
        return;
    };
    if let Ok(v) = text.parse::<toml::Table>() {
        match v.get("dataset_path").and_then(|p| p.as_str()) {
            Some("data.jsonl" | "data.csv") | None => {}
            Some(_) => return,
        }
    }
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).is_ok();
    if write("task.toml", toml_part)
        && write("data.jsonl", data_part)
        && write("data.csv", data_part)
    {
        let _ = trilemma_tasks::load_task_file(&dir.path().join("task.toml"));
    }
}

/// The SSE parser, fed the input whole and fed it in chunks cut where the input's first
/// byte says: the events must be the same, however the bytes arrive.
pub fn sse(data: &[u8]) {
    use trilemma_engine::sse::SseParser;
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let whole = SseParser::new().push(body);
    let step = usize::from(cut % 17) + 1;
    let mut p = SseParser::new();
    let mut chunked = Vec::new();
    for chunk in body.chunks(step) {
        match p.push(chunk) {
            Ok(events) => chunked.extend(events),
            Err(_) => return,
        }
    }
    if let Ok(events) = whole {
        assert_eq!(
            events, chunked,
            "the events depend on where the bytes were cut"
        );
    }
}

/// The request bodies `serve` accepts: the first byte picks the endpoint (even:
/// completions, odd: chat), the rest is the body. Every answer is a status code.
pub fn serve_request(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let status = trilemma_serve::fuzzing::request_body(body, which % 2 == 1);
    assert!((200..600).contains(&status), "status {status}");
}

/// The analysis CSV input (`trilemma analyze --csv`).
pub fn analysis_csv(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = trilemma_analysis::Table::parse(Path::new("fuzz.csv"), text);
    }
}

/// The cascade file.
pub fn cascade_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = trilemma_cascade::CascadeConfig::parse(text, Path::new("cascade.toml"));
    }
}
