//! Properties of the parser over generated frames: no input makes it panic, and a valid
//! frame comes back as what was sent, however its strings are escaped.

use proptest::prelude::*;
use serde_json::json;

use super::{Request, parse_request};
use crate::protocol::ErrorCode;

/// A room name the contract accepts.
fn room() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,64}"
}

proptest! {
    #[test]
    fn no_text_makes_the_parser_panic(text in ".{0,300}") {
        let _ = parse_request(&text, 4096);
    }

    #[test]
    fn no_json_object_makes_the_parser_panic(
        kind in prop_oneof![
            Just("join"), Just("leave"), Just("send"), Just("typing"), Just("history"), Just("x")
        ],
        room in prop_oneof![room(), ".{0,80}"],
        text in ".{0,40}",
        number in any::<i64>(),
        flag in any::<bool>(),
    ) {
        let frame = json!({
            "type": kind, "room": room, "text": text, "id": text, "since": number,
            "before": number, "limit": number, "active": flag,
        });
        let _ = parse_request(&frame.to_string(), 16);
    }

    #[test]
    fn a_valid_send_comes_back_as_sent(
        room in room(),
        text in "\\PC{1,50}",
        id in proptest::option::of("\\PC{1,20}"),
    ) {
        let frame = json!({"type": "send", "room": room, "text": text, "id": id});
        match parse_request(&frame.to_string(), 4096) {
            Ok(parsed) => match parsed.request {
                Request::Send { room: got_room, text: got_text, id: got_id, files: None } => {
                    prop_assert_eq!(got_room.as_str(), room.as_str());
                    prop_assert_eq!(&*got_text, text.as_str());
                    prop_assert_eq!(got_id.as_deref(), id.as_deref());
                }
                other => prop_assert!(false, "parsed as {:?}", other),
            },
            // Only a text over the byte limit is refused.
            Err(e) => prop_assert_eq!(e.code, ErrorCode::TooLarge),
        }
    }
}
