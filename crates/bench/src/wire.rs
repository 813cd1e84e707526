//! The protocol as the generator sees it: the frames it writes (`join`, `send`, and the
//! changes `edit` and `react`) and a borrowed view of the frames it reads. Reading parses only
//! the fields a receiver needs (`type`, `seq`, `text`, `code`, ...) and borrows them from the
//! frame, so a delivery costs no allocation here. A `send`'s or an `edit`'s text starts with
//! its send stamp (microseconds on the generator's [`Clock`](crate::clock::Clock)) and a space,
//! then `x` padding to the asked size; a `react` has no text, so its `id` starts with the stamp.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::Deserialize;

/// Decimal digits of the widest stamp we write, plus the space after it.
pub const STAMP_PREFIX_MAX: usize = 21;

/// A frame from the server, with only the fields the generator reads. Unknown fields (and
/// `from`, `members`, `history`...) are skipped by serde without being kept.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    /// The frame's `type`: `message`, `joined`, `welcome`, `error`, `presence`...
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// `room` of `message`, `joined`, `presence`...
    #[serde(default, borrow)]
    pub room: Option<Str<'a>>,
    /// `seq` of a `message`, or the room's latest seq in `joined`.
    #[serde(default)]
    pub seq: Option<u64>,
    /// `text` of a `message`: where the send stamp is.
    #[serde(default, borrow)]
    pub text: Option<Str<'a>>,
    /// `client_id` of a `message`: where a `react`'s send stamp is.
    #[serde(default, borrow)]
    pub client_id: Option<Str<'a>>,
    /// `code` of an `error`.
    #[serde(default, borrow)]
    pub code: Option<Str<'a>>,
    /// `limits` of `welcome` (our server sends them; the peers do not).
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// A string field borrowed from the frame when it has no escapes (ours never do), owned
/// otherwise. serde borrows a bare `Cow<str>` field but not one inside an `Option`; inside
/// this newtype it does.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The server's announced limits from `welcome`, to warn before a run trips them.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
pub struct Limits {
    pub max_text_bytes: Option<u64>,
    pub messages_per_sec: Option<f64>,
    pub burst: Option<f64>,
    pub max_rooms: Option<u64>,
}

/// What a receiver needs from a `message` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageView {
    pub seq: u64,
    /// The send stamp at the start of its text, when the text is one of ours.
    pub stamp: Option<u64>,
}

/// The start every server of the protocol gives a `message` frame (this one and the peers
/// serialise `type` first, without spaces).
const MESSAGE_START: &[u8] = br#"{"type":"message","#;

static CLIENT_ID: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""client_id":""#));

/// Reads `seq` and the send stamp of a `message` frame without a JSON parser: at 1.6 million
/// deliveries a second, parsing each frame with serde was a third of the generator's CPU.
///
/// Only a frame that starts with [`MESSAGE_START`] and has `"seq":<digits>` is read here;
/// anything else gives `None` and goes through [`parse`]. Searching for a key's bytes is exact
/// in a `message`: inside a JSON string a quote is escaped, so `"seq":` can only be a key, and
/// the one nested object (`from`) has no `seq` or `text`. The stamp is the text's; a message
/// without text (a `react`) has it at the start of its `client_id`.
pub fn scan_message(frame: &str) -> Option<MessageView> {
    if !frame.as_bytes().starts_with(MESSAGE_START) {
        return None;
    }
    static SEQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""seq":"#));
    static TEXT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""text":""#));
    let after_seq = value_after(frame, &SEQ)?;
    let digits = after_seq
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(after_seq.len());
    if digits == 0 || !matches!(after_seq.as_bytes().get(digits), Some(b',' | b'}')) {
        return None;
    }
    let seq = after_seq[..digits].parse().ok()?;
    // The stamp ends at the text's first space or its closing quote (or at an escape's
    // backslash-quote, which no stamp has).
    let stamped = value_after(frame, &TEXT).or_else(|| value_after(frame, &CLIENT_ID));
    let stamp = stamped.and_then(|text| {
        let end = memchr::memchr2(b' ', b'"', text.as_bytes())?;
        parse_stamp(&text[..end])
    });
    Some(MessageView { seq, stamp })
}

/// Recognises a sender's own plain messages among the `message` frames it receives: their
/// `client_id` is `{id_prefix}-{n}` as [`send_into`] writes it (a change's id starts with its
/// stamp instead), which is how a sender learns its messages' seqs to change them.
#[derive(Debug)]
pub struct OwnMessages(Finder<'static>);

impl OwnMessages {
    pub fn new(id_prefix: &str) -> Self {
        Self(Finder::new(format!(r#""client_id":"{id_prefix}-"#).as_bytes()).into_owned())
    }

    /// Whether `frame` (a `message`) is one of this sender's plain messages.
    pub fn is_own(&self, frame: &str) -> bool {
        self.0.find(frame.as_bytes()).is_some()
    }
}

/// What follows the first occurrence of a key's finder (a quoted key and its colon, and a
/// value's opening quote when it is a string). Finders are built once: building one per
/// search cost more than the search. Keys and the bytes searched for are ASCII, so every
/// index here is a char boundary.
fn value_after<'a>(frame: &'a str, key: &Finder<'_>) -> Option<&'a str> {
    key.find(frame.as_bytes())
        .map(|at| &frame[at + key.needle().len()..])
}

/// Parses one text frame. Fails on anything that is not a JSON object with a string `type`.
pub fn parse(frame: &str) -> Result<Incoming<'_>, serde_json::Error> {
    serde_json::from_str(frame)
}

/// The `join` frame for `room`. Room names from the generator need no JSON escaping.
pub fn join(room: &str) -> String {
    format!(r#"{{"type":"join","room":"{room}"}}"#)
}

/// A `send` frame into `out` (cleared first): text is `stamp_us`, a space and `x` padding up
/// to `size` bytes (never shorter than the stamp and its space), and `id` is `id_prefix-n`.
pub fn send_into(
    out: &mut String,
    room: &str,
    stamp_us: u64,
    size: usize,
    id_prefix: &str,
    n: u64,
) {
    out.clear();
    // Infallible: fmt::Write on String never fails.
    let _ = write!(out, r#"{{"type":"send","room":"{room}","text":""#);
    stamped_text(out, stamp_us, size);
    let _ = write!(out, r#"","id":"{id_prefix}-{n}"}}"#);
}

/// An `edit` frame into `out` (cleared first) that replaces the text of message `target`: the
/// text is as [`send_into`] writes it, the `id` is the stamp, a space and `id_prefix-n`.
pub fn edit_into(
    out: &mut String,
    room: &str,
    target: u64,
    stamp_us: u64,
    size: usize,
    id_prefix: &str,
    n: u64,
) {
    out.clear();
    let _ = write!(
        out,
        r#"{{"type":"edit","room":"{room}","target":{target},"text":""#
    );
    stamped_text(out, stamp_us, size);
    let _ = write!(out, r#"","id":"{stamp_us} {id_prefix}-{n}"}}"#);
}

/// A text of `size` bytes (never shorter than the stamp and its space): `stamp_us`, a space,
/// then `x` padding.
fn stamped_text(out: &mut String, stamp_us: u64, size: usize) {
    let _ = write!(out, "{stamp_us} ");
    for _ in decimal_len(stamp_us) + 1..size {
        out.push('x');
    }
}

/// The emoji of a `react`.
pub const REACTION: &str = "👍";

/// A `react` frame into `out` (cleared first) that adds (`active`) or takes back
/// [`REACTION`] on message `target`; the `id` is the stamp, a space and `id_prefix-n`.
pub fn react_into(
    out: &mut String,
    room: &str,
    target: u64,
    active: bool,
    stamp_us: u64,
    id_prefix: &str,
    n: u64,
) {
    out.clear();
    let _ = write!(
        out,
        r#"{{"type":"react","room":"{room}","target":{target},"emoji":"{REACTION}","active":{active},"id":"{stamp_us} {id_prefix}-{n}"}}"#
    );
}

/// The send stamp at the start of a message's text, if it is one of ours.
pub fn parse_stamp(text: &str) -> Option<u64> {
    let digits = text.split_once(' ').map_or(text, |(d, _)| d);
    if digits.is_empty() || digits.len() > STAMP_PREFIX_MAX - 1 {
        return None;
    }
    digits.parse().ok()
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_frame_has_the_asked_text_size() {
        let mut out = String::new();
        send_into(&mut out, "r1", 1_234_567, 100, "c7", 3);
        let f = parse(&out).expect("our own frame parses");
        assert_eq!(f.kind, "send");
        let text = f.text.expect("text");
        assert_eq!(text.len(), 100);
        assert!(text.starts_with("1234567 xxx"));
        assert_eq!(parse_stamp(&text), Some(1_234_567));
        assert!(out.ends_with(r#""id":"c7-3"}"#));
        // Shorter than the stamp: the stamp wins.
        send_into(&mut out, "r1", 1_234_567, 4, "c7", 4);
        assert_eq!(
            parse(&out).expect("parses").text.as_deref(),
            Some("1234567 ")
        );
    }

    #[test]
    fn reads_a_message_without_copying() {
        let frame = r#"{"type":"message","room":"r1","seq":58,"from":{"id":"u_1","name":"a"},"text":"99 xx","ts":1763800000000,"client_id":"c1-1"}"#;
        let f = parse(frame).expect("message parses");
        assert_eq!(f.kind, "message");
        assert_eq!(f.seq, Some(58));
        assert!(matches!(f.text, Some(Str(Cow::Borrowed("99 xx")))));
        // Escapes cannot be borrowed: still read, as an owned string.
        let escaped = parse(r#"{"type":"message","seq":1,"text":"a\"b"}"#).expect("parses");
        assert!(matches!(escaped.text, Some(Str(Cow::Owned(ref t))) if t == "a\"b"));
        assert_eq!(f.text.as_deref().and_then(parse_stamp), Some(99));
    }

    #[test]
    fn reads_joined_error_and_welcome() {
        let joined = r#"{"type":"joined","room":"r1","seq":57,"members":[{"id":"u","name":"a"}],"history":[{"type":"message","seq":57,"text":"x"}],"complete":true}"#;
        let f = parse(joined).expect("joined parses");
        assert_eq!((f.kind.as_ref(), f.seq), ("joined", Some(57)));
        let err = r#"{"type":"error","code":"rate_limited","message":"slow down","ref":"c1-2"}"#;
        assert_eq!(
            parse(err).expect("error parses").code.as_deref(),
            Some("rate_limited")
        );
        let welcome = r#"{"type":"welcome","user":{"id":"u_1","name":"b0"},"server":"chat/0.1","limits":{"max_text_bytes":4096,"messages_per_sec":10,"burst":20,"max_rooms":32}}"#;
        let limits = parse(welcome)
            .expect("welcome parses")
            .limits
            .expect("limits");
        assert_eq!(limits.messages_per_sec, Some(10.0));
        assert_eq!(limits.max_text_bytes, Some(4096));
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"seq":1}"#).is_err());
    }

    #[test]
    fn scans_messages_like_the_parser() {
        let frames = [
            // This server, then the peers' field order (JSON.stringify, Go's json.Marshal).
            r#"{"type":"message","room":"r1","seq":58,"from":{"id":"u_1","name":"a"},"text":"99 xx","ts":1763800000000,"client_id":"c1-1"}"#,
            r#"{"type":"message","room":"r1","seq":7,"from":{"id":"u2","name":"seq"},"text":"12 x","ts":1763800000000}"#,
            r#"{"type":"message","room":"r","seq":3,"from":{"id":"1","name":"b"},"text":"hello world","ts":1}"#,
            r#"{"type":"message","room":"r","seq":4,"from":{"id":"1","name":"b"},"text":"\"seq\":9 x","ts":1}"#,
            r#"{"type":"message","room":"r","seq":5,"from":{"id":"1","name":"b"},"text":"77","ts":1}"#,
        ];
        for frame in frames {
            let parsed = parse(frame).expect("parses");
            let scanned = scan_message(frame).expect("scanned");
            assert_eq!(Some(scanned.seq), parsed.seq, "{frame}");
            let stamp = parsed.text.as_deref().and_then(parse_stamp);
            assert_eq!(scanned.stamp, stamp, "{frame}");
        }
        assert_eq!(scan_message(frames[0]).map(|m| m.stamp), Some(Some(99)));
    }

    #[test]
    fn leaves_other_frames_to_the_parser() {
        for frame in [
            r#"{"type":"joined","room":"r1","seq":57,"history":[{"type":"message","seq":57}]}"#,
            r#"{"room":"r1","type":"message","seq":58,"text":"1 x"}"#,
            r#"{"type":"message", "room":"r1", "seq": 58, "text":"1 x"}"#,
            r#"{"type":"message","room":"r1","seq":5x,"text":"1 x"}"#,
            r#"{"type":"message","room":"r1","text":"1 x"}"#,
        ] {
            assert_eq!(scan_message(frame), None, "{frame}");
        }
    }

    #[test]
    fn edit_frame_carries_the_stamp_in_its_text_and_id() {
        let mut out = String::new();
        edit_into(&mut out, "r1", 58, 1_234_567, 100, "c7", 4);
        assert!(out.starts_with(r#"{"type":"edit","room":"r1","target":58,"text":"1234567 x"#));
        let f = parse(&out).expect("our own frame parses");
        assert_eq!(f.kind, "edit");
        let text = f.text.expect("text");
        assert_eq!(text.len(), 100);
        assert_eq!(parse_stamp(&text), Some(1_234_567));
        assert_eq!(f.client_id, None, "a client frame's key is id");
        assert!(out.ends_with(r#""id":"1234567 c7-4"}"#));
        let value: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(value["target"], 58);
    }

    #[test]
    fn react_frame_toggles_the_reaction_and_stamps_its_id() {
        let mut out = String::new();
        for active in [true, false] {
            react_into(&mut out, "r1", 58, active, 1_234_567, "c7", 5);
            let value: serde_json::Value = serde_json::from_str(&out).expect("json");
            assert_eq!(value["type"], "react");
            assert_eq!(value["room"], "r1");
            assert_eq!(value["target"], 58);
            assert_eq!(value["emoji"], REACTION);
            assert_eq!(value["active"], active);
            assert_eq!(value["id"], "1234567 c7-5");
        }
    }

    #[test]
    fn reads_the_stamp_of_a_change() {
        // An edit as this server delivers it: the stamp is in its text, as in a message.
        let edit = r#"{"type":"message","room":"r1","seq":61,"kind":"edit","target":58,"from":{"id":"u_1","name":"b0"},"text":"99 xx","ts":1763800000000,"client_id":"99 c0-2"}"#;
        // A react has no text: the stamp is at the start of its client_id.
        let react = r#"{"type":"message","room":"r1","seq":62,"kind":"react","target":58,"from":{"id":"u_1","name":"b0"},"ts":1763800000000,"client_id":"123 c0-4","emoji":"👍","active":true}"#;
        for (frame, seq, stamp) in [(edit, 61, 99), (react, 62, 123)] {
            let scanned = scan_message(frame).expect("scanned");
            assert_eq!((scanned.seq, scanned.stamp), (seq, Some(stamp)), "{frame}");
            let parsed = parse(frame).expect("parses");
            let text = parsed.text.as_deref().or(parsed.client_id.as_deref());
            assert_eq!(text.and_then(parse_stamp), Some(stamp), "{frame}");
        }
        // A message of someone else's without text, with an id that is not a stamp.
        let deleted = r#"{"type":"message","room":"r1","seq":5,"from":{"id":"1","name":"b"},"ts":1,"client_id":"c3-1","deleted":true}"#;
        assert_eq!(scan_message(deleted).map(|m| m.stamp), Some(None));
    }

    #[test]
    fn knows_a_senders_own_plain_messages() {
        let own = OwnMessages::new("c1");
        let mine = r#"{"type":"message","room":"r1","seq":58,"from":{"id":"u_1","name":"b1"},"text":"99 xx","ts":1,"client_id":"c1-3"}"#;
        let other = r#"{"type":"message","room":"r1","seq":59,"from":{"id":"u_2","name":"b11"},"text":"99 xx","ts":1,"client_id":"c11-3"}"#;
        let my_edit = r#"{"type":"message","room":"r1","seq":60,"kind":"edit","target":58,"from":{"id":"u_1","name":"b1"},"text":"99 xx","ts":1,"client_id":"99 c1-4"}"#;
        let no_id = r#"{"type":"message","room":"r1","seq":61,"from":{"id":"u_1","name":"b1"},"text":"c1-3","ts":1}"#;
        assert!(own.is_own(mine));
        for frame in [other, my_edit, no_id] {
            assert!(!own.is_own(frame), "{frame}");
        }
    }

    #[test]
    fn foreign_texts_have_no_stamp() {
        assert_eq!(parse_stamp("hello world"), None);
        assert_eq!(parse_stamp(""), None);
        assert_eq!(parse_stamp("123456789012345678901234567890 x"), None);
        assert_eq!(parse_stamp("42"), Some(42));
    }
}
