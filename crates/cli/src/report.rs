//! Reports for people: a self-contained HTML page showing each text with its tokens coloured
//! green, red or not scored, and the detection numbers beside it. No external assets.
//!
//! ```
//! use provmark_cli::report::{HtmlReport, ReportItem};
//! use provmark::detect::TokenFlag;
//! let mut r = HtmlReport::new("Demo");
//! r.push(ReportItem {
//!     title: "sample <1>".into(),
//!     pieces: vec![("Hello".into(), TokenFlag::NoContext), (" world".into(), TokenFlag::Green)],
//!     summary: vec![("verdict".into(), "insufficient".into())],
//! });
//! let html = r.render();
//! assert!(html.contains("sample &lt;1&gt;") && html.contains("class=\"g\""));
//! ```

use provmark::detect::TokenFlag;
use std::fmt::Write;

/// One text in a report.
#[derive(Clone, Debug)]
pub struct ReportItem {
    /// Heading (escaped on output).
    pub title: String,
    /// The text as (token text, flag) pieces, in order.
    pub pieces: Vec<(String, TokenFlag)>,
    /// Label/value rows shown beside the text.
    pub summary: Vec<(String, String)>,
}

/// A report page under construction.
#[derive(Clone, Debug, Default)]
pub struct HtmlReport {
    title: String,
    intro: Vec<String>,
    items: Vec<ReportItem>,
}

impl HtmlReport {
    /// An empty report.
    pub fn new(title: &str) -> Self {
        HtmlReport {
            title: title.into(),
            ..Default::default()
        }
    }

    /// Adds a paragraph of introduction (plain text, escaped).
    pub fn paragraph(&mut self, text: &str) {
        self.intro.push(text.into());
    }

    /// Adds a text.
    pub fn push(&mut self, item: ReportItem) {
        self.items.push(item);
    }

    /// Renders the page.
    pub fn render(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{}</style></head><body>\n<h1>{}</h1>\n",
            esc(&self.title),
            CSS,
            esc(&self.title)
        );
        for p in &self.intro {
            let _ = writeln!(h, "<p>{}</p>", esc(p));
        }
        h.push_str("<p class=\"legend\"><span class=\"g\">green</span> <span class=\"r\">red</span> <span class=\"x\">repeated (scored once)</span> <span class=\"n\">no full context</span></p>\n");
        for item in &self.items {
            let _ = write!(
                h,
                "<section><h2>{}</h2><div class=\"row\"><div class=\"text\">",
                esc(&item.title)
            );
            for (text, flag) in &item.pieces {
                let class = match flag {
                    TokenFlag::Green => "g",
                    TokenFlag::Red => "r",
                    TokenFlag::Repeated => "x",
                    TokenFlag::NoContext => "n",
                };
                let _ = write!(h, "<span class=\"{class}\">{}</span>", esc(text));
            }
            h.push_str("</div><table>");
            for (k, v) in &item.summary {
                let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
            }
            h.push_str("</table></div></section>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}\
section{border-top:1px solid #ddd;padding:.5rem 0}h2{font-size:1.05rem}\
.row{display:flex;gap:1.5rem;align-items:flex-start}.text{flex:1;white-space:pre-wrap;line-height:1.6;font-family:ui-monospace,monospace;font-size:.9rem}\
table{border-collapse:collapse;font-size:.85rem;min-width:16rem}th{text-align:left;padding:.15rem .6rem .15rem 0;color:#555;font-weight:normal}td{font-variant-numeric:tabular-nums}\
.g{background:#c8f2c2}.r{background:#f9c9c9}.x{background:#e4e4e4;text-decoration:line-through #999}.n{color:#777}\
.legend span{padding:.1rem .4rem;margin-right:.4rem}";

fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}
