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

/// Prints `rows` as a table with one column per entry of `headers`, under `title`.
pub fn columns(title: &str, headers: &[&str], rows: &[(&str, Vec<String>)]) {
    println!("\n{title}");
    let key_width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let width = rows.iter().flat_map(|(_, v)| v.iter().map(String::len)).chain(headers.iter().map(|h| h.len())).max();
    let width = width.unwrap_or(0).max(10);
    let header: String = headers.iter().map(|h| format!("  {h:>width$}")).collect();
    println!("  {:<key_width$}{header}", "");
    for (key, values) in rows {
        let cells: String = values.iter().map(|v| format!("  {v:>width$}")).collect();
        println!("  {key:<key_width$}{cells}");
    }
}
