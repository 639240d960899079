//! OTLP/JSON decode → conversion (both accept windows). The whole input is the
//! body, so JSON seeds stay readable; the sampling rate, redaction configs and
//! which window gets the policies come from the body's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strathon_server::ingest::otlp::{self, Format};

fuzz_target!(|data: &[u8]| {
    strathon_fuzz::run(|| {
        let Ok(request) = otlp::decode(data, Format::Json) else {
            return;
        };
        // Encoding bits are irrelevant here; the rest varies with the length.
        let ctl = (data.len() as u8) << 2;
        strathon_fuzz::check_request(request, ctl, Format::Json);
    });
});
