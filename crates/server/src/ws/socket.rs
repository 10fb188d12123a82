//! An accepted WebSocket, owned as two halves: the reader's [`Incoming`] (tungstenite) and the
//! writer's [`Outgoing`] (pre-framed vectored writes).
//!
//! Why the send direction is written by hand: every server frame is the same bytes for every
//! recipient (server frames are unmasked; [`Frame`] carries its header), so a writer can hand
//! the kernel the shared buffers of a whole batch in one `writev` and frame nothing per
//! recipient. tungstenite's sink copies and frames each message into a per-connection buffer,
//! and sharing one socket between a reader and a writer needs a lock (`BiLock`) on every poll;
//! owned TCP halves need none. tungstenite keeps the handshake's other half, the read side,
//! with its limits and protocol checks.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::Bytes;
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::hub::Frame;

/// At most this many frames go into one `writev` (two slices each, well under `IOV_MAX`).
const FRAMES_PER_WRITE: usize = 32;

/// The client's frames, decoded by tungstenite over the receive half.
pub type Incoming = WebSocketStream<ReceiveHalf>;

/// An accepted WebSocket connection.
pub struct Socket {
    /// What the client sends (the reader's).
    pub incoming: Incoming,
    /// What the server sends (the writer's).
    pub outgoing: Outgoing,
}

impl Socket {
    /// Takes over an upgraded TCP connection. `buffered` is what the HTTP layer already read
    /// past the upgrade request (the client's first frames, if it did not wait for the 101).
    pub async fn new(stream: TcpStream, buffered: Bytes, config: WebSocketConfig) -> Self {
        let (read, write) = stream.into_split();
        // A copy (usually of nothing): `buffered` is a slice of hyper's read buffer, and even
        // an empty slice would keep all of that buffer alive for the connection's lifetime.
        let receive = ReceiveHalf { buffered: Bytes::copy_from_slice(&buffered), half: read };
        let incoming = WebSocketStream::from_raw_socket(receive, Role::Server, Some(config)).await;
        Self { incoming, outgoing: Outgoing(write) }
    }
}

/// The receive direction as tungstenite's stream. Reads come from the socket (after the bytes
/// buffered by the HTTP layer). tungstenite answers pings and close frames by writing to its
/// stream; those answers are the writer's job here (the reader queues a pong, the writer sends
/// the close reply), so what tungstenite writes is dropped.
pub struct ReceiveHalf {
    buffered: Bytes,
    half: OwnedReadHalf,
}

impl AsyncRead for ReceiveHalf {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.buffered.is_empty() {
            let n = self.buffered.len().min(buf.remaining());
            let first = self.buffered.split_to(n);
            buf.put_slice(&first);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.half).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReceiveHalf {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Frames waiting to be written, the first of them possibly in part.
#[derive(Debug, Default)]
pub struct Pending {
    /// The frames, in order.
    pub frames: VecDeque<Frame>,
    /// Bytes of the first frame already written.
    offset: usize,
}

impl Pending {
    /// Whether everything has been written.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether the first frame is partly written (so nothing may be sent before its rest).
    pub fn is_midway(&self) -> bool {
        self.offset > 0
    }

    /// Drops every frame not started yet (a peer that stopped reading gets no more).
    pub fn drop_unstarted(&mut self) {
        let keep = usize::from(self.is_midway());
        self.frames.truncate(keep);
    }

    /// Forgets the frames' buffer too, so an idle connection holds no allocation.
    fn release(&mut self) {
        self.frames = VecDeque::new();
        self.offset = 0;
    }

    /// Marks `n` more bytes as written, dropping finished frames.
    fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.frames.front() {
            let left = front.wire_len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.offset = 0;
            self.frames.pop_front();
        }
    }

    /// The unwritten bytes of the first [`FRAMES_PER_WRITE`] frames, as slices for `writev`.
    fn slices<'a>(&'a self, out: &mut [IoSlice<'a>; 2 * FRAMES_PER_WRITE]) -> usize {
        let mut count = 0;
        let mut skip = self.offset;
        for frame in self.frames.iter().take(FRAMES_PER_WRITE) {
            for part in [frame.wire_header(), frame.payload()] {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                out[count] = IoSlice::new(&part[skip..]);
                skip = 0;
                count += 1;
            }
        }
        count
    }
}

/// The send direction, written only by the connection's writer.
pub struct Outgoing(OwnedWriteHalf);

impl Outgoing {
    /// Writes as much of `pending` as the socket takes without waiting. `Ok(true)`: all of it
    /// is written (and the buffer released); `Ok(false)`: the socket is full, wait for
    /// [`Outgoing::writable`].
    pub fn write_now(&self, pending: &mut Pending) -> io::Result<bool> {
        while !pending.is_empty() {
            let mut slices = [IoSlice::new(&[]); 2 * FRAMES_PER_WRITE];
            let count = pending.slices(&mut slices);
            match self.0.try_write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => pending.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        pending.release();
        Ok(true)
    }

    /// Completes when the socket may take more bytes.
    pub async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    /// Writes all of `pending`, waiting for the socket as needed, for at most `limit`.
    /// Returns whether it was all written.
    pub async fn write_within(&self, pending: &mut Pending, limit: Duration) -> bool {
        let write = async {
            while !self.write_now(pending)? {
                self.writable().await?;
            }
            Ok::<_, io::Error>(())
        };
        matches!(tokio::time::timeout(limit, write).await, Ok(Ok(())))
    }

    /// Half-closes the connection (a FIN after everything written).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(texts: &[&'static str]) -> Pending {
        Pending { frames: texts.iter().map(|text| Frame::from_static(text)).collect(), offset: 0 }
    }

    fn unwritten(pending: &Pending) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 2 * FRAMES_PER_WRITE];
        let count = pending.slices(&mut slices);
        slices[..count].iter().flat_map(|slice| slice.iter().copied()).collect()
    }

    #[test]
    fn partial_writes_resume_at_the_right_byte() {
        let mut pending = pending(&["hello", "world"]);
        let all = unwritten(&pending);
        assert_eq!(all, b"\x81\x05hello\x81\x05world");
        for written in 1..all.len() {
            let mut p = self::pending(&["hello", "world"]);
            p.advance(written);
            assert_eq!(unwritten(&p), all[written..], "after {written} bytes");
            assert_eq!(p.is_midway(), written != 7, "after {written} bytes");
        }
        pending.advance(all.len());
        assert!(pending.is_empty());
    }

    #[test]
    fn a_peer_that_stopped_reading_gets_the_rest_of_the_started_frame_only() {
        let mut p = pending(&["one", "two", "three"]);
        p.advance(3);
        p.drop_unstarted();
        assert_eq!(unwritten(&p), b"ne");
        let mut q = pending(&["one", "two"]);
        q.drop_unstarted();
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_batch_larger_than_one_writev_arrives_whole_and_in_order() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (_read, write) = server.into_split();
        let outgoing = Outgoing(write);
        let texts: Vec<String> = (0..1000).map(|i| format!("frame {i} {}", "x".repeat(i % 300))).collect();
        let mut pending = Pending { frames: texts.iter().cloned().map(Frame::from).collect(), offset: 0 };
        let expected: Vec<u8> = pending.frames.iter().flat_map(|f| [f.wire_header(), f.payload()].concat()).collect();
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut got = vec![0; expected.len()];
            client.read_exact(&mut got).await.expect("read");
            got == expected
        });
        assert!(outgoing.write_within(&mut pending, Duration::from_secs(10)).await);
        assert!(reader.await.expect("join"), "bytes on the wire are the frames in order");
    }
}
