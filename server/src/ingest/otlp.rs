//! OTLP/HTTP transport: content encodings, protobuf and JSON bodies, and
//! the response in the request's own format.

use std::io::Read as _;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

/// Largest body accepted on the wire (what the original accepted).
pub const MAX_WIRE_BYTES: usize = 4 * 1024 * 1024;
/// Largest body after decompression: a gzip bomb stops here.
pub const MAX_DECODED_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// JSON only when the client says so; anything else is read as protobuf,
    /// which is what every OTLP exporter sends by default.
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        match content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) {
            Some(c) if c == "application/json" => Format::Json,
            _ => Format::Protobuf,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported Content-Encoding '{0}'; use gzip, deflate or identity")]
    UnsupportedEncoding(String),
    #[error("Payload too large: decompressed body exceeds {MAX_DECODED_BYTES} bytes")]
    TooLarge,
    #[error("body is not valid {0} data: {1}")]
    Corrupt(&'static str, String),
    #[error("Invalid OTLP protobuf payload: {0}")]
    Protobuf(String),
    #[error("Invalid OTLP JSON payload: {0}")]
    Json(String),
}

/// Undoes `Content-Encoding`, never producing more than MAX_DECODED_BYTES.
pub fn decompress(body: &[u8], encoding: Option<&str>) -> Result<Vec<u8>, DecodeError> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    let limit = MAX_DECODED_BYTES as u64 + 1;
    let mut out = Vec::new();
    let read = match encoding.as_str() {
        "" | "identity" => return Ok(body.to_vec()),
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(body).take(limit).read_to_end(&mut out),
        // HTTP "deflate" is zlib-wrapped; some clients send raw deflate.
        "deflate" => match flate2::read::ZlibDecoder::new(body).take(limit).read_to_end(&mut out) {
            Ok(n) => Ok(n),
            Err(_) => {
                out.clear();
                flate2::read::DeflateDecoder::new(body)
                    .take(limit)
                    .read_to_end(&mut out)
            }
        },
        other => return Err(DecodeError::UnsupportedEncoding(other.to_owned())),
    };
    read.map_err(|e| DecodeError::Corrupt(if encoding == "deflate" { "deflate" } else { "gzip" }, e.to_string()))?;
    if out.len() > MAX_DECODED_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

pub fn decode(body: &[u8], format: Format) -> Result<ExportTraceServiceRequest, DecodeError> {
    match format {
        Format::Protobuf => ExportTraceServiceRequest::decode(body).map_err(|e| DecodeError::Protobuf(e.to_string())),
        Format::Json if body.iter().all(u8::is_ascii_whitespace) => Ok(ExportTraceServiceRequest::default()),
        Format::Json => serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string())),
    }
}

/// The success body: empty unless some spans were rejected.
pub fn response(rejected: i64, message: String, format: Format) -> Vec<u8> {
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0).then_some(ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: message,
        }),
    };
    match format {
        Format::Protobuf => response.encode_to_vec(),
        // Omitted, not null, when everything was accepted (OTLP/JSON convention).
        Format::Json if response.partial_success.is_none() => b"{}".to_vec(),
        Format::Json => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn gzip_and_deflate_round_trip() {
        let body = b"hello otlp".repeat(10);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&body).unwrap();
        assert_eq!(decompress(&gz.finish().unwrap(), Some("gzip")).unwrap(), body);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&body).unwrap();
        assert_eq!(decompress(&z.finish().unwrap(), Some("deflate")).unwrap(), body);
        assert_eq!(decompress(&body, None).unwrap(), body);
        assert!(matches!(
            decompress(&body, Some("br")),
            Err(DecodeError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decompress(b"not gzip", Some("gzip")),
            Err(DecodeError::Corrupt(..))
        ));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..40 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < MAX_WIRE_BYTES);
        assert_eq!(decompress(&bomb, Some("gzip")), Err(DecodeError::TooLarge));
    }

    #[test]
    fn json_uses_hex_ids_and_empty_bodies_are_valid() {
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":1,"startTimeUnixNano":"1700000000000000000"}]}]}]}"#;
        let req = decode(json, Format::Json).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(hex::encode(&span.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(
            decode(b"", Format::Protobuf).unwrap(),
            ExportTraceServiceRequest::default()
        );
        assert_eq!(decode(b"", Format::Json).unwrap(), ExportTraceServiceRequest::default());
        assert!(decode(b"\xff\xff\xff", Format::Protobuf).is_err());
        assert!(decode(b"{\"resourceSpans\": 3}", Format::Json).is_err());
    }

    #[test]
    fn responses_mirror_the_request_format() {
        assert!(response(0, String::new(), Format::Protobuf).is_empty());
        assert_eq!(response(0, String::new(), Format::Json), b"{}".to_vec());
        let json: serde_json::Value = serde_json::from_slice(&response(2, "bad ids".into(), Format::Json)).unwrap();
        assert_eq!(json["partialSuccess"]["rejectedSpans"], 2);
        let proto = ExportTraceServiceResponse::decode(&response(2, "bad ids".into(), Format::Protobuf)[..]).unwrap();
        assert_eq!(proto.partial_success.unwrap().rejected_spans, 2);
    }
}
