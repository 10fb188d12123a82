//! A property of cluster mode: whatever the interleaving of connects, disconnects and
//! publishes across three nodes, each user ends up with every `(room, seq)` exactly once and
//! in order — live from whichever node their socket is on, the rest by resume.
//!
//! Three in-process nodes share one PostgreSQL schema and a private `redis-server`; the
//! events are written on random nodes the way domains write them (commit, then publish).

mod common;

use std::collections::HashMap;

use common::cluster::{node, services};
use common::{TestServer, WsClient, id};
use proptest::prelude::*;
use serde_json::{Value, json};
use tandem_protocol::room::Room;
use tandem_server::domain::events::append_and_publish;
use tandem_server::store::Envelope;

const ROOMS: [&str; 2] = ["thread:p1", "thread:p2"];
const NODES: usize = 3;
const USERS: usize = 2;

#[derive(Debug, Clone)]
enum Step {
    /// `count` events into `ROOMS[room]`, written on node `node`.
    Publish { room: usize, node: usize, count: u8 },
    /// User `user` drops their socket (if connected).
    Disconnect { user: usize },
    /// User `user` connects to node `node` with a cursor per room (if not connected).
    Connect { user: usize, node: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..ROOMS.len(), 0..NODES, 1u8..5).prop_map(|(room, node, count)| Step::Publish { room, node, count }),
        1 => (0..USERS).prop_map(|user| Step::Disconnect { user }),
        2 => (0..USERS, 0..NODES).prop_map(|(user, node)| Step::Connect { user, node }),
    ]
}

async fn publish(server: &TestServer, room: &str) -> i64 {
    let owned = room.to_owned();
    append_and_publish(&server.store, &server.hub, &Room::parse(room).expect("room"), move |e: &Envelope<'_>| {
        json!({"type": "note", "room": owned, "seq": e.seq, "timestamp": e.timestamp}).to_string()
    })
    .await
    .expect("publish")
    .seq
}

/// One user: their socket, if connected, and the seqs they have seen per room.
struct Member {
    token: String,
    socket: Option<WsClient>,
    seen: HashMap<&'static str, Vec<i64>>,
}

impl Member {
    fn record(&mut self, frame: &Value) {
        if frame["type"] != "note" {
            return;
        }
        let room = ROOMS.iter().find(|room| frame["room"] == **room).expect("a known room");
        self.seen.entry(room).or_default().push(frame["seq"].as_i64().expect("seq"));
    }

    fn cursors(&self) -> Value {
        let cursors: serde_json::Map<String, Value> = ROOMS
            .iter()
            .map(|room| (room.to_string(), json!(self.seen.get(room).and_then(|s| s.last()).copied().unwrap_or(0))))
            .collect();
        Value::Object(cursors)
    }

    async fn connect(&mut self, server: &TestServer) {
        let encoded: String = self.cursors().to_string().bytes().map(|b| format!("%{b:02X}")).collect();
        let url = server.ws_url(&format!("?token={}&resume={encoded}", self.token));
        let mut socket = WsClient::open(&url).await.expect("upgrade");
        socket.expect("connected").await;
        self.socket = Some(socket);
    }

    /// Counts what arrived before a ping's pong, then drops the socket.
    async fn disconnect(&mut self) {
        let Some(mut socket) = self.socket.take() else { return };
        socket.send(json!({"type": "ping"})).await;
        loop {
            let frame = socket.next().await;
            if frame["type"] == "pong" {
                break;
            }
            self.record(&frame);
        }
        socket.socket.close(None).await.expect("close");
    }

    /// Reads until every room's last seen seq is its `published` count.
    async fn read_through(&mut self, published: &HashMap<&'static str, i64>) {
        let done = |member: &Self| {
            ROOMS.iter().all(|room| {
                let last = member.seen.get(room).and_then(|s| s.last()).copied().unwrap_or(0);
                last >= published.get(room).copied().unwrap_or(0)
            })
        };
        while !done(self) {
            let frame = self.socket.as_mut().expect("connected").next().await;
            self.record(&frame);
        }
    }
}

async fn run(steps: Vec<Step>) {
    let Some((db, redis)) = services().await else { return };
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        nodes.push(node(&db, &redis, name).await);
    }
    let mut members = Vec::new();
    for n in 0..USERS {
        let (user, token) = nodes[0].sign_up(&format!("prop{n}")).await;
        for room in ROOMS {
            nodes[0].add_members(room, &[&id(&user)]).await;
        }
        members.push(Member { token, socket: None, seen: HashMap::new() });
    }
    let mut published: HashMap<&'static str, i64> = HashMap::new();
    for step in steps {
        match step {
            Step::Publish { room, node, count } => {
                for _ in 0..count {
                    let seq = publish(&nodes[node], ROOMS[room]).await;
                    published.insert(ROOMS[room], seq);
                }
            }
            Step::Disconnect { user } => members[user].disconnect().await,
            Step::Connect { user, node } => {
                if members[user].socket.is_none() {
                    members[user].connect(&nodes[node]).await;
                }
            }
        }
    }
    for (n, member) in members.iter_mut().enumerate() {
        if member.socket.is_none() {
            member.connect(&nodes[n % NODES]).await;
        }
        member.read_through(&published).await;
        for room in ROOMS {
            let expected: Vec<i64> = (1..=published.get(room).copied().unwrap_or(0)).collect();
            let seen = member.seen.get(room).cloned().unwrap_or_default();
            assert_eq!(seen, expected, "user {n}, {room}: every seq once, in order");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn every_room_seq_exactly_once_across_nodes(steps in proptest::collection::vec(step(), 1..20)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(run(steps));
    }
}
