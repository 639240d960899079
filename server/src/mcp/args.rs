//! Tool arguments as the `strathon.tool.args` attribute: JSON the way
//! Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII
//! escaped), which is what the SDK and the original gateway evaluated, so a
//! policy matching on the text matches here too. Keys come out sorted (the
//! caller's order is not kept), which no single-key match can tell.

use std::io;

use serde::Serialize as _;
use serde_json::ser::Formatter;

struct Python;

impl Formatter for Python {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

pub fn python_json(value: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Python);
    // Serializing a Value into memory cannot fail.
    let _ = value.serialize(&mut ser);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_json_dumps() {
        // json.dumps({"n": [1, 2.5, None, True], "name": "Zoë 😀", "path": "/etc"})
        let v = json!({"path": "/etc", "n": [1, 2.5, null, true], "name": "Zoë 😀"});
        assert_eq!(
            python_json(&v),
            r#"{"n": [1, 2.5, null, true], "name": "Zo\u00eb \ud83d\ude00", "path": "/etc"}"#
        );
        assert_eq!(python_json(&json!({})), "{}");
        assert_eq!(python_json(&json!({"q": "a\"b\n"})), r#"{"q": "a\"b\n"}"#);
    }
}
