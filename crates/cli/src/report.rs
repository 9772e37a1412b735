//! Reports for people: a self-contained HTML page with a summary table on top (one row per
//! text: verdict, p-value, length) and each text below at full width, its tokens marked green,
//! red, repeated or not scored — by colour and by an underline or strike style, so the marks
//! survive greyscale printing and colour blindness — with a tooltip per token and the
//! localised watermarked span, when there is one, outlined. No external assets.
//!
//! ```
//! use provmark_cli::report::{HtmlReport, Piece, ReportItem};
//! use provmark::detect::TokenFlag;
//! let mut r = HtmlReport::new("Demo");
//! r.push(ReportItem {
//!     title: "sample <1>".into(),
//!     verdict: "insufficient".into(),
//!     p_value: "1".into(),
//!     tokens: 2,
//!     pieces: vec![
//!         Piece::new("Hello", 0..1, vec![TokenFlag::NoContext]),
//!         Piece::new(" world", 1..2, vec![TokenFlag::Green]),
//!     ],
//!     span: None,
//!     summary: vec![("verdict".into(), "insufficient".into())],
//! });
//! let html = r.render();
//! assert!(html.contains("sample &lt;1&gt;") && html.contains("class=\"g\""));
//! ```

use provmark::detect::TokenFlag;
use provmark::text::Tokenizer;
use std::fmt::Write;
use std::ops::Range;

/// A run of tokens shown as one piece of text: one token, or several when a token ends inside
/// a UTF-8 character (its bytes are merged with the following tokens' so no U+FFFD is shown).
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// The decoded text.
    pub text: String,
    /// The token indices it covers.
    pub tokens: Range<usize>,
    /// The flag of each of those tokens.
    pub flags: Vec<TokenFlag>,
}

impl Piece {
    /// A piece from its parts.
    pub fn new(text: &str, tokens: Range<usize>, flags: Vec<TokenFlag>) -> Self {
        Piece {
            text: text.into(),
            tokens,
            flags,
        }
    }
}

/// Splits `ids` into display pieces with their flags, merging a token whose bytes end inside a
/// character with the tokens that complete it (at most 8 tokens per piece; a longer run, or a
/// text that really holds U+FFFD, is shown as decoded).
///
/// # Errors
/// Tokenizer errors (an id out of range).
pub fn pieces(
    tok: &dyn Tokenizer,
    ids: &[u32],
    flags: &[TokenFlag],
) -> provmark::Result<Vec<Piece>> {
    const MAX_MERGE: usize = 8;
    let mut out = Vec::with_capacity(ids.len());
    let mut start = 0;
    while start < ids.len() {
        let mut end = start + 1;
        let mut text = tok.decode(&ids[start..end])?;
        while text.ends_with('\u{FFFD}') && end < ids.len() && end - start < MAX_MERGE {
            end += 1;
            text = tok.decode(&ids[start..end])?;
        }
        if text.contains('\u{FFFD}') && end - start > 1 {
            // Could not be completed: show each token as it decodes.
            end = start + 1;
            text = tok.decode(&ids[start..end])?;
        }
        let f = flags
            .get(start..end)
            .map(<[TokenFlag]>::to_vec)
            .unwrap_or_default();
        out.push(Piece {
            text,
            tokens: start..end,
            flags: f,
        });
        start = end;
    }
    Ok(out)
}

/// One text in a report.
#[derive(Clone, Debug)]
pub struct ReportItem {
    /// Heading (escaped on output).
    pub title: String,
    /// The verdict, for the summary table.
    pub verdict: String,
    /// The p-value as text, for the summary table.
    pub p_value: String,
    /// Tokens, for the summary table.
    pub tokens: usize,
    /// The text as pieces, in order ([`pieces`]).
    pub pieces: Vec<Piece>,
    /// A token range to outline: the localised watermarked span.
    pub span: Option<Range<usize>>,
    /// Label/value rows shown with the text.
    pub summary: Vec<(String, String)>,
}

/// A report page under construction.
#[derive(Clone, Debug, Default)]
pub struct HtmlReport {
    title: String,
    intro: Vec<String>,
    items: Vec<ReportItem>,
}

fn flag_name(f: TokenFlag) -> &'static str {
    match f {
        TokenFlag::Green => "green",
        TokenFlag::Red => "red",
        TokenFlag::Repeated => "repeated (scored once, earlier)",
        TokenFlag::NoContext => "not scored (no full context)",
    }
}

fn flag_class(f: TokenFlag) -> &'static str {
    match f {
        TokenFlag::Green => "g",
        TokenFlag::Red => "r",
        TokenFlag::Repeated => "x",
        TokenFlag::NoContext => "n",
    }
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
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\n<style>{}</style></head><body>\n<h1>{}</h1>\n",
            esc(&self.title),
            CSS,
            esc(&self.title)
        );
        for p in &self.intro {
            let _ = writeln!(h, "<p>{}</p>", esc(p));
        }
        h.push_str("<table class=\"overview\"><thead><tr><th>#</th><th>text</th><th>verdict</th><th>p-value</th><th>tokens</th></tr></thead><tbody>\n");
        for (i, item) in self.items.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><a href=\"#t{i}\">{}</a></td><td class=\"v-{}\">{}</td><td>{}</td><td>{}</td></tr>",
                i + 1,
                esc(&item.title),
                esc(&item.verdict),
                esc(&item.verdict.replace('_', " ")),
                esc(&item.p_value),
                item.tokens
            );
        }
        h.push_str("</tbody></table>\n");
        h.push_str("<p class=\"legend\"><span class=\"g\">green</span> <span class=\"r\">red</span> <span class=\"x\">repeated (scored once)</span> <span class=\"n\">no full context</span> <span class=\"m\">mixed (one character split across tokens)</span> <span class=\"win\">localised watermarked span</span> — hover a token for its state</p>\n");
        for (i, item) in self.items.iter().enumerate() {
            let _ = write!(
                h,
                "<section id=\"t{i}\"><h2>{}. {}</h2><table class=\"facts\">",
                i + 1,
                esc(&item.title)
            );
            for (k, v) in &item.summary {
                let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
            }
            h.push_str("</table><div class=\"text\">");
            let mut in_span = false;
            for piece in &item.pieces {
                let starts = item
                    .span
                    .as_ref()
                    .is_some_and(|s| piece.tokens.start <= s.start && s.start < piece.tokens.end);
                if starts && !in_span {
                    h.push_str("<span class=\"win\" title=\"localised watermarked span\">");
                    in_span = true;
                }
                let class = match piece.flags.as_slice() {
                    [] => "n",
                    [f, rest @ ..] if rest.iter().all(|r| r == f) => flag_class(*f),
                    _ => "m",
                };
                let states: Vec<String> = piece
                    .tokens
                    .clone()
                    .zip(&piece.flags)
                    .map(|(t, f)| format!("token {t}: {}", flag_name(*f)))
                    .collect();
                let _ = write!(
                    h,
                    "<span class=\"{class}\" title=\"{}\">{}</span>",
                    html_escape::encode_double_quoted_attribute(&states.join("; ")),
                    esc(&piece.text)
                );
                let ends = item
                    .span
                    .as_ref()
                    .is_some_and(|s| piece.tokens.end >= s.end);
                if in_span && ends {
                    h.push_str("</span>");
                    in_span = false;
                }
            }
            if in_span {
                h.push_str("</span>");
            }
            h.push_str("</div></section>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:80rem;margin:2rem auto;padding:0 1rem;color:#222}\
section{border-top:1px solid #ddd;padding:.5rem 0 1rem}h2{font-size:1.05rem}\
.text{white-space:pre-wrap;line-height:1.9;font-size:1rem;max-width:none}\
table{border-collapse:collapse;font-size:.85rem}th{text-align:left;padding:.15rem .8rem .15rem 0;color:#555;font-weight:normal}td{font-variant-numeric:tabular-nums;padding:.15rem .8rem .15rem 0}\
.overview{margin:1rem 0;min-width:40rem}.overview thead th{border-bottom:1px solid #bbb;color:#222;font-weight:600}.overview tbody tr:nth-child(odd){background:#f6f6f6}\
.facts{margin-bottom:.6rem}.facts tr{display:inline-block;margin-right:1.2rem}\
.v-watermarked{font-weight:600;color:#1b5e20}.v-not_watermarked{color:#555}\
.g{background:#c8f2c2;text-decoration:underline solid #2e7d32 2px;text-underline-offset:3px}\
.r{background:#f9c9c9;text-decoration:underline dotted #b71c1c 2px;text-underline-offset:3px}\
.x{background:#e4e4e4;text-decoration:line-through #777}.n{color:#777;font-style:italic}\
.m{background:#fff3c4;text-decoration:underline wavy #b58900 1px;text-underline-offset:3px}\
.win{outline:2px dashed #1565c0;outline-offset:3px;box-decoration-break:clone;-webkit-box-decoration-break:clone}\
.legend span{padding:.1rem .4rem;margin-right:.4rem}";

fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_tokens_is_merged() {
        let tok = provmark_text::load(&provmark::text::TokenizerSpec::parse("cl100k_base"))
            .expect("built-in tokenizer");
        // CJK and emoji: cl100k splits some of these characters across byte tokens.
        let text = "Tokyo 東京 🦀 naïve";
        let ids = tok.encode(text).unwrap();
        let flags = vec![TokenFlag::Green; ids.len()];
        let ps = pieces(tok.as_ref(), &ids, &flags).unwrap();
        let joined: String = ps.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, text);
        assert!(ps.iter().all(|p| !p.text.contains('\u{FFFD}')), "{ps:?}");
        assert!(
            ps.iter().any(|p| p.tokens.len() > 1),
            "the crab is split in cl100k"
        );
        let ends: Vec<usize> = ps.iter().map(|p| p.tokens.end).collect();
        assert_eq!(ends.last(), Some(&ids.len()));
    }
}
