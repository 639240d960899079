//! Server-sent events as an MCP server's streamable-HTTP transport answers
//! a POST with them: the data of each event, as the bytes arrive.

/// Accumulates a `text/event-stream` body and yields each event's data
/// (its `data:` lines joined by newlines) once the event is complete.
#[derive(Default)]
pub struct Events {
    pending: String,
    data: Vec<String>,
}

impl Events {
    /// Feeds more of the body; returns the data of every event it completed.
    pub fn push(&mut self, chunk: &str) -> Vec<String> {
        self.pending.push_str(chunk);
        let mut done = Vec::new();
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    done.push(std::mem::take(&mut self.data).join("\n"));
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                self.data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
            }
            // `event:`, `id:`, `retry:` and `:` comments carry nothing we use.
        }
        done
    }

    /// The last event when the stream ends without a blank line after it.
    pub fn finish(&mut self) -> Option<String> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.push(&format!("{rest}\n"));
        }
        (!self.data.is_empty()).then(|| std::mem::take(&mut self.data).join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_on_blank_lines_across_chunks() {
        let mut e = Events::default();
        assert!(e.push("event: message\r\nda").is_empty());
        assert_eq!(e.push("ta: {\"a\":1}\r\n\r\n: keep-alive\n\n"), ["{\"a\":1}"]);
        assert_eq!(e.push("id: 7\ndata: one\ndata:two\n\n"), ["one\ntwo"]);
        assert!(e.push("data: tail").is_empty());
        assert_eq!(e.finish().as_deref(), Some("tail"));
        assert_eq!(e.finish(), None);
    }
}
