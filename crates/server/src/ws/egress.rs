//! The runtime WebSocket connections run on, apart from the one that serves HTTP.
//!
//! Why two runtimes: one event to a room of 2,000 members makes 2,000 writer tasks ready at
//! once. On a single runtime every task woken meanwhile (a publish request coming back from the
//! store, a new connection's handshake) waits behind all of them, once per await, so under
//! fan-out load the publishes themselves starve: at 2 × 2,000 members and 250 events/s offered,
//! only ~114 events/s were published, each member got one frame per wake-up and every delivery
//! cost its own `writev` (4.8 µs of server CPU each). With connections on their own runtime the
//! operating system shares the cores between the two, ingress keeps its share, all 249 events/s
//! were published and writers found several frames per wake-up: 493k deliveries/s at 2.2 µs
//! (docs/BENCHMARKS.md, "No collapse under overload").

use std::io;

use tokio::runtime::{Builder, Handle, Runtime};

/// Owns the connections' runtime; dropping it stops the runtime without blocking (every
/// connection has ended by then when the server stopped gracefully).
#[derive(Debug)]
pub struct Egress(Option<Runtime>);

impl Egress {
    /// Starts a multi-threaded runtime with one worker per core, threads named `tandem-ws`.
    pub fn start() -> io::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let runtime =
            Builder::new_multi_thread().worker_threads(workers).thread_name("tandem-ws").enable_all().build()?;
        Ok(Self(Some(runtime)))
    }

    /// Where connection tasks are spawned.
    pub fn handle(&self) -> Handle {
        match &self.0 {
            Some(runtime) => runtime.handle().clone(),
            None => unreachable!("the runtime is only taken on drop"),
        }
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            // Dropping a runtime blocks, which panics inside async code (the server's own run).
            runtime.shutdown_background();
        }
    }
}
