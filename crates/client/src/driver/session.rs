//! One live connection: rejoin viewed rooms, sync, deliver events, serve commands, and the
//! watchdog that replaces a connection on which nothing arrives any more.

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tandem_protocol::ws::close_code::UNAUTHORIZED;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use super::connect::{Established, Socket};
use super::{Driver, End, Pending, Reply};
use crate::client::{ClientError, Command};
use crate::rooms::is_viewed_kind;
use crate::{ConnectionState, ReconnectInfo};

type Sink = SplitSink<Socket, Message>;

/// The `ref` of the ping sent after connecting; its `ack` marks the end of the replay (frames
/// are answered in order, and connect-time replays come before the first frame is read).
const SYNC_REF: &str = "tandem-sync";

/// Sends `frame`, giving up at `deadline` (a write that blocks that long is on a dead
/// connection). False if the connection is unusable.
async fn send(sink: &mut Sink, frame: &Value, deadline: Instant) -> bool {
    matches!(timeout_at(deadline, sink.send(Message::text(frame.to_string()))).await, Ok(Ok(())))
}

impl Driver {
    pub(super) async fn session(&mut self, established: Established, reconnecting: bool) -> End {
        let Established { socket, heartbeat_interval, resumed_with, .. } = established;
        // The server sends something at least every interval; allow the timeout on top.
        let silence = heartbeat_interval + self.config.heartbeat_timeout;
        let mut deadline = Instant::now() + silence;
        let (mut sink, mut stream) = socket.split();
        let mut resumed = !resumed_with.is_empty();
        let mut resync_required = Vec::new();
        let mut rejoined_without_cursor = Vec::new();
        // Viewed rooms the connect-time cursors did not cover are subscribed (after their
        // cursor, if any) before the sync ping, so that its ack also marks the end of their
        // replays.
        for (room, after) in self.rooms.to_join(&resumed_with) {
            resumed |= after.is_some();
            let reference = self.internal_ref();
            let frame = self.join_frame(&room, after, &reference);
            if after.is_none() {
                rejoined_without_cursor.push(room.clone());
            }
            self.pending.insert(reference, Pending { reply: Reply::Nobody, joins: Some(room) });
            if !send(&mut sink, &frame, deadline).await {
                return End::Dropped;
            }
        }
        if !send(&mut sink, &json!({"type": "ping", "ref": SYNC_REF}), deadline).await {
            return End::Dropped;
        }
        let mut synced = false;
        loop {
            tokio::select! {
                // Frames first: after the task was held up (a slow event stream or handler),
                // frames that arrived meanwhile prove the connection alive before the
                // watchdog is looked at.
                biased;
                message = stream.next() => {
                    deadline = Instant::now() + silence;
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                            if frame["type"] == "ping" {
                                if !send(&mut sink, &json!({"type": "pong"}), deadline).await {
                                    return End::Dropped;
                                }
                                continue;
                            }
                            if !synced && frame["type"] == "ack" && frame["ref"] == SYNC_REF {
                                synced = true;
                                if reconnecting {
                                    let info = ReconnectInfo {
                                        resumed,
                                        resync_required: std::mem::take(&mut resync_required),
                                        rejoined_without_cursor: std::mem::take(&mut rejoined_without_cursor),
                                    };
                                    self.set_state(ConnectionState::Reconnected {
                                        resumed,
                                        resync_required: info.resync_required.clone(),
                                    });
                                    self.reconnected(&info);
                                }
                                self.set_state(ConnectionState::Live);
                                continue;
                            }
                            if !synced && frame["type"] == "pong" {
                                continue; // the answer to the sync ping
                            }
                            self.on_frame(frame, &mut resync_required).await;
                        }
                        Some(Ok(Message::Close(close))) => {
                            return match close.map(|c| u16::from(c.code)) {
                                Some(UNAUTHORIZED) => End::Stop("the server refused the credentials (4401)".into()),
                                _ => End::Dropped,
                            };
                        }
                        Some(Ok(_)) => {} // WebSocket pings and pongs: signs of life
                        Some(Err(_)) | None => return End::Dropped,
                    }
                }
                command = self.commands.recv() => {
                    if let Some(end) = self.on_live_command(command, &mut sink, deadline).await {
                        return end;
                    }
                }
                () = sleep_until(deadline) => {
                    tracing::info!(?silence, "nothing from the server for heartbeat interval + timeout; reconnecting");
                    return End::Dropped;
                }
            }
        }
    }

    /// Serves a command on a live connection; `Some` ends the session.
    async fn on_live_command(&mut self, command: Option<Command>, sink: &mut Sink, deadline: Instant) -> Option<End> {
        match command {
            Some(Command::Send { frame, reply }) => {
                let reference = frame["ref"].as_str().unwrap_or_default().to_owned();
                let joins = self.note_app_frame(&frame, &reference);
                if !send(sink, &frame, deadline).await {
                    let _ = reply.send(Err(ClientError::NotConnected));
                    return Some(End::Dropped);
                }
                self.pending.insert(reference, Pending { reply: Reply::Frame(reply), joins });
            }
            Some(Command::Join { room, track, reply }) => {
                match track {
                    Some(seq) => self.rooms.track(&room, seq),
                    None => self.rooms.view(&room),
                }
                let reference = self.internal_ref();
                let frame = self.join_frame(&room, self.rooms.cursor(&room), &reference);
                // Pending first: if the send fails, the room stays recorded for the next connect.
                self.pending.insert(reference, Pending { reply: Reply::Done(reply), joins: Some(room) });
                if !send(sink, &frame, deadline).await {
                    return Some(End::Dropped);
                }
            }
            Some(Command::Leave { room, reply }) => {
                self.rooms.forget(&room);
                if !is_viewed_kind(&room) {
                    let _ = reply.send(Ok(())); // membership rooms cannot be left
                    return None;
                }
                let reference = self.internal_ref();
                let frame = json!({"type": "unsubscribe", "room": room, "ref": reference});
                self.pending.insert(reference, Pending { reply: Reply::Done(reply), joins: None });
                if !send(sink, &frame, deadline).await {
                    return Some(End::Dropped);
                }
            }
            Some(Command::Events(events)) => self.events = Some(events),
            Some(Command::AutoReconnect(enabled)) => self.auto_reconnect = enabled,
            Some(Command::Disconnect) => {
                let _ = timeout_at(deadline, sink.close()).await;
                return Some(End::Disconnected);
            }
            Some(Command::Close) => {
                let _ = timeout_at(deadline, sink.close()).await;
                return Some(End::Stop("closed by the application".into()));
            }
            None => {
                let _ = timeout_at(deadline, sink.close()).await;
                return Some(End::Stop("the client was dropped".into()));
            }
        }
        None
    }

    /// The `subscribe` frame joining `room`, after `after` when given (then the room replays
    /// until the answer).
    fn join_frame(&mut self, room: &str, after: Option<i64>, reference: &str) -> Value {
        match after {
            Some(after) => {
                self.rooms.begin_replay(room, reference);
                json!({"type": "subscribe", "room": room, "after": after, "ref": reference})
            }
            None => json!({"type": "subscribe", "room": room, "ref": reference}),
        }
    }

    /// Records what an application `subscribe`/`unsubscribe` frame means for the rooms;
    /// returns the room a `subscribe` joins.
    fn note_app_frame(&mut self, frame: &Value, reference: &str) -> Option<String> {
        let room = frame["room"].as_str()?;
        match frame["type"].as_str() {
            Some("subscribe") => {
                match frame["after"].as_i64() {
                    Some(after) => {
                        self.rooms.track(room, after);
                        self.rooms.begin_replay(room, reference);
                    }
                    None => self.rooms.view(room),
                }
                Some(room.to_owned())
            }
            Some("unsubscribe") => {
                self.rooms.forget(room);
                None
            }
            _ => None,
        }
    }
}
