//! One fan-out run's result, and how results are printed side by side and written as JSON.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::cpu;
use crate::report;
use crate::targets::TargetKind;

/// One target run: which server, and for `cluster` how many nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The server.
    pub kind: TargetKind,
    /// Nodes (1 except for `cluster`).
    pub nodes: usize,
}

impl Run {
    /// Column header and JSON name: the target's name, `cluster-N` for a cluster.
    pub fn label(&self) -> String {
        match self.kind {
            TargetKind::Cluster => format!("cluster-{}", self.nodes),
            kind => kind.name().to_owned(),
        }
    }
}

/// One run's result.
pub struct Outcome {
    /// What ran.
    pub run: Run,
    /// Handshakes per second while connecting every member.
    pub connect_rate: f64,
    /// RSS growth of the server's processes while connecting, per connection.
    pub rss_per_connection_kib: f64,
    /// Events published.
    pub published: u64,
    /// Events published per second over the publish phase (offered: `--rate`).
    pub publish_rate: f64,
    /// Deliveries due: published × members.
    pub expected: u64,
    /// Distinct deliveries received.
    pub delivered: u64,
    /// Deliveries received more than once.
    pub duplicated: u64,
    /// Ticks of another room.
    pub foreign: u64,
    /// Distinct deliveries over the time from the first publish to the last delivery.
    pub deliveries_per_s: f64,
    /// Server CPU time during the publish phase.
    pub cpu: cpu::Used,
    /// The load generator's own CPU time (this process: members and publisher) in that phase.
    pub generator_cpu_s: f64,
    /// The whole machine's busy CPU time in that phase (every core, interrupts included).
    pub machine_cpu_s: f64,
    /// End-to-end latency, µs.
    pub latency: Histogram<u64>,
    /// Deliveries per second of the run, second by second.
    pub throughput: Vec<(f64, f64)>,
}

impl Outcome {
    /// Deliveries due but not received.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    /// Whether nothing was lost, duplicated or misrouted.
    pub fn clean(&self) -> bool {
        self.lost() == 0 && self.duplicated == 0 && self.foreign == 0
    }

    /// The server's CPU time per delivery, in µs (over every node and Redis in a cluster).
    pub fn server_us_per_delivery(&self) -> f64 {
        self.per_delivery_us(self.cpu.total())
    }

    fn per_delivery_us(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.delivered.max(1) as f64
    }

    /// Machine CPU time not counted to the server, PostgreSQL or the generator: other
    /// processes (a build on the same cores) and interrupts taken outside them. Machine and
    /// process times are counted differently (ticks against exact run time), so a few tenths
    /// of a second either way is noise.
    pub fn other_cpu_s(&self) -> f64 {
        self.machine_cpu_s - self.cpu.total() - self.cpu.postgres.unwrap_or(0.0) - self.generator_cpu_s
    }

    /// The result as a JSON object.
    pub fn json(&self, offered_rate: u64) -> Value {
        let cpu: serde_json::Map<String, Value> =
            self.cpu.processes.iter().map(|(name, s)| (name.clone(), json!(s))).collect();
        json!({
            "target": self.run.kind.name(), "label": self.run.label(), "nodes": self.run.nodes,
            "connect_rate_per_s": self.connect_rate, "rss_per_connection_kib": self.rss_per_connection_kib,
            "published": self.published, "publish_rate_per_s": self.publish_rate, "offered_rate_per_s": offered_rate,
            "expected": self.expected, "delivered": self.delivered, "lost": self.lost(),
            "duplicated": self.duplicated, "foreign": self.foreign, "deliveries_per_s": self.deliveries_per_s,
            "server_cpu_s": self.cpu.total(), "server_cpu_us_per_delivery": self.per_delivery_us(self.cpu.total()),
            "cpu_s": cpu, "postgres_cpu_s": self.cpu.postgres, "generator_cpu_s": self.generator_cpu_s,
            "machine_cpu_s": self.machine_cpu_s, "other_cpu_s": self.other_cpu_s(),
            "latency_ms": report::percentiles_ms(&self.latency), "throughput_per_s": self.throughput,
        })
    }
}

/// Tandem (the first single-node SQLite run) over each peer: deliveries/s and p99.
pub fn ratios(outcomes: &[Outcome]) -> Value {
    let Some(tandem) = outcomes.iter().find(|o| o.run.kind == TargetKind::Tandem) else { return json!({}) };
    let p99 = |o: &Outcome| o.latency.value_at_quantile(0.99) as f64;
    let pairs = outcomes.iter().filter(|o| !o.run.kind.is_tandem()).map(|peer| {
        (
            peer.run.label(),
            json!({
                "deliveries_per_s": tandem.deliveries_per_s / peer.deliveries_per_s.max(f64::MIN_POSITIVE),
                "p99": p99(tandem) / p99(peer).max(1.0),
            }),
        )
    });
    Value::Object(pairs.collect())
}

/// Prints one column per run under `title`, then Tandem's ratios to the peers.
pub fn print(title: &str, offered_rate: u64, outcomes: &[Outcome]) {
    let column = |f: &dyn Fn(&Outcome) -> String| outcomes.iter().map(f).collect::<Vec<_>>();
    let ms = |o: &Outcome, q: f64| format!("{:.2}", o.latency.value_at_quantile(q) as f64 / 1000.0);
    let mut rows = vec![
        ("connect rate /s".to_owned(), column(&|o| format!("{:.0}", o.connect_rate))),
        ("RSS per connection KiB".to_owned(), column(&|o| format!("{:.1}", o.rss_per_connection_kib))),
        ("events published".to_owned(), column(&|o| o.published.to_string())),
        (format!("published /s (offered {offered_rate})"), column(&|o| format!("{:.0}", o.publish_rate))),
        ("deliveries /s".to_owned(), column(&|o| format!("{:.0}", o.deliveries_per_s))),
        ("lost / duplicated".to_owned(), column(&|o| format!("{} / {}", o.lost(), o.duplicated))),
        ("misrouted".to_owned(), column(&|o| o.foreign.to_string())),
        ("latency p50 ms".to_owned(), column(&|o| ms(o, 0.50))),
        ("latency p90 ms".to_owned(), column(&|o| ms(o, 0.90))),
        ("latency p99 ms".to_owned(), column(&|o| ms(o, 0.99))),
        ("latency p99.9 ms".to_owned(), column(&|o| ms(o, 0.999))),
        ("latency max ms".to_owned(), column(&|o| format!("{:.2}", o.latency.max() as f64 / 1000.0))),
        ("server CPU s".to_owned(), column(&|o| format!("{:.2}", o.cpu.total()))),
        ("server CPU µs / delivery".to_owned(), column(&|o| format!("{:.2}", o.per_delivery_us(o.cpu.total())))),
    ];
    rows.extend(cpu_rows(outcomes));
    let generator = column(&|o| format!("{:.2}", o.per_delivery_us(o.generator_cpu_s)));
    rows.push(("generator CPU µs / delivery".to_owned(), generator));
    rows.push(("machine busy CPU s".to_owned(), column(&|o| format!("{:.2}", o.machine_cpu_s))));
    rows.push(("  not counted above s".to_owned(), column(&|o| format!("{:.2}", o.other_cpu_s()))));
    let rows: Vec<(&str, Vec<String>)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let headers: Vec<String> = outcomes.iter().map(|o| o.run.label()).collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    report::columns(title, &headers, &rows);
    let Some(tandem) = outcomes.iter().find(|o| o.run.kind == TargetKind::Tandem) else { return };
    for peer in outcomes.iter().filter(|o| !o.run.kind.is_tandem()) {
        let throughput = tandem.deliveries_per_s / peer.deliveries_per_s.max(f64::MIN_POSITIVE);
        let p99 =
            tandem.latency.value_at_quantile(0.99) as f64 / (peer.latency.value_at_quantile(0.99) as f64).max(1.0);
        println!("  tandem / {}: deliveries/s × {throughput:.2}, p99 × {p99:.2}", peer.run.label());
    }
}

/// Per-process CPU per delivery (when a run has several processes) and PostgreSQL's (when a
/// run has it), `-` where a run has no such process.
fn cpu_rows(outcomes: &[Outcome]) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<&str> = Vec::new();
    for outcome in outcomes.iter().filter(|o| o.cpu.processes.len() > 1) {
        for (name, _) in &outcome.cpu.processes {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    // Nodes in order, Redis last.
    names.sort_by_key(|&name| (name == "redis", name));
    let mut rows: Vec<(String, Vec<String>)> = names
        .iter()
        .map(|&name| {
            let cells = outcomes.iter().map(|o| {
                let used = o.cpu.processes.iter().find(|(n, _)| n == name);
                used.map_or("-".to_owned(), |(_, s)| format!("{:.2}", o.per_delivery_us(*s)))
            });
            (format!("  {name} µs / delivery"), cells.collect())
        })
        .collect();
    if outcomes.iter().any(|o| o.cpu.postgres.is_some()) {
        let cell = |o: &Outcome, f: &dyn Fn(f64) -> f64| {
            o.cpu.postgres.map_or("-".to_owned(), |pg| format!("{:.2}", o.per_delivery_us(f(pg))))
        };
        rows.push(("postgres CPU µs / delivery".to_owned(), outcomes.iter().map(|o| cell(o, &|pg| pg)).collect()));
        let total = outcomes.iter().map(|o| cell(o, &|pg| pg + o.cpu.total())).collect();
        rows.push(("server + postgres µs / delivery".to_owned(), total));
    }
    rows
}
