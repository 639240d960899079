//! Content-Encoding → protobuf decode → conversion (both accept windows).
//! Input: one control byte (see `strathon_fuzz::encoding`), then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strathon_server::ingest::otlp::{self, Format};

fuzz_target!(|data: &[u8]| {
    strathon_fuzz::run(|| {
        let Some((&ctl, body)) = data.split_first() else {
            return;
        };
        let Ok(body) = otlp::decompress(body, strathon_fuzz::encoding(ctl)) else {
            return;
        };
        assert!(body.len() <= otlp::MAX_DECODED_BYTES);
        let Ok(request) = otlp::decode(&body, Format::Protobuf) else {
            return;
        };
        strathon_fuzz::check_request(request, ctl, Format::Protobuf);
    });
});
