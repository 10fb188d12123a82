//! A server frame as it goes on the wire: the JSON text and its WebSocket header, built once
//! per event and shared by every recipient.
//!
//! Server-to-client WebSocket frames are never masked (RFC 6455 §5.1), so the bytes on the
//! wire are the same for every recipient: a 2, 4 or 10-byte header and the payload. A
//! [`Frame`] carries both, so a writer sends `header, payload` as two slices of one vectored
//! write and nothing is copied or framed per recipient.

use tungstenite::{Bytes, Utf8Bytes};

/// The longest WebSocket header a server frame needs: 2 bytes plus a 64-bit length.
const MAX_HEADER: usize = 10;

/// What a frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Payload {
    /// JSON text (opcode 0x1).
    Text(Utf8Bytes),
    /// A control frame's application data (ping, pong, close): any bytes, at most 125.
    Control(Bytes),
}

/// An encoded server frame shared by every recipient: cloning is a reference-count increment
/// and a copy of the small header, never a copy of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    payload: Payload,
    header: [u8; MAX_HEADER],
    header_len: u8,
}

/// WebSocket opcodes of the frames a server sends.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
enum Opcode {
    Text = 0x1,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl Frame {
    /// A text frame with static text (no allocation).
    pub fn from_static(text: &'static str) -> Self {
        Self::text(Utf8Bytes::from_static(text))
    }

    /// A text frame carrying `text`.
    pub fn text(text: Utf8Bytes) -> Self {
        let (header, header_len) = header(Opcode::Text, text.len());
        Self { payload: Payload::Text(text), header, header_len }
    }

    /// A WebSocket ping with no data.
    pub fn ping() -> Self {
        Self::control(Opcode::Ping, Bytes::new())
    }

    /// The pong answering a client's ping with `data` (echoed, as RFC 6455 §5.5.3 requires;
    /// tungstenite has already refused a ping with more than 125 bytes of data).
    pub fn pong(data: Bytes) -> Self {
        Self::control(Opcode::Pong, data)
    }

    /// A close frame with `code` and `reason` (at most 123 bytes of it are sent).
    pub fn close(code: u16, reason: &str) -> Self {
        let mut reason_end = reason.len().min(123);
        while !reason.is_char_boundary(reason_end) {
            reason_end -= 1;
        }
        let mut data = Vec::with_capacity(2 + reason_end);
        data.extend_from_slice(&code.to_be_bytes());
        data.extend_from_slice(&reason.as_bytes()[..reason_end]);
        Self::control(Opcode::Close, Bytes::from(data))
    }

    fn control(opcode: Opcode, data: Bytes) -> Self {
        let (header, header_len) = header(opcode, data.len());
        Self { payload: Payload::Control(data), header, header_len }
    }

    /// The JSON text of a text frame; empty for a control frame.
    pub fn as_str(&self) -> &str {
        match &self.payload {
            Payload::Text(text) => text.as_str(),
            Payload::Control(_) => "",
        }
    }

    /// The WebSocket header to send before [`Frame::payload`].
    pub fn wire_header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }

    /// The payload bytes as sent (unmasked).
    pub fn payload(&self) -> &[u8] {
        match &self.payload {
            Payload::Text(text) => text.as_bytes(),
            Payload::Control(data) => data,
        }
    }

    /// Header and payload length together: the frame's size on the wire.
    pub fn wire_len(&self) -> usize {
        usize::from(self.header_len) + self.payload().len()
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self::text(Utf8Bytes::from(text))
    }
}

/// A final (FIN) frame's header for `opcode` and a payload of `len` bytes, unmasked.
fn header(opcode: Opcode, len: usize) -> ([u8; MAX_HEADER], u8) {
    let mut header = [0u8; MAX_HEADER];
    header[0] = 0x80 | opcode as u8;
    let header_len = match len {
        0..=125 => {
            header[1] = len as u8;
            2
        }
        126..=0xFFFF => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    (header, header_len)
}

#[cfg(test)]
mod tests {
    use tungstenite::protocol::CloseFrame;
    use tungstenite::protocol::frame::Frame as Reference;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    use super::*;

    /// The bytes tungstenite itself puts on the wire for `frame` (server side: unmasked).
    fn reference(frame: Reference) -> Vec<u8> {
        let mut out = Vec::new();
        frame.format(&mut out).expect("format");
        out
    }

    fn wire(frame: &Frame) -> Vec<u8> {
        [frame.wire_header(), frame.payload()].concat()
    }

    #[test]
    fn text_frames_match_tungstenite_at_every_length_class() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 100_000] {
            let text = "x".repeat(len);
            let frame = Frame::from(text.clone());
            let expected = reference(Reference::message(text.clone(), OpCode::Data(Data::Text), true));
            assert_eq!(wire(&frame), expected, "length {len}");
            assert_eq!(frame.wire_len(), wire(&frame).len());
            assert_eq!(frame.as_str(), text);
        }
    }

    #[test]
    fn control_frames_match_tungstenite() {
        assert_eq!(wire(&Frame::ping()), reference(Reference::ping(Bytes::new())));
        let data = Bytes::from_static(b"\xff\x00");
        assert_eq!(wire(&Frame::pong(data.clone())), reference(Reference::pong(data)));
        let close = Frame::close(1008, "rate limit exceeded");
        let expected = CloseFrame { code: 1008.into(), reason: "rate limit exceeded".into() };
        assert_eq!(wire(&close), reference(Reference::close(Some(expected))));
        assert_eq!(close.as_str(), "", "control frames have no text");
    }

    #[test]
    fn a_long_close_reason_is_cut_at_a_character_boundary() {
        let close = Frame::close(1000, &"é".repeat(100));
        assert!(close.payload().len() <= 125);
        assert!(std::str::from_utf8(&close.payload()[2..]).is_ok());
    }
}
