//! Printing results as a table and writing them as JSON.

use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// p50/p90/p99/p99.9/max of a microsecond histogram, in milliseconds.
pub fn percentiles_ms(histogram: &Histogram<u64>) -> Value {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99), "p999": ms(0.999),
        "max": histogram.max() as f64 / 1000.0, "count": histogram.len(),
    })
}

/// Prints `rows` as an aligned two-column table under `title`.
pub fn table(title: &str, rows: &[(&str, String)]) {
    println!("\n{title}");
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("  {key:<width$}  {value}");
    }
}

/// Writes `result` as pretty JSON to `path`.
pub fn write_json(path: &Path, result: &Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(result)?)?;
    Ok(())
}
