//! SVG plots of evaluation results (feature `plots`): ROC curves, z and log10 p against
//! length, and robustness against attack strength.

use super::grid::EvalResults;
use plotters::prelude::*;
use provmark::{Error, Result};
use std::path::Path;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("plotting failed: {e}"))
}

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// The files [`write_all`] writes.
pub const FILES: [&str; 4] = [
    "roc.svg",
    "z_vs_length.svg",
    "log10p_vs_length.svg",
    "robustness.svg",
];

/// Writes `roc.svg`, `z_vs_length.svg`, `log10p_vs_length.svg` and `robustness.svg` into `dir`.
///
/// # Errors
/// [`Error::InvalidInput`] when a plot cannot be drawn or written.
pub fn write_all(r: &EvalResults, dir: &Path) -> Result<()> {
    roc(r, &dir.join("roc.svg"))?;
    by_length(r, &dir.join("z_vs_length.svg"), false)?;
    by_length(r, &dir.join("log10p_vs_length.svg"), true)?;
    robustness(r, &dir.join("robustness.svg"))?;
    Ok(())
}

fn roc(r: &EvalResults, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "ROC: watermarked generations vs held-out human text",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((1e-4f64..1.0).log_scale(), 0.0f64..1.0)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate")
        .y_desc("true-positive rate")
        .draw()
        .map_err(plot_err)?;
    for (i, curve) in r.roc.iter().enumerate() {
        let pts: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|&(f, t)| (f.max(1e-4), t))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color(i).stroke_width(2)))
            .map_err(plot_err)?
            .label(format!("{} tokens", curve.length))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color(i).stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

fn by_length(r: &EvalResults, path: &Path, log10p: bool) -> Result<()> {
    let c = &r.config;
    let (g, d) = super::grid::headline(c);
    let rows: Vec<_> = r
        .power
        .iter()
        .filter(|p| p.gamma == g && p.delta == d)
        .collect();
    let vals: Vec<f64> = rows
        .iter()
        .map(|p| if log10p { p.median_log10_p } else { p.median_z })
        .collect();
    let lo = vals.iter().copied().fold(0.0, f64::min);
    let hi = vals.iter().copied().fold(1.0, f64::max);
    let max_len = c.lengths.iter().copied().max().unwrap_or(400) as f64;
    let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let title = format!(
        "median {} vs length (γ {g}, δ {d})",
        if log10p { "log10 p" } else { "z" }
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_len * 1.05, (lo * 1.05)..(hi * 1.05))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("tokens")
        .y_desc(if log10p { "median log10 p" } else { "median z" })
        .draw()
        .map_err(plot_err)?;
    let mut series = 0;
    for &h in &c.contexts {
        for &t in &c.temperatures {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|p| p.context == h && p.temperature == t)
                .map(|p| {
                    (
                        p.length as f64,
                        if log10p { p.median_log10_p } else { p.median_z },
                    )
                })
                .collect();
            if pts.is_empty() {
                continue;
            }
            let col = color(series);
            series += 1;
            chart
                .draw_series(LineSeries::new(pts, col.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("h {h}, T {t}"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2))
                });
        }
    }
    if log10p {
        // The α = 1e-6 threshold.
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, -6.0), (max_len * 1.05, -6.0)],
                BLACK.mix(0.5),
            ))
            .map_err(plot_err)?
            .label("α = 1e-6")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.5)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(if log10p {
            SeriesLabelPosition::LowerLeft
        } else {
            SeriesLabelPosition::UpperLeft
        })
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

fn robustness(r: &EvalResults, path: &Path) -> Result<()> {
    let c = &r.config;
    let a3 = c.alphas.iter().position(|&a| a == 1e-3).unwrap_or(0);
    let rows: Vec<_> = r
        .robustness
        .iter()
        .filter(|x| x.context == c.default_context)
        .collect();
    let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "TPR at α = 1e-3 after edits (h {}, 200 tokens)",
                c.default_context
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0f64..0.55, 0.0f64..1.05)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("attack strength (fraction edited; copy-paste: watermarked share)")
        .y_desc("true-positive rate")
        .draw()
        .map_err(plot_err)?;
    let base = rows
        .iter()
        .find(|x| x.attack.name() == "none")
        .and_then(|x| x.tpr.get(a3).copied())
        .unwrap_or(f64::NAN);
    let names = [
        "substitute",
        "delete",
        "insert",
        "word_delete",
        "word_duplicate",
        "word_swap",
        "copy_paste",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|x| x.attack.name() == *name)
            .map(|x| (x.attack.strength(), x.tpr.get(a3).copied().unwrap_or(0.0)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        if *name != "copy_paste" && base.is_finite() {
            pts.insert(0, (0.0, base));
        }
        let col = if i < COLORS.len() {
            color(i)
        } else {
            RGBColor(90, 90, 90)
        };
        chart
            .draw_series(LineSeries::new(pts, col.stroke_width(2)))
            .map_err(plot_err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}
