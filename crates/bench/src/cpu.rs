//! CPU time a target's processes spend over a phase: each of its own processes (every Tandem
//! node, Redis) and, apart, PostgreSQL (its database's backends and background writers); and the whole
//! machine's busy time, so CPU used by anything else during a run (another build, say) shows.

use std::collections::HashMap;

use anyhow::Context;

use crate::server::cpu_seconds;
use crate::targets::Target;

/// CPU seconds used so far, read at one moment.
pub struct Sample {
    processes: Vec<(String, f64)>,
    /// By backend pid; `None` without PostgreSQL.
    postgres: Option<HashMap<u32, f64>>,
}

/// CPU seconds used between two samples.
#[derive(Debug, Clone, Default)]
pub struct Used {
    /// Per named process of the target (`node1`, …, `redis`; `server` for peers).
    pub processes: Vec<(String, f64)>,
    /// PostgreSQL: the backends connected to the target's database (also those that connected
    /// during the phase; not those that ended during it) and the server's background
    /// processes. `None` without PostgreSQL.
    pub postgres: Option<f64>,
}

impl Used {
    /// Sum over the target's own processes (PostgreSQL not included).
    pub fn total(&self) -> f64 {
        self.processes.iter().map(|(_, s)| s).sum()
    }
}

/// Busy CPU seconds of the whole machine since boot, over all cores: `/proc/stat`'s `cpu`
/// line (user, nice, system, irq, softirq and steal; USER_HZ = 100 ticks per second).
pub fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().filter(|l| l.starts_with("cpu ")).context("no cpu line in /proc/stat")?;
    let ticks: Vec<f64> = line.split_whitespace().skip(1).map(str::parse).collect::<Result<_, _>>()?;
    let tick = |i: usize| ticks.get(i).copied().context("short cpu line in /proc/stat");
    // user nice system idle iowait irq softirq steal
    Ok((tick(0)? + tick(1)? + tick(2)? + tick(5)? + tick(6)? + tick(7)?) / 100.0)
}

/// Reads the CPU time of `target`'s processes and of its PostgreSQL backends.
pub fn sample(target: &Target) -> anyhow::Result<Sample> {
    let processes = target
        .processes()
        .into_iter()
        .map(|(name, pid)| Ok((name, cpu_seconds(pid)?)))
        .collect::<anyhow::Result<_>>()?;
    let postgres = match target.database() {
        // A backend may end between the query and the read: it is left out.
        Some(database) => {
            Some(database.server_pids()?.into_iter().filter_map(|pid| Some((pid, cpu_seconds(pid).ok()?))).collect())
        }
        None => None,
    };
    Ok(Sample { processes, postgres })
}

impl Sample {
    /// What was used from `before` to this sample.
    pub fn since(&self, before: &Sample) -> Used {
        let processes = self
            .processes
            .iter()
            .map(|(name, now)| {
                let then = before.processes.iter().find(|(n, _)| n == name).map_or(0.0, |(_, s)| *s);
                (name.clone(), now - then)
            })
            .collect();
        let postgres = self.postgres.as_ref().map(|now| {
            let then = before.postgres.as_ref();
            now.iter().map(|(pid, s)| s - then.and_then(|t| t.get(pid)).copied().unwrap_or(0.0)).sum()
        });
        Used { processes, postgres }
    }
}
