//! `redaction::redact` on arbitrary attribute maps under every config.
//! Input: a control byte choosing the config, then 0xFF-separated key/value
//! pieces (see `strathon_fuzz::redaction_input`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strathon_fuzz::run(|| {
        let (ctl, attrs) = strathon_fuzz::redaction_input(data);
        strathon_fuzz::check_redaction(ctl, attrs);
    });
});
