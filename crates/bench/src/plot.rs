//! SVG charts of benchmark results: latency percentile spectrum and throughput over time.
//!
//! [`write_svg`] renders one picture with two charts side by side, one curve per [`Series`]:
//! the classic HdrHistogram *percentile spectrum* on the left and deliveries per second over
//! time on the right.
//!
//! Rendering uses plotters' SVG backend with no font feature (`ttf` / `ab_glyph` are off): text is
//! written as SVG `<text>` elements in the generic `sans-serif` family and laid out by whatever
//! displays the SVG, so neither building nor running needs fontconfig, freetype or any font file.
//! Plotters only estimates label widths from their character count, which is enough for layout.

use std::path::Path;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;

/// One curve set: a target's (or run's) latency distribution and delivery throughput over time.
pub struct Series {
    /// Legend label, e.g. "tandem" or "socket.io".
    pub name: String,
    /// End-to-end latency samples in microseconds.
    pub latency: Histogram<u64>,
    /// Deliveries per second, one point per elapsed second: (seconds since start, deliveries/s).
    pub throughput: Vec<(f64, f64)>,
}

/// Picture size in pixels.
const WIDTH: u32 = 1400;
const HEIGHT: u32 = 620;
/// Width of the left chart (latency); the throughput chart gets the rest.
const LEFT_WIDTH: u32 = 720;
/// Curve colours, one per series (Tableau 10), reused in order past the sixth series.
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
/// Points sampled along each percentile spectrum.
const SPECTRUM_STEPS: u32 = 600;
/// Fewest and most "nines" shown on the percentile axis (99% and 99.9999%).
const MIN_NINES: f64 = 2.0;
const MAX_NINES: f64 = 6.0;
const FONT: &str = "sans-serif";

/// Writes an SVG of `series` to `path`: two charts side by side under `title`.
///
/// * Left, the latency **percentile spectrum** (as HdrHistogram plots it): x is the percentile on a
///   log scale of 1/(1-q), labelled 50%, 90%, 99%, 99.9%, …, up to the percentile the largest
///   histogram can resolve (at least 99%, at most 99.9999%); y is the latency in ms, linear from
///   0. This keeps the median and the tail on one readable chart, unlike a CDF whose tail is
///   squeezed against 100%. The legend shows each series' p50, p99 and sample count.
/// * Right, throughput over time: x is seconds since start, y deliveries/s; the legend shows the
///   mean rate.
///
/// One colour per series (the same one in both charts). A series with an empty histogram or an
/// empty throughput vector keeps its legend entry ("no samples") but draws no curve; with no data
/// at all the axes are drawn empty. Non-finite throughput points are ignored.
pub fn write_svg(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let body = root.titled(title, (FONT, 26))?;
        let (left, right) = body.split_horizontally(LEFT_WIDTH);
        draw_latency(&left, series)?;
        draw_throughput(&right, series)?;
        root.present()?;
    }
    std::fs::write(path, svg).with_context(|| format!("writing chart {}", path.display()))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn color(index: usize) -> RGBColor {
    COLORS[index % COLORS.len()]
}

/// Draws the percentile spectrum of every series into `area`.
fn draw_latency(area: &Area<'_>, series: &[Series]) -> anyhow::Result<()> {
    let most_samples = series.iter().map(|s| s.latency.len()).max().unwrap_or(0);
    // A histogram of n samples resolves percentiles up to about 1 - 1/n: log10(n) "nines".
    let nines =
        if most_samples > 1 { (most_samples as f64).log10().ceil().clamp(MIN_NINES, MAX_NINES) } else { MIN_NINES };
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(|s| spectrum(&s.latency, nines)).collect();
    let y_max = curves.iter().flatten().map(|&(_, ms)| ms).fold(0.0_f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };

    let mut chart = ChartBuilder::on(area)
        .caption("End-to-end latency by percentile", (FONT, 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(PercentileAxis { nines }, 0.0..y_max)?;
    let y_decimals = decimals_for(y_max);
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_label_formatter(&|&x| percentile_label(x))
        .y_label_formatter(&|&y| format!("{y:.y_decimals$}"))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;

    for (i, (s, points)) in series.iter().zip(curves).enumerate() {
        let style = color(i).stroke_width(2);
        let label = if s.latency.is_empty() {
            format!("{} (no samples)", s.name)
        } else {
            format!(
                "{} (p50 {} ms, p99 {} ms, n={})",
                s.name,
                fmt_ms(s.latency.value_at_quantile(0.5)),
                fmt_ms(s.latency.value_at_quantile(0.99)),
                fmt_count(s.latency.len())
            )
        };
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    if !series.is_empty() {
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    Ok(())
}

/// Draws deliveries/s over time of every series into `area`.
fn draw_throughput(area: &Area<'_>, series: &[Series]) -> anyhow::Result<()> {
    let curves: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| s.throughput.iter().copied().filter(|(t, r)| t.is_finite() && r.is_finite()).collect())
        .collect();
    let points = || curves.iter().flatten();
    let t_min = points().map(|&(t, _)| t).fold(0.0_f64, f64::min);
    let t_max = points().map(|&(t, _)| t).fold(0.0_f64, f64::max);
    let t_max = if t_max > t_min { t_max } else { t_min + 1.0 };
    let r_max = points().map(|&(_, r)| r).fold(0.0_f64, f64::max);
    let r_max = if r_max > 0.0 { r_max * 1.12 } else { 1.0 };

    let mut chart = ChartBuilder::on(area)
        .caption("Throughput over time", (FONT, 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(t_min..t_max, 0.0..r_max)?;
    let t_decimals = if t_max - t_min >= 5.0 { 0 } else { 1 };
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("deliveries/s")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_label_formatter(&|&t| format!("{t:.t_decimals$}"))
        .y_label_formatter(&|&r| fmt_rate(r))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;

    for (i, (s, points)) in series.iter().zip(curves).enumerate() {
        let style = color(i).stroke_width(2);
        let label = if points.is_empty() {
            format!("{} (no samples)", s.name)
        } else {
            let mean = points.iter().map(|&(_, r)| r).sum::<f64>() / points.len() as f64;
            format!("{} (mean {}/s)", s.name, fmt_rate(mean))
        };
        // A lone point would be an invisible zero-length line: mark the points then.
        let marker = if points.len() < 2 { 3 } else { 0 };
        chart
            .draw_series(LineSeries::new(points, style).point_size(marker))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    if !series.is_empty() {
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    }
    Ok(())
}

fn draw_legend<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .margin(12)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.88))
        .border_style(BLACK.mix(0.35))
        .draw()?;
    Ok(())
}

/// The percentile axis: x = log10(1/(1-q)) from 0 (q = 0) to `nines`, linear in x, with ticks at
/// 50% and at every whole number of nines (90%, 99%, 99.9%, …).
struct PercentileAxis {
    nines: f64,
}

impl Ranged for PercentileAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = value / self.nines;
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only bold points: no light mesh lines between the ticks.
        if hint.max_num_points() == 0 || hint.weight().allow_light_points() {
            return Vec::new();
        }
        let mut ticks = vec![2.0_f64.log10()];
        ticks.extend((1..=self.nines as u32).map(f64::from));
        ticks
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.nines
    }
}

/// The percentile spectrum of `latency` as (log10(1/(1-q)), ms) points, x from 0 to `nines`;
/// empty for an empty histogram.
fn spectrum(latency: &Histogram<u64>, nines: f64) -> Vec<(f64, f64)> {
    if latency.is_empty() {
        return Vec::new();
    }
    (0..=SPECTRUM_STEPS)
        .map(|i| {
            let x = nines * f64::from(i) / f64::from(SPECTRUM_STEPS);
            let q = 1.0 - 10.0_f64.powf(-x);
            (x, latency.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// Label of the percentile axis at x = log10(1/(1-q)): "50%", "90%", "99%", "99.9%", …
fn percentile_label(x: f64) -> String {
    let percent = 100.0 * (1.0 - 10.0_f64.powf(-x));
    let decimals = (x.round() as usize).saturating_sub(2);
    format!("{percent:.decimals$}%")
}

/// Decimals that make axis labels of a 0..`max` range distinct without noise.
fn decimals_for(max: f64) -> usize {
    match max {
        m if m >= 20.0 => 0,
        m if m >= 2.0 => 1,
        m if m >= 0.2 => 2,
        _ => 3,
    }
}

/// Microseconds as milliseconds with about three significant digits.
fn fmt_ms(micros: u64) -> String {
    let ms = micros as f64 / 1000.0;
    let decimals = match ms {
        m if m >= 100.0 => 0,
        m if m >= 10.0 => 1,
        m if m >= 1.0 => 2,
        _ => 3,
    };
    format!("{ms:.decimals$}")
}

/// A count with thousands separators: 1,234,567.
fn fmt_count(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate with a k / M suffix and about three significant digits: 0.25, 950, 12.5k, 1.23M.
fn fmt_rate(rate: f64) -> String {
    let (value, suffix) = if rate.abs() >= 1e6 {
        (rate / 1e6, "M")
    } else if rate.abs() >= 1e3 {
        (rate / 1e3, "k")
    } else {
        (rate, "")
    };
    let decimals = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram of `n` latencies around `base_us`, with a tail.
    fn synthetic(n: u64, base_us: u64) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
        for i in 0..n {
            // Deterministic spread: most samples near base, every 100th ten times slower.
            let jitter = (i * 7919) % base_us.max(1);
            let v = if i % 100 == 99 { base_us * 10 + jitter } else { base_us + jitter / 2 };
            h.record(v).expect("value within bounds");
        }
        h
    }

    fn throughput(seconds: u32, rate: f64) -> Vec<(f64, f64)> {
        (1..=seconds).map(|s| (f64::from(s), rate * (1.0 + 0.05 * f64::from(s % 3)))).collect()
    }

    fn render(series: &[Series]) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chart.svg");
        write_svg(&path, "fan-out: 100 rooms x 10 members", series).expect("write_svg");
        assert!(path.exists());
        std::fs::read_to_string(&path).expect("read svg")
    }

    #[test]
    fn writes_two_series() {
        let svg = render(&[
            Series { name: "tandem".into(), latency: synthetic(20_000, 800), throughput: throughput(10, 50_000.0) },
            Series {
                name: "socket.io".into(),
                latency: synthetic(20_000, 2_500),
                throughput: throughput(10, 30_000.0),
            },
        ]);
        assert!(svg.contains("<svg"));
        assert!(svg.contains("tandem"));
        assert!(svg.contains("socket.io"));
        assert!(svg.contains("99.99%"));
        assert!(svg.contains("fan-out: 100 rooms x 10 members"));
    }

    #[test]
    fn empty_and_degenerate_inputs_do_not_panic() {
        let empty = || Histogram::<u64>::new(3).expect("histogram");
        let svg = render(&[]);
        assert!(svg.contains("<svg"));

        let svg = render(&[Series { name: "nothing".into(), latency: empty(), throughput: Vec::new() }]);
        assert!(svg.contains("nothing (no samples)"));

        let mut one = empty();
        one.record(0).expect("record");
        let series: Vec<Series> = (0..4)
            .map(|i| Series {
                name: format!("run-{i}"),
                latency: if i == 0 { one.clone() } else { synthetic(500, 100 * (i + 1)) },
                throughput: match i {
                    0 => vec![(0.0, 0.0)],
                    1 => vec![(1.0, f64::NAN), (2.0, 10.0)],
                    _ => throughput(3, 1_000.0 * f64::from(i as u32)),
                },
            })
            .collect();
        let svg = render(&series);
        for i in 0..4 {
            assert!(svg.contains(&format!("run-{i}")));
        }
    }

    #[test]
    fn labels() {
        assert_eq!(percentile_label(2.0_f64.log10()), "50%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(5.0), "99.999%");
        assert_eq!(fmt_rate(950.0), "950");
        assert_eq!(fmt_rate(12_500.0), "12.5k");
        assert_eq!(fmt_rate(5_000.0), "5k");
        assert_eq!(fmt_rate(250_000.0), "250k");
        assert_eq!(fmt_rate(1_234_567.0), "1.23M");
        assert_eq!(fmt_rate(0.0), "0");
        assert_eq!(fmt_rate(0.25), "0.25");
        assert_eq!(fmt_rate(83_125.0), "83.1k");
        assert_eq!(fmt_ms(1_234), "1.23");
        assert_eq!(fmt_ms(250), "0.250");
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1_000), "1,000");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
    }
}
