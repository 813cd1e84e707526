//! Any text a client sends as a frame: the parser answers a request or an error, never
//! panics, and a request it accepts respects the limits it was given.
#![no_main]

use chat_ws::protocol::{MAX_CLIENT_ID_CHARS, Request, parse_request};
use libfuzzer_sys::fuzz_target;

const MAX_TEXT_BYTES: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = parse_request(text, MAX_TEXT_BYTES) else {
        return;
    };
    if let Request::Send { text, .. } = &parsed.request {
        assert!(text.len() <= MAX_TEXT_BYTES, "a send over the text limit was accepted");
    }
    if let Some(reference) = &parsed.reference {
        assert!(
            reference.chars().count() <= MAX_CLIENT_ID_CHARS,
            "an id over {MAX_CLIENT_ID_CHARS} characters was accepted"
        );
    }
});
