//! The ramp chart: per step, offered and delivered deliveries/s (left axis) and p99 latency
//! (right axis, with the bound as a dashed line), written as SVG with plotters. Failed steps
//! are drawn as hollow points.

use std::path::Path;

use plotters::prelude::*;

/// One step as drawn.
#[derive(Clone, Copy, Debug)]
pub struct ChartPoint {
    pub step: usize,
    pub offered: f64,
    pub delivered: f64,
    pub p99_ms: f64,
    pub pass: bool,
}

/// Errors from drawing, with the file named.
#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {detail}")]
pub struct ChartError {
    path: String,
    detail: String,
}

/// Draws `points` to an SVG file at `path`.
pub fn draw_ramp(path: &Path, points: &[ChartPoint], p99_bound_ms: f64) -> Result<(), ChartError> {
    draw(path, points, p99_bound_ms).map_err(|e| ChartError {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

fn draw(
    path: &Path,
    points: &[ChartPoint],
    p99_bound_ms: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let steps = points.len().max(1) as f64;
    let top_rate = points
        .iter()
        .map(|p| p.offered.max(p.delivered))
        .fold(1.0, f64::max)
        * 1.1;
    let top_ms = points.iter().map(|p| p.p99_ms).fold(p99_bound_ms, f64::max) * 1.1;

    let mut chart = ChartBuilder::on(&root)
        .caption("ramp: deliveries/s and p99 per step", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.5..steps + 0.5, 0.0..top_rate)?
        .set_secondary_coord(0.5..steps + 0.5, 0.0..top_ms);
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("deliveries/s")
        .x_labels(points.len().max(1))
        .x_label_formatter(&|x| {
            // Steps are whole numbers; label only those.
            if (x - x.round()).abs() < 1e-6 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| crate::report::group(y.max(0.0).round() as u64))
        .draw()?;
    chart.configure_secondary_axes().y_desc("p99 (ms)").draw()?;

    let at = |p: &ChartPoint| p.step as f64;
    chart
        .draw_series(DashedLineSeries::new(
            points.iter().map(|p| (at(p), p.offered)),
            8,
            5,
            BLUE.stroke_width(2),
        ))?
        .label("offered deliveries/s")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (at(p), p.delivered)),
            GREEN.stroke_width(2),
        ))?
        .label("delivered deliveries/s")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN.stroke_width(2)));
    chart.draw_series(points.iter().map(|p| {
        let style = if p.pass {
            GREEN.filled()
        } else {
            GREEN.stroke_width(2)
        };
        Circle::new((at(p), p.delivered), 4, style)
    }))?;
    chart
        .draw_secondary_series(LineSeries::new(
            points.iter().map(|p| (at(p), p.p99_ms)),
            RED.stroke_width(2),
        ))?
        .label("p99 ms (right axis)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart.draw_secondary_series(points.iter().map(|p| {
        let style = if p.pass {
            RED.filled()
        } else {
            RED.stroke_width(2)
        };
        Circle::new((at(p), p.p99_ms), 4, style)
    }))?;
    chart
        .draw_secondary_series(DashedLineSeries::new(
            [(0.5, p99_bound_ms), (steps + 0.5, p99_bound_ms)],
            6,
            4,
            RED.mix(0.5).stroke_width(1),
        ))?
        .label("p99 bound")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.mix(0.5)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg() {
        let dir = std::env::temp_dir().join(format!("chat-bench-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("ramp.svg");
        let points: Vec<ChartPoint> = (1..=5)
            .map(|i| ChartPoint {
                step: i,
                offered: 1000.0 * i as f64,
                delivered: 1000.0 * i as f64 * if i == 5 { 0.8 } else { 1.0 },
                p99_ms: 2.0 * i as f64,
                pass: i < 5,
            })
            .collect();
        draw_ramp(&path, &points, 50.0).expect("draws");
        let svg = std::fs::read_to_string(&path).expect("written");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("deliveries/s"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
