//! Server-sent events, the `text/event-stream` framing in which OpenAI-compatible
//! servers stream completions: one parser for every client that reads such a stream
//! (the HTTP engine and the load generator).
//!
//! Bytes go in as they arrive, in chunks cut anywhere (inside a line, between a CR
//! and its LF, inside a UTF-8 character); each event a chunk completes comes out.
//! Lines end in LF, CRLF or a lone CR; a blank line ends an event; lines starting with
//! `:` are comments; the `data` lines of one event are joined with `\n`; an event with
//! no `data` line is not dispatched; `event`, `id` and `retry` are not used by any
//! caller and are skipped. A partial event left when the stream ends is dropped, as
//! the SSE specification says.

/// The payload OpenAI-compatible servers send as their last event.
pub const DONE: &str = "[DONE]";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// The event's data (its `data` lines joined with `\n`).
    Data(String),
    /// The data was `[DONE]`: the server has finished the stream.
    Done,
}

/// Incremental parser of an event stream; feed it with [`SseParser::push`].
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet ended.
    line: Vec<u8>,
    /// The data of the event being read, once it has a `data` line.
    data: Option<String>,
    /// The last chunk ended in CR: an LF opening the next chunk belongs to it.
    after_cr: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `chunk` and returns the events it completes, in order.
    ///
    /// A line that is not UTF-8 is an error; the parser should not be fed further.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, std::str::Utf8Error> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if std::mem::take(&mut self.after_cr) && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        while let Some(i) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.line.extend_from_slice(&rest[..i]);
            let ended_by_cr = rest[i] == b'\r';
            rest = &rest[i + 1..];
            if ended_by_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.end_line(std::str::from_utf8(&line)?, &mut out);
            // Keep the allocation for the next line.
            self.line = line;
            self.line.clear();
        }
        self.line.extend_from_slice(rest);
        Ok(out)
    }

    fn end_line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(if data.trim() == DONE {
                    SseEvent::Done
                } else {
                    SseEvent::Data(data)
                });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> SseEvent {
        SseEvent::Data(s.into())
    }

    /// Feeds `chunks` one by one and collects every event.
    fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        chunks.iter().flat_map(|c| p.push(c).unwrap()).collect()
    }

    #[test]
    fn events_split_across_chunks() {
        let mut p = SseParser::new();
        assert_eq!(
            p.push(b"data: {\"a\":1}\n\ndata: [DO").unwrap(),
            [data("{\"a\":1}")]
        );
        assert_eq!(p.push(b"NE]\n\n: comment\n\n").unwrap(), [SseEvent::Done]);
        assert_eq!(p.push(b"").unwrap(), []);
    }

    #[test]
    fn every_cut_of_a_stream_gives_the_same_events() {
        let stream =
            "data: {\"t\":\"é\"}\r\n\r\n: keep-alive\n\ndata: x\rdata: y\r\rdata: [DONE]\n\n";
        let want = [data("{\"t\":\"é\"}"), data("x\ny"), SseEvent::Done];
        let b = stream.as_bytes();
        for cut in 0..=b.len() {
            assert_eq!(parse(&[&b[..cut], &b[cut..]]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = b.chunks(1).collect();
        assert_eq!(parse(&bytes), want);
    }

    #[test]
    fn crlf_line_ends() {
        assert_eq!(
            parse(&[b"data: a\r\n\r\ndata: b\r", b"\n\r", b"\n"]),
            [data("a"), data("b")]
        );
    }

    #[test]
    fn comments_and_other_fields_are_skipped() {
        let events = parse(&[b": hello\nevent: delta\nid: 7\nretry: 10\ndata: x\n\n"]);
        assert_eq!(events, [data("x")]);
        // An event with no data line is not dispatched.
        assert_eq!(parse(&[b": ping\n\nevent: x\n\n"]), []);
    }

    #[test]
    fn multi_line_data_is_joined() {
        assert_eq!(
            parse(&[b"data: {\"a\":\ndata:1}\ndata\n\n"]),
            [data("{\"a\":\n1}\n")]
        );
        // One leading space is part of the framing, a second one is data.
        assert_eq!(parse(&[b"data:  two\n\n"]), [data(" two")]);
    }

    #[test]
    fn done_is_recognised_with_spaces_and_events_after_it_still_come() {
        assert_eq!(
            parse(&[b"data:[DONE] \n\ndata: late\n\n"]),
            [SseEvent::Done, data("late")]
        );
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        assert_eq!(parse(&[b"data: cut sh"]), []);
        assert_eq!(parse(&[b"data: no blank line\n"]), []);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_error() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: \xff\xfe\n\n").is_err());
    }
}
