//! `bench --plot FILE.svg`: the latency distributions of a bench report, drawn with `plotters`.
//!
//! One panel per kind of test (stream round trips, datagram round trips, connections, the
//! proxy), one line per path. The x axis counts nines, as HDR histogram plots do (0 = the
//! fastest sample, 1 = p90, 2 = p99, 3 = p99.9, 4 = p99.99), so the tail gets room; the y axis
//! is microseconds.

use loopback_model::bench::{BenchProto, BenchReport, BenchResult, BenchTest};
use plotters::prelude::*;

/// The panels: a title and which results go in it.
const PANELS: [(&str, BenchTest, Option<BenchProto>); 4] = [
    (
        "round trip, TCP and Unix stream",
        BenchTest::Rr,
        Some(BenchProto::Tcp),
    ),
    (
        "round trip, UDP and Unix datagram",
        BenchTest::Rr,
        Some(BenchProto::Udp),
    ),
    ("connect and close", BenchTest::Connect, None),
    ("round trip through a proxy, by hop", BenchTest::Proxy, None),
];

const WIDTH: u32 = 900;
const PANEL_HEIGHT: u32 = 360;

/// Where a percentile sits on the x axis: its count of nines.
fn nines(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(1e-4);
    -rest.log10()
}

/// The SVG document. A report without latency results gives a document that says so.
pub fn latency_svg(report: &BenchReport) -> String {
    let panels: Vec<(&str, Vec<&BenchResult>)> = PANELS
        .iter()
        .map(|(title, test, kin)| {
            let rows = report
                .results
                .iter()
                .filter(|r| r.test == *test && kin.is_none_or(|k| r.proto.kin() == k))
                .filter(|r| !r.distribution.is_empty())
                .collect();
            (*title, rows)
        })
        .filter(|(_, rows): &(_, Vec<_>)| !rows.is_empty())
        .collect();
    let mut svg = String::new();
    let height = PANEL_HEIGHT * u32::try_from(panels.len().max(1)).unwrap_or(1);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        if panels.is_empty() {
            let _ = root.draw(&Text::new(
                "no latency results to plot",
                (20, 20),
                ("sans-serif", 16),
            ));
        }
        let areas = root.split_evenly((panels.len().max(1), 1));
        for ((title, rows), area) in panels.iter().zip(areas.iter()) {
            let _ = panel(area, title, rows);
        }
        let _ = root.present();
    }
    svg
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    rows: &[&BenchResult],
) -> Result<(), Box<dyn std::error::Error>> {
    let values = || {
        rows.iter()
            .flat_map(|r| r.distribution.iter())
            .filter(|d| d.percentile <= 99.99)
            .map(|d| d.us.max(0.01))
    };
    let top = values().fold(1.0f64, f64::max) * 1.3;
    let bottom = values().fold(top, f64::min) * 0.7;
    // Microseconds on a log scale: the median and the tail differ by orders of magnitude.
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..4f64, (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("percentile")
        .y_desc("microseconds")
        .x_labels(5)
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&|x| match x.round() as i64 {
            0 => "0".into(),
            1 => "90".into(),
            2 => "99".into(),
            3 => "99.9".into(),
            _ => "99.99".into(),
        })
        .draw()?;
    for (i, r) in rows.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = r
            .distribution
            .iter()
            .filter(|d| d.percentile <= 99.99)
            .map(|d| (nines(d.percentile), d.us))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(format!("{} {}", r.path, r.proto))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_place_the_tail() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert!((nines(100.0) - 4.0).abs() < 1e-9);
    }
}
