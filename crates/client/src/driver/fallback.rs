//! Long polling while WebSocket attempts keep failing: the same delivery path as the socket
//! (cursors, dedupe, handlers, stream).

use std::time::Duration;

use tandem_protocol::room::Room;
use tokio::time::{Instant, sleep_until};

use super::Driver;
use crate::polling::{self, Page, PollError};

impl Driver {
    /// Long-polls the user's rooms until `retry_at`. `Err` means stop.
    pub(super) async fn poll_until(&mut self, retry_at: Instant, token: &str) -> Result<(), String> {
        while Instant::now() < retry_at {
            if self.user_id.is_none() {
                let me = polling::me(&self.http, self.config.http_base(), token);
                match tokio::time::timeout_at(retry_at, me).await {
                    Err(_) => return Ok(()), // time for the next WebSocket attempt
                    Ok(Ok(id)) => self.user_id = Some(id),
                    Ok(Err(PollError::Unauthorized)) => return Err("the server refused the credentials (401)".into()),
                    Ok(Err(PollError::Other(_))) => return self.wait_offline(retry_at).await,
                }
            }
            let mut rooms: Vec<String> = self.rooms.poll_rooms().cloned().collect();
            rooms.extend(self.config.poll_rooms.iter().cloned());
            rooms.extend(self.user_id.iter().map(|id| Room::user(id).to_string()));
            rooms.sort();
            rooms.dedup();
            let wait = self.config.poll_wait.min(retry_at.saturating_duration_since(Instant::now()));
            let (http, base, known) = (&self.http, self.config.http_base(), &self.rooms);
            let polls = futures_util::future::join_all(rooms.iter().map(|room| {
                // A room without a cursor is first asked where it stands, without waiting.
                let (after, wait) = known.cursor(room).map_or((0, Duration::ZERO), |seq| (seq, wait));
                polling::poll(http, base, token, room, after, wait)
            }));
            let pages = tokio::select! {
                pages = polls => pages,
                () = sleep_until(retry_at) => return Ok(()),
                command = self.commands.recv() => {
                    self.on_offline_command(command)?;
                    continue;
                }
            };
            let mut progressed = false;
            for page in pages {
                match page {
                    Ok(page) => progressed |= self.on_page(page).await,
                    Err(PollError::Unauthorized) => return Err("the server refused the credentials (401)".into()),
                    Err(PollError::Other(error)) => tracing::debug!(%error, "poll failed"),
                }
            }
            if !progressed {
                // Every poll failed or returned at once with nothing: do not spin.
                tokio::select! {
                    () = sleep_until((Instant::now() + Duration::from_millis(500)).min(retry_at)) => {}
                    command = self.commands.recv() => self.on_offline_command(command)?,
                }
            }
        }
        Ok(())
    }

    /// Delivers a polled page. Returns whether the poll made progress (events, or a cursor
    /// learnt), i.e. whether polling again at once is useful.
    async fn on_page(&mut self, page: Page) -> bool {
        let Some(cursor) = self.rooms.cursor(&page.room) else {
            self.rooms.set(&page.room, page.last_seq);
            return true;
        };
        if page.resync_required {
            let frame = serde_json::json!({"type": "resync_required", "room": page.room, "last_seq": page.last_seq});
            self.on_frame(frame, &mut Vec::new()).await;
            return true;
        }
        let progressed = !page.events.is_empty() || page.last_seq > cursor;
        for event in page.events {
            self.on_frame(event, &mut Vec::new()).await;
        }
        progressed
    }
}
