//! `overload-chart`: offered vs published vs delivered events/s from `fanout --json` results,
//! in one chart, to show whether a server degrades gracefully: published and delivered follow
//! the offered rate up to the server's limit and stay flat beyond it, rather than falling.
//!
//! Delivered is shown as deliveries/s ÷ members per room (events/s every member received), so
//! all three curves share one axis. One curve per target and run (the n-th file with the same
//! target and offered rate is run n).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use plotters::prelude::*;
use serde_json::Value;

/// Arguments of `tandem-bench overload-chart`.
#[derive(Debug, clap::Args)]
pub struct OverloadChartArgs {
    /// Where to write the SVG.
    #[arg(long)]
    out: PathBuf,
    /// `fanout --json` files, one offered rate each (repeat a rate for a second run).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
}

/// One point: a target at one offered rate in one run.
#[derive(Debug, Clone, Copy)]
struct Point {
    offered: f64,
    published: f64,
    delivered: f64,
}

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];

/// Reads every file, prints the table and writes the chart.
pub fn run(args: OverloadChartArgs) -> anyhow::Result<()> {
    let mut curves: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    let mut seen: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for path in &args.runs {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let json: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let members = json["members"].as_f64().context("`members` missing")?;
        for result in json["results"].as_array().context("`results` missing")? {
            let target = result["label"].as_str().or(result["target"].as_str()).context("`label` missing")?;
            let number =
                |key: &str| result[key].as_f64().with_context(|| format!("`{key}` missing in {}", path.display()));
            let point = Point {
                offered: number("offered_rate_per_s")?,
                published: number("publish_rate_per_s")?,
                delivered: number("deliveries_per_s")? / members,
            };
            let run = seen.entry((target.to_owned(), point.offered as u64)).or_default();
            *run += 1;
            curves.entry(format!("{target} run {run}")).or_default().push(point);
        }
    }
    println!("{:<16} {:>10} {:>11} {:>20}", "curve", "offered/s", "published/s", "delivered/s ÷ members");
    for (name, points) in &mut curves {
        points.sort_by(|a, b| a.offered.total_cmp(&b.offered));
        for p in points.iter() {
            println!("{name:<16} {:>10.0} {:>11.0} {:>20.0}", p.offered, p.published, p.delivered);
        }
    }
    draw(&args.out, &curves)?;
    println!("chart: {}", args.out.display());
    Ok(())
}

fn draw(path: &Path, curves: &BTreeMap<String, Vec<Point>>) -> anyhow::Result<()> {
    let points = curves.values().flatten();
    let max_x = points.clone().map(|p| p.offered).fold(1.0, f64::max);
    let min_x = points.clone().map(|p| p.offered).fold(max_x, f64::min);
    let max_y = points.map(|p| p.offered.max(p.published).max(p.delivered)).fold(1.0, f64::max) * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 620)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("offered vs published vs delivered (events/s)", ("sans-serif", 24))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((min_x * 0.9..max_x * 1.1).log_scale(), 0.0..max_y)?;
        chart
            .configure_mesh()
            .x_desc("offered events/s (log scale)")
            .y_desc("events/s")
            .label_style(("sans-serif", 14))
            .draw()?;
        let diagonal = [(min_x, min_x.min(max_y)), (max_x, max_x.min(max_y))];
        chart
            .draw_series(LineSeries::new(diagonal, BLACK.mix(0.4)))?
            .label("offered")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
        for (index, (name, points)) in curves.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            let dashed = name.starts_with("raw");
            let published: Vec<(f64, f64)> = points.iter().map(|p| (p.offered, p.published)).collect();
            let delivered: Vec<(f64, f64)> = points.iter().map(|p| (p.offered, p.delivered)).collect();
            if !dashed {
                chart
                    .draw_series(LineSeries::new(published.clone(), color.stroke_width(1)).point_size(4))?
                    .label(format!("{name}: published"))
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(1)));
            }
            chart
                .draw_series(LineSeries::new(delivered, color.stroke_width(3)).point_size(3))?
                .label(format!("{name}: delivered ÷ members"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
    }
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}
