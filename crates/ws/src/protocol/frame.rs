use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;

/// One server frame, ready for the wire: the WebSocket header and the JSON text behind a
/// reference count.
///
/// Server frames are never masked, so the bytes are the same for every recipient: a frame is
/// encoded once, and a fan-out to N members queues N clones of one buffer (a count bump
/// each), which the writers hand straight to one socket write with no copy and no per-member framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    wire: Bytes,
    /// Where the payload starts (after the 2-, 4- or 10-byte header).
    payload_at: u8,
    /// A close frame (or the unwritten end of one): nothing may follow it on the wire.
    close: bool,
    /// The unwritten end of a frame whose start already went out: it must follow.
    continuation: bool,
    /// WebSocket frames in `wire`: 1, or more for frames laid end to end for a room. A
    /// connection's queue is bounded in these, not in entries.
    frames: u32,
}

/// WebSocket opcodes the server sends (RFC 6455 §5.2), with the FIN bit set.
const TEXT: u8 = 0x81;
#[cfg(feature = "echo")]
const BINARY: u8 = 0x82;
const CLOSE: u8 = 0x88;
const PING: u8 = 0x89;
/// The longest header the server writes: 2 bytes and a 64-bit length.
const MAX_HEADER: usize = 10;

/// The bits of a frame's first byte that hold its opcode.
const OPCODE: u8 = 0x0f;

/// How many frames lie end to end in `wire`, and whether one of them is a close. A frame cut
/// short at the end still counts.
fn walk(wire: &[u8]) -> (u32, bool) {
    let mut frames = 0u32;
    let mut close = false;
    let mut at = 0;
    while let Some(&first) = wire.get(at) {
        frames = frames.saturating_add(1);
        close |= first & OPCODE == CLOSE & OPCODE;
        match frame_len(&wire[at..]).and_then(|len| at.checked_add(len)) {
            Some(next) => at = next,
            None => break,
        }
    }
    (frames, close)
}

/// How many bytes at the start of `wire` are whole frames (a frame cut short is left out).
pub(crate) fn whole_frames_len(wire: &[u8]) -> usize {
    let mut at = 0;
    while at < wire.len() {
        match frame_len(&wire[at..]).and_then(|len| at.checked_add(len)) {
            Some(next) if next <= wire.len() => at = next,
            _ => break,
        }
    }
    at
}

/// The length, header included, of the frame that starts `wire`, as its header says; `None`
/// when the header itself is cut short.
fn frame_len(wire: &[u8]) -> Option<usize> {
    let second = *wire.get(1)?;
    // The server's frames are never masked; a client's would carry a 4-byte key.
    let mask_key = if second & 0x80 == 0 { 0 } else { 4 };
    let (header, payload) = match second & 0x7f {
        126 => (
            4,
            u64::from(u16::from_be_bytes(wire.get(2..4)?.try_into().ok()?)),
        ),
        127 => (10, u64::from_be_bytes(wire.get(2..10)?.try_into().ok()?)),
        len => (2, u64::from(len)),
    };
    usize::try_from(payload)
        .ok()?
        .checked_add(header + mask_key)
}

/// The header of an unmasked frame with `opcode` and a payload of `len` bytes, and its length.
fn header(opcode: u8, len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut header = [0; MAX_HEADER];
    header[0] = opcode;
    match len {
        0..=125 => {
            header[1] = len as u8;
            (header, 2)
        }
        126..=0xffff => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            (header, 4)
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            (header, 10)
        }
    }
}

impl Frame {
    /// A text frame of JSON as serde wrote it (so UTF-8).
    pub(crate) fn from_json(json: impl AsRef<[u8]>) -> Self {
        Self::encode(TEXT, json.as_ref())
    }

    /// A close frame with `code` and a short `reason` (at most 123 bytes, as control frames
    /// carry at most 125).
    pub fn close(code: u16, reason: &str) -> Self {
        let reason = &reason.as_bytes()[..reason.len().min(123)];
        let mut payload = Vec::with_capacity(2 + reason.len());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(reason);
        Self::encode(CLOSE, &payload)
    }

    /// A text frame with exactly this payload: what the echo endpoint sends back.
    #[cfg(feature = "echo")]
    pub(crate) fn text(payload: &[u8]) -> Self {
        Self::encode(TEXT, payload)
    }

    /// A binary frame with exactly this payload: what the echo endpoint sends back.
    #[cfg(feature = "echo")]
    pub(crate) fn binary(payload: &[u8]) -> Self {
        Self::encode(BINARY, payload)
    }

    /// An empty ping.
    pub fn ping() -> Self {
        Self {
            wire: Bytes::from_static(&[PING, 0]),
            payload_at: 2,
            close: false,
            continuation: false,
            frames: 1,
        }
    }

    /// Control frames the WebSocket library wrote, one or more end to end (a pong and a close
    /// can share one flush): their headers are walked to count them and to find a close.
    pub(crate) fn raw(wire: Bytes) -> Self {
        let (frames, close) = walk(&wire);
        Self::unencoded(wire, frames, close)
    }

    /// `frames` WebSocket frames laid end to end in `wire`, none of them a close (a room's
    /// frames; a close goes to one connection). The caller counted them, so the headers are
    /// not walked again for each member the run goes to.
    pub(crate) fn several(wire: Bytes, frames: usize) -> Self {
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        debug_assert_eq!(walk(&wire), (frames, false), "a room's frames, counted");
        Self::unencoded(wire, frames, false)
    }

    /// Bytes that are not WebSocket frames (the HTTP layer's held 101 response), written as
    /// they are: walked as frames, they could read as a close. One entry in the queue.
    pub(crate) fn opaque(wire: Bytes) -> Self {
        Self::unencoded(wire, 1, false)
    }

    /// Bytes framed elsewhere, written as they are (no payload told apart from the header).
    fn unencoded(wire: Bytes, frames: u32, close: bool) -> Self {
        Self {
            wire,
            payload_at: 0,
            close,
            continuation: false,
            frames,
        }
    }

    /// How many WebSocket frames this carries (the unwritten end of some counts them all).
    pub fn frames(&self) -> u64 {
        u64::from(self.frames)
    }

    /// What is left of the frame after its first `written` bytes went out.
    pub(crate) fn tail(&self, written: usize) -> Self {
        Self {
            wire: self.wire.slice(written..),
            payload_at: 0,
            close: self.close,
            continuation: true,
            frames: self.frames,
        }
    }

    fn encode(opcode: u8, payload: &[u8]) -> Self {
        let (header, header_len) = header(opcode, payload.len());
        let mut wire = BytesMut::with_capacity(header_len + payload.len());
        wire.put_slice(&header[..header_len]);
        wire.put_slice(payload);
        Self::framed(wire.freeze(), header_len, opcode)
    }

    /// A text frame of `value`'s JSON, serialized straight into the frame's own buffer behind
    /// room for the header: one allocation and no copy, where a JSON string first would take
    /// three allocations and two copies per message. `capacity` is a guess of the JSON's length.
    pub(crate) fn json<T: Serialize + ?Sized>(value: &T, capacity: usize) -> Self {
        let mut wire = BytesMut::with_capacity(MAX_HEADER + capacity);
        wire.put_bytes(0, MAX_HEADER);
        // The server's frames hold only strings, numbers and sequences: serializing them
        // cannot fail. Were it to, the frame would be empty rather than cut.
        if serde_json::to_writer((&mut wire).writer(), value).is_err() {
            wire.truncate(MAX_HEADER);
        }
        let (header, header_len) = header(TEXT, wire.len() - MAX_HEADER);
        let start = MAX_HEADER - header_len;
        wire[start..MAX_HEADER].copy_from_slice(&header[..header_len]);
        wire.advance(start);
        Self::framed(wire.freeze(), header_len, TEXT)
    }

    fn framed(wire: Bytes, header_len: usize, opcode: u8) -> Self {
        Self {
            wire,
            payload_at: header_len as u8,
            close: opcode == CLOSE,
            continuation: false,
            frames: 1,
        }
    }

    /// Whether this is a close frame: nothing may follow it on the wire.
    pub fn is_close(&self) -> bool {
        self.close
    }

    /// Whether this is the rest of a frame that was partly written: it must go out next.
    pub fn is_continuation(&self) -> bool {
        self.continuation
    }

    /// The JSON text of a text frame.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.payload()).unwrap_or_default()
    }

    /// The payload, without the WebSocket header.
    pub fn payload(&self) -> &[u8] {
        &self.wire[usize::from(self.payload_at)..]
    }

    /// Header and payload, as written to the socket.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        self.wire.len()
    }

    /// Whether the frame has no bytes at all (never true for an encoded frame).
    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_has_a_two_byte_header() {
        let frame = Frame::from_json("{}");
        assert_eq!(frame.wire(), &[0x81, 2, b'{', b'}']);
        assert_eq!(frame.as_str(), "{}");
    }

    #[test]
    fn lengths_from_126_use_16_bits_and_from_65536_use_64_bits() {
        let medium = Frame::from_json("x".repeat(126));
        assert_eq!(&medium.wire()[..4], &[0x81, 126, 0, 126]);
        assert_eq!(medium.payload().len(), 126);
        let large = Frame::from_json("x".repeat(65_536));
        assert_eq!(&large.wire()[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(large.len(), 65_546);
    }

    #[test]
    fn serialized_json_gets_the_header_its_length_needs() {
        // A JSON string of n characters is n + 2 bytes: 123, 124 and 65,534 straddle the
        // 2-, 4- and 10-byte headers; a small capacity guess makes the buffer grow.
        for n in [0, 123, 124, 65_533, 65_534] {
            let text = "x".repeat(n);
            let frame = Frame::json(&text, 8);
            let json = serde_json::to_string(&text).expect("a string serializes");
            assert_eq!(
                frame.wire(),
                Frame::from_json(&json).wire(),
                "{n} characters"
            );
            assert_eq!(frame.as_str(), json);
        }
    }

    #[test]
    fn close_carries_code_and_reason() {
        let close = Frame::close(4008, "slow consumer");
        assert_eq!(&close.wire()[..4], &[0x88, 15, 0x0f, 0xa8]);
        assert_eq!(&close.payload()[2..], b"slow consumer");
        assert!(close.is_close());
        assert!(!Frame::ping().is_close() && !Frame::from_json("{}").is_close());
        assert!(
            close.tail(3).is_close(),
            "the unwritten end of a close is still a close"
        );
        assert_eq!(close.tail(3).wire(), &close.wire()[3..]);
    }

    #[test]
    fn raw_bytes_are_walked_frame_by_frame() {
        const PONG: &[u8] = &[0x8a, 2, b'h', b'i'];
        let lone = Frame::raw(Bytes::from_static(PONG));
        assert!(!lone.is_close());
        assert_eq!(lone.frames(), 1);
        let pong_then_close = [PONG, Frame::close(1000, "bye").wire()].concat();
        let both = Frame::raw(pong_then_close.into());
        assert!(both.is_close(), "a close behind a pong");
        assert_eq!(both.frames(), 2);
    }

    #[test]
    fn the_walk_follows_16_and_64_bit_lengths() {
        let medium = Frame::from_json("x".repeat(126));
        let large = Frame::from_json("x".repeat(65_536));
        let close = Frame::close(1000, "bye");
        let wire = [medium.wire(), large.wire(), close.wire()].concat();
        let all = Frame::raw(wire.into());
        assert!(all.is_close());
        assert_eq!(all.frames(), 3);
    }

    #[test]
    fn opaque_bytes_are_one_entry_and_never_a_close() {
        // 'H' is 0x48: walked as a frame header, its low bits would read as a close.
        let response = Frame::opaque(Bytes::from_static(
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ));
        assert!(!response.is_close());
        assert_eq!(response.frames(), 1);
    }
}
