//! [`RedisBroker`]: publications and membership changes over Redis pub/sub, durable events
//! in order through the sequencer, gaps filled from the log.
//!
//! Its background work runs on ten tasks it tracks and stops on [`Broker::close`]:
//! the publisher (pipelines queued `PUBLISH`es), the receiver (Redis pushes → this node's
//! inbound and presence), the interest task (`SUBSCRIBE` / `UNSUBSCRIBE` as local interest
//! changes), the filler (log reads for rooms with a gap), the high-water check (finds rooms
//! whose last events never arrived), the keeper (probes Redis every
//! second, keeps the node's registration alive, catches every room up after an outage), the
//! membership recheck (aligns local subscriptions with the database after an outage) and
//! the two presence tasks (see [`ClusterPresence`]) and the viewers task ([`ViewerMirror`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod log;
mod members;

use super::connect::{Bus, PROBE, node_key, registration_ttl};
use super::presence::{self, ClusterPresence, NODES_KEY};
use super::sequencer::{Held, Offered, Sequencer};
use super::status::{BusReport, BusStatus};
use super::viewers::{self, ViewerMirror};
use super::wire::{self, MEMBERSHIP_CHANNEL, PRESENCE_CHANNEL, VIEWERS_CHANNEL};
use super::{Database, RETRY};
use crate::hub::{Broker, Inbound, NodeId, Publication};

/// Publications waiting for the publisher; beyond this they are dropped (and counted): the
/// other nodes fill the gap from the log.
const OUTBOX: usize = 65_536;
/// Publications sent to Redis in one pipeline at most.
const BATCH: usize = 512;
/// Events read from the log in one fill.
const FILL_LIMIT: i64 = 500;
/// How long a closing node tries to remove its registration and viewers from Redis.
const GOODBYE: Duration = Duration::from_secs(1);

/// One publication on its way to Redis.
struct Outgoing {
    channel: String,
    payload: Vec<u8>,
}

struct Inner {
    node: NodeId,
    inbound: Inbound,
    sequencer: Sequencer,
    outbox: mpsc::Sender<Outgoing>,
    /// Rooms for the filler. Unbounded, yet holds each room at most once: a room is sent
    /// only when its feed starts or turns to filling, and stays there until the filler is done.
    fills: mpsc::UnboundedSender<String>,
    /// Wanted interest changes not yet sent to Redis (room → listen?), coalesced.
    interest: Mutex<HashMap<String, bool>>,
    interest_changed: Notify,
    /// Asks the membership recheck to align every local user with the database.
    recheck: Notify,
    status: Arc<BusStatus>,
    presence: Arc<ClusterPresence>,
    viewers: Arc<ViewerMirror>,
    tasks: TaskTracker,
    closed: CancellationToken,
}

/// The cluster broker. Build it with [`RedisBroker::start`] on a connected [`Bus`].
pub struct RedisBroker {
    inner: Arc<Inner>,
}

impl RedisBroker {
    /// Starts the broker's tasks on `bus`, delivering into `inbound` and filling gaps from
    /// `database`; returns it with the node's presence and its mirror of the other nodes'
    /// viewers (`grace`: the presence grace, also waited before a restarted node takes its
    /// previous run's users offline).
    pub fn start(
        bus: Bus,
        node: NodeId,
        inbound: Inbound,
        database: Arc<dyn Database>,
        grace: Duration,
    ) -> (Arc<Self>, Arc<ClusterPresence>, Arc<ViewerMirror>) {
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let (fills, fill_rx) = mpsc::unbounded_channel();
        let presence = ClusterPresence::new(&bus.name, inbound.clone());
        let viewers = Arc::new(ViewerMirror::new(&bus.name));
        let inner = Arc::new(Inner {
            node,
            inbound,
            sequencer: Sequencer::default(),
            outbox,
            fills,
            interest: Mutex::default(),
            interest_changed: Notify::new(),
            recheck: Notify::new(),
            status: Arc::new(BusStatus::default()),
            presence: presence.clone(),
            viewers: viewers.clone(),
            tasks: TaskTracker::new(),
            closed: CancellationToken::new(),
        });
        let Bus { name, publisher, subscriber, pushes, lost_pushes, node_timeout } = bus;
        let track = |task| inner.track(task);
        track(Box::pin(publish(inner.clone(), publisher.clone(), outgoing)));
        track(Box::pin(receive(inner.clone(), pushes)));
        track(Box::pin(follow_interest(inner.clone(), subscriber.clone())));
        let presence_tasks = Arc::new(presence::Tasks {
            presence: presence.clone(),
            viewers: viewers.clone(),
            status: inner.status.clone(),
            database: database.clone(),
            grace,
            closed: inner.closed.clone(),
            retry: RETRY,
            probe: PROBE,
        });
        track(Box::pin(presence::sync(presence_tasks.clone(), publisher.clone())));
        track(Box::pin(presence::watch(presence_tasks, publisher.clone())));
        track(Box::pin(viewers::sync(viewers.clone(), publisher.clone(), inner.closed.clone())));
        track(Box::pin(log::check_high_water(inner.clone(), database.clone())));
        track(Box::pin(log::fill(inner.clone(), database.clone(), fill_rx)));
        track(Box::pin(members::recheck(inner.clone(), database)));
        // Not cut short: it says goodbye to Redis after the close (bounded by `GOODBYE`).
        inner.tasks.spawn(keep(inner.clone(), subscriber, publisher, name, node_timeout, lost_pushes));
        (Arc::new(Self { inner }), presence, viewers)
    }
}

impl Broker for RedisBroker {
    fn publish(&self, publication: Publication<'_>) {
        let inner = &self.inner;
        inner.offer_local(publication);
        let except = publication.except.map(|(except, _)| except);
        let payload = wire::encode_publication(inner.node, publication.seq, except, publication.frame.as_str());
        inner.send(wire::room_channel(publication.room), payload);
    }

    fn join_user(&self, user_id: &str, room: &str, from_seq: Option<i64>) {
        self.inner.join_local(user_id, room, true, from_seq);
        let message = wire::encode_membership(self.inner.node, true, from_seq, user_id, room);
        self.inner.send(MEMBERSHIP_CHANNEL.to_owned(), message);
    }

    fn leave_user(&self, user_id: &str, room: &str) {
        self.inner.join_local(user_id, room, false, None);
        self.inner
            .send(MEMBERSHIP_CHANNEL.to_owned(), wire::encode_membership(self.inner.node, false, None, user_id, room));
    }

    fn interest(&self, room: &str, interested: bool, after: Option<i64>) {
        if interested {
            self.inner.interest_from(room, after.map(|after| after + 1));
        } else {
            self.inner.stop_interest(room);
        }
    }

    fn wants_head(&self, room: &str) -> bool {
        !self.inner.sequencer.has(room)
    }

    fn report(&self) -> Option<BusReport> {
        Some(self.inner.status.report())
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.closed.cancel();
            self.inner.tasks.close();
            self.inner.tasks.wait().await;
        })
    }
}

impl Inner {
    /// Runs `task` on the broker's tracker until it ends or the broker closes, whichever is
    /// first: a task waiting on Redis (down, say) never holds up the close.
    fn track(&self, task: BoxFuture<'static, ()>) {
        let closed = self.closed.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = closed.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Delivers a publication to this node's connections: durable ones through the sequencer.
    fn offer_local(self: &Arc<Self>, publication: Publication<'_>) {
        let Some(seq) = publication.seq else {
            self.inbound.deliver(publication);
            return;
        };
        let held = Held { frame: publication.frame.clone(), except: publication.except.map(|(e, n)| (e.clone(), n)) };
        self.offer(publication.room, seq, held);
    }

    fn offer(self: &Arc<Self>, room: &str, seq: i64, held: Held) {
        let offered = self.sequencer.offer(room, seq, held, &mut |seq, held| self.deliver(room, seq, held));
        if offered == Offered::Held(true) {
            self.status.gap();
            self.to_filler(room);
        }
    }

    fn deliver(&self, room: &str, seq: i64, held: &Held) {
        let except = held.except.as_ref().map(|(except, node)| (except, *node));
        self.inbound.deliver(Publication { room, seq: Some(seq), frame: &held.frame, except });
    }

    fn to_filler(&self, room: &str) {
        // Only fails when the filler is gone, i.e. the broker is closing.
        let _ = self.fills.send(room.to_owned());
    }

    fn send(&self, channel: String, payload: Vec<u8>) {
        if self.outbox.try_send(Outgoing { channel, payload }).is_err() {
            self.status.dropped(1);
        }
    }

    /// Applies a membership change to this node's connections, following the interest it
    /// creates or ends. A room first joined with the event `from_seq` is delivered from it.
    fn join_local(&self, user_id: &str, room: &str, joins: bool, from_seq: Option<i64>) {
        if joins {
            if self.inbound.join_user(user_id, room) {
                self.interest_from(room, from_seq);
            }
        } else if self.inbound.leave_user(user_id, room) {
            self.stop_interest(room);
        }
    }

    /// Stops listening to `room` (its last local subscriber left).
    fn stop_interest(&self, room: &str) {
        self.sequencer.stop(room);
        self.want(room, false);
    }

    /// Starts listening to `room`: delivery starts at `from_seq` where known, else after the
    /// room's head (read by the filler).
    fn interest_from(&self, room: &str, from_seq: Option<i64>) {
        if self.sequencer.start(room, from_seq.map(|seq| seq - 1)) {
            self.to_filler(room);
        }
        self.want(room, true);
    }

    /// Queues a `SUBSCRIBE` (or `UNSUBSCRIBE`) of `room`'s channel for the interest task.
    fn want(&self, room: &str, interested: bool) {
        self.interest.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(room.to_owned(), interested);
        self.interest_changed.notify_one();
    }

    /// One push from Redis.
    fn on_push(self: &Arc<Self>, push: PushInfo) {
        match push.kind {
            PushKind::Message => {}
            PushKind::Disconnection => return self.status.lost(),
            _ => return,
        }
        let mut data = push.data.into_iter();
        let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) = (data.next(), data.next()) else {
            return self.status.malformed();
        };
        let Ok(channel) = std::str::from_utf8(&channel) else { return self.status.malformed() };
        if channel == PRESENCE_CHANNEL {
            if let Err(e) = self.presence.on_message(&payload) {
                self.malformed(&e);
            }
            return;
        }
        if channel == VIEWERS_CHANNEL {
            if let Err(e) = self.viewers.on_message(&payload) {
                self.malformed(&e);
            }
            return;
        }
        if channel == MEMBERSHIP_CHANNEL {
            match wire::decode_membership(&payload) {
                Ok(change) if change.node == self.node => {}
                Ok(change) => self.join_local(&change.user_id, &change.room, change.joins, change.from_seq),
                Err(e) => self.malformed(&e),
            }
            return;
        }
        let Some(room) = wire::channel_room(channel) else { return self.status.malformed() };
        match wire::decode_publication(&payload) {
            Ok(message) if message.node == self.node => {}
            Ok(message) => {
                let except = message.except.map(|except| (except, message.node));
                match message.seq {
                    Some(seq) => self.offer(room, seq, Held { frame: message.frame, except }),
                    None => {
                        let except = except.as_ref().map(|(except, node)| (except, *node));
                        self.inbound.deliver(Publication { room, seq: None, frame: &message.frame, except });
                    }
                }
            }
            Err(e) => self.malformed(&e),
        }
    }

    fn malformed(&self, error: &wire::Malformed) {
        tracing::warn!(%error, "dropped a bus message");
        self.status.malformed();
    }

    /// Interest changes Redis refused, wanted again unless a newer wish replaced them.
    fn put_back(&self, listens: Vec<String>, stop_channels: &[String]) {
        let mut wanted = self.interest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for room in listens {
            wanted.entry(room).or_insert(true);
        }
        for room in stop_channels.iter().filter_map(|channel| wire::channel_room(channel)) {
            wanted.entry(room.to_owned()).or_insert(false);
        }
    }

    /// Every room with a feed goes to the filler (after an outage or lost pushes).
    fn catch_up_all(&self) {
        for room in self.sequencer.rooms() {
            if self.sequencer.catch_up(&room) {
                self.to_filler(&room);
            }
        }
    }
}

/// The publisher: queued publications to Redis, pipelined; dropped while Redis is lost.
async fn publish(inner: Arc<Inner>, mut connection: ConnectionManager, mut outgoing: mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            () = inner.closed.cancelled() => return,
            received = outgoing.recv_many(&mut batch, BATCH) => received,
        };
        if received == 0 {
            return;
        }
        if !inner.status.is_connected() {
            // Held until Redis returns they would arrive stale (a typing frame seconds late):
            // dropped instead, and the durable ones are caught up from the log.
            batch.clear();
            inner.status.dropped(received as u64);
            continue;
        }
        let mut pipe = redis::pipe();
        for message in batch.drain(..) {
            pipe.publish(message.channel, message.payload).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut connection).await {
            tracing::debug!(error = %e, "publishing to Redis failed");
            inner.status.dropped(received as u64);
            inner.status.lost();
        }
    }
}

/// The receiver: Redis pushes into this node.
async fn receive(inner: Arc<Inner>, mut pushes: mpsc::Receiver<PushInfo>) {
    loop {
        let push = tokio::select! {
            () = inner.closed.cancelled() => return,
            push = pushes.recv() => push,
        };
        match push {
            Some(push) => inner.on_push(push),
            None => return,
        }
    }
}

/// The interest task: sends the wanted `SUBSCRIBE`s and `UNSUBSCRIBE`s, then has the rooms
/// it subscribed caught up (events published before the subscription took effect).
async fn follow_interest(inner: Arc<Inner>, mut connection: ConnectionManager) {
    loop {
        tokio::select! {
            () = inner.closed.cancelled() => return,
            () = inner.interest_changed.notified() => {}
        }
        let wanted = std::mem::take(&mut *inner.interest.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let (listen, stop): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|(_, listen)| *listen);
        let listen: Vec<String> = listen.into_iter().map(|(room, _)| room).collect();
        let stop: Vec<String> = stop.into_iter().map(|(room, _)| wire::room_channel(&room)).collect();
        let channels: Vec<String> = listen.iter().map(|room| wire::room_channel(room)).collect();
        let subscribed = channels.is_empty() || connection.subscribe(&channels).await.is_ok();
        let unsubscribed = stop.is_empty() || connection.unsubscribe(&stop).await.is_ok();
        if subscribed {
            for room in &listen {
                if inner.sequencer.catch_up(room) {
                    inner.to_filler(room);
                }
            }
        }
        if !subscribed || !unsubscribed {
            // Put back what failed unless a newer wish replaced it, and try again shortly.
            let failed_listens = if subscribed { Vec::new() } else { listen };
            let failed_stops = if unsubscribed { Vec::new() } else { stop };
            inner.put_back(failed_listens, &failed_stops);
            inner.status.lost();
            tokio::select! {
                () = inner.closed.cancelled() => return,
                () = tokio::time::sleep(RETRY) => inner.interest_changed.notify_one(),
            }
        }
    }
}

/// The keeper: probes Redis, keeps this node's registration alive, catches up after an
/// outage or lost pushes; unregisters the node when the broker closes.
async fn keep(
    inner: Arc<Inner>,
    mut subscriber: ConnectionManager,
    mut publisher: ConnectionManager,
    name: String,
    node_timeout: Duration,
    lost_pushes: Arc<std::sync::atomic::AtomicBool>,
) {
    let key = node_key(&name);
    let ours = format!("{:x}", inner.node.0);
    let timeout_ms = u64::try_from(registration_ttl(node_timeout).as_millis()).unwrap_or(u64::MAX).max(1);
    let mut probe = tokio::time::interval(PROBE);
    loop {
        tokio::select! {
            () = inner.closed.cancelled() => break,
            _ = probe.tick() => {}
        }
        let probed = async {
            let answered = redis::cmd("PING").query_async::<String>(&mut subscriber).await.is_ok();
            let refreshed = redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(&ours)
                .arg("PX")
                .arg(timeout_ms)
                .ignore()
                .sadd(NODES_KEY, &name)
                .ignore()
                .query_async::<()>(&mut publisher)
                .await
                .is_ok();
            answered && refreshed
        };
        let answered = tokio::select! {
            () = inner.closed.cancelled() => break,
            answered = probed => answered,
        };
        if answered {
            let reconnected = inner.status.answered();
            if reconnected || lost_pushes.swap(false, Ordering::Relaxed) {
                inner.catch_up_all();
                inner.recheck.notify_one();
                inner.presence.resync();
            }
        } else {
            inner.status.lost();
        }
    }
    if inner.status.is_connected() {
        let goodbye = async {
            inner.viewers.unpublish(&mut publisher).await;
            let _ = redis::cmd("DEL").arg(&key).query_async::<()>(&mut publisher).await;
        };
        // Without it the others find this node dead after --node-timeout, as after a crash.
        let _ = tokio::time::timeout(GOODBYE, goodbye).await;
    }
}
