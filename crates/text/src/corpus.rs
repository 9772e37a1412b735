//! Reading corpora: plain-text files, directories (recursively), JSON Lines with a `text` field
//! (and an optional `prompt`) — or, for open-model audits, `tokens` and `predictions` arrays —
//! and HTML pages (tags stripped, code blocks kept apart).
//!
//! Unreadable or malformed inputs do not stop a read: they are listed in
//! [`Corpus::skipped`] with the reason, and everything else is returned.
//!
//! **Which files a directory contributes.** Walking a directory (recursively, in sorted order,
//! following symbolic links to files and directories, each directory once):
//!
//! * files ending in one of [`TEXT_EXTS`] are read; other files are left out silently (images,
//!   archives, key files);
//! * hidden files and directories (`.git`, `.cache`) are left out silently;
//! * metadata files — `SOURCES`, `README`, `LICENSE`, `COPYING`, `NOTICE`, `CHANGELOG`,
//!   `AUTHORS`, `CITATION` and `MANIFEST` with any of those extensions ([`is_metadata`]) — are
//!   not documents of the corpus: they are reported as skipped, and read only with
//!   [`ReadOptions::metadata_files`];
//! * a file or directory that cannot be read, a broken link and a link cycle are reported as
//!   skipped, with the reason.
//!
//! A file named directly is always read, whatever its name or extension.
//!
//! ```
//! let text = provmark_text::corpus::html_to_text(
//!     "<main><h1>Title</h1><p>Hello &amp; <b>welcome</b>.</p><pre>let x = 1;</pre></main>");
//! assert_eq!(text.prose, "Title\n\nHello & welcome.");
//! assert_eq!(text.code, vec!["let x = 1;".to_string()]);
//! ```

use provmark::{Error, Result};
use std::path::{Path, PathBuf};

/// One document of a corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Where it came from: a path, with `:LINE` for JSON Lines records.
    pub source: String,
    /// The text.
    pub text: String,
    /// The prompt that produced it, when the corpus records one (JSON Lines `prompt` field).
    pub prompt: Option<String>,
}

/// A text we served with a suspect model's own next-token predictions along it, for the
/// open-model audit ([`provmark::provenance::audit::Audit::add_predictions`]). Read from JSON
/// Lines records with `tokens` and `predictions` arrays of token ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predictions {
    /// The path and line.
    pub source: String,
    /// The served text, as token ids.
    pub tokens: Vec<u32>,
    /// `predictions[t]`: the suspect's choice after `tokens[..t]`.
    pub predictions: Vec<u32>,
}

/// An input that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The path (and line).
    pub source: String,
    /// What was wrong.
    pub reason: String,
}

/// Documents read from one or more inputs.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// Prose documents, in a deterministic order (paths sorted).
    pub documents: Vec<Document>,
    /// Code blocks found in HTML pages (`<pre>` elements), kept apart from the prose.
    pub code: Vec<Document>,
    /// Inputs that could not be used.
    pub skipped: Vec<Skipped>,
}

/// File extensions read when walking a directory.
pub const TEXT_EXTS: &[&str] = &["txt", "text", "md", "jsonl", "ndjson", "html", "htm"];

/// One item met while reading inputs (see [`visit`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A prose document.
    Document(Document),
    /// A code block from an HTML page.
    Code(Document),
    /// A served text with a suspect's predictions (JSON Lines `tokens` + `predictions`).
    Predictions(Predictions),
    /// An input that could not be used.
    Skipped(Skipped),
}

/// How directories are walked (see the module documentation for the rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read metadata files ([`is_metadata`]) found in directories as documents too.
    pub metadata_files: bool,
}

/// Whether a file found in a directory is metadata about the corpus rather than a document of
/// it: its name without extension is `SOURCES`, `README`, `LICENSE`, `COPYING`, `NOTICE`,
/// `CHANGELOG`, `AUTHORS`, `CITATION` or `MANIFEST` (any case).
///
/// ```
/// use provmark_text::corpus::is_metadata;
/// assert!(is_metadata("corpus/SOURCES.md".as_ref()));
/// assert!(is_metadata("LICENSE.txt".as_ref()));
/// assert!(!is_metadata("chapter-1.txt".as_ref()));
/// ```
pub fn is_metadata(path: &Path) -> bool {
    const NAMES: &[&str] = &[
        "sources",
        "readme",
        "license",
        "licence",
        "copying",
        "notice",
        "changelog",
        "authors",
        "citation",
        "manifest",
    ];
    path.file_stem()
        .and_then(|n| n.to_str())
        .is_some_and(|n| NAMES.contains(&n.to_ascii_lowercase().as_str()))
}

/// Streams the documents of files and directories to `f`, one at a time, so a corpus of any
/// size is read in bounded memory, with the default [`ReadOptions`].
///
/// # Errors
/// [`Error::Io`] when a named path does not exist; problems with files inside are reported
/// as [`Item::Skipped`].
pub fn visit(paths: &[PathBuf], f: &mut dyn FnMut(Item)) -> Result<()> {
    visit_with(paths, ReadOptions::default(), f)
}

/// [`visit`] with options.
///
/// # Errors
/// As [`visit`].
pub fn visit_with(paths: &[PathBuf], opts: ReadOptions, f: &mut dyn FnMut(Item)) -> Result<()> {
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() {
            let (files, skipped) = walk_dir(p, opts);
            for s in skipped {
                f(Item::Skipped(s));
            }
            for file in files {
                read_file(&file, f);
            }
        } else {
            read_file(p, f);
        }
    }
    Ok(())
}

/// The files [`visit`] would read under `paths`, with their sizes (for progress reporting).
pub fn list_files(paths: &[PathBuf]) -> Vec<(PathBuf, u64)> {
    list_files_with(paths, ReadOptions::default())
}

/// [`list_files`] with options.
pub fn list_files_with(paths: &[PathBuf], opts: ReadOptions) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            out.extend(walk_dir(p, opts).0);
        } else {
            out.push(p.clone());
        }
    }
    out.into_iter()
        .map(|p| {
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            (p, len)
        })
        .collect()
}

impl Corpus {
    /// Reads files and directories into memory (see [`visit`] for streaming).
    ///
    /// # Errors
    /// [`Error::Io`] when a named path does not exist.
    pub fn read(paths: &[PathBuf]) -> Result<Corpus> {
        let mut c = Corpus::default();
        visit(paths, &mut |item| match item {
            Item::Document(d) => c.documents.push(d),
            Item::Code(d) => c.code.push(d),
            Item::Skipped(s) => c.skipped.push(s),
            Item::Predictions(p) => c.skipped.push(Skipped {
                source: p.source,
                reason: "a predictions record (only audits use these)".into(),
            }),
        })?;
        Ok(c)
    }
}

fn skip(f: &mut dyn FnMut(Item), source: impl Into<String>, reason: impl Into<String>) {
    f(Item::Skipped(Skipped {
        source: source.into(),
        reason: reason.into(),
    }));
}

fn read_file(path: &Path, f: &mut dyn FnMut(Item)) {
    let source = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => return skip(f, source, "not valid UTF-8 text"),
        },
        Err(e) => return skip(f, source, e.to_string()),
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "jsonl" | "ndjson" => read_jsonl(&source, &text, f),
        "html" | "htm" => {
            let h = html_to_text(&text);
            if !h.prose.trim().is_empty() {
                f(Item::Document(Document {
                    source: source.clone(),
                    text: h.prose,
                    prompt: None,
                }));
            }
            for (i, code) in h.code.into_iter().enumerate() {
                f(Item::Code(Document {
                    source: format!("{source}#code{i}"),
                    text: code,
                    prompt: None,
                }));
            }
        }
        _ => {
            if !text.trim().is_empty() {
                f(Item::Document(Document {
                    source,
                    text,
                    prompt: None,
                }));
            }
        }
    }
}

pub(crate) fn read_jsonl(source: &str, text: &str, f: &mut dyn FnMut(Item)) {
    #[derive(serde::Deserialize)]
    struct Record {
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        prompt: Option<String>,
        #[serde(default)]
        tokens: Option<Vec<u32>>,
        #[serde(default)]
        predictions: Option<Vec<u32>>,
    }
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let src = format!("{source}:{}", i + 1);
        match serde_json::from_str::<Record>(line) {
            Ok(Record {
                tokens: Some(tokens),
                predictions: Some(predictions),
                ..
            }) => f(Item::Predictions(Predictions {
                source: src,
                tokens,
                predictions,
            })),
            Ok(Record {
                predictions: Some(_),
                ..
            }) => skip(f, src, "\"predictions\" need a \"tokens\" array"),
            Ok(Record {
                text: Some(text),
                prompt,
                ..
            }) => f(Item::Document(Document {
                source: src,
                text,
                prompt,
            })),
            Ok(_) => skip(
                f,
                src,
                "neither a \"text\" string nor \"tokens\" and \"predictions\" arrays",
            ),
            Err(e) => skip(f, src, format!("not a JSON Lines record: {e}")),
        }
    }
}

/// The files to read under `dir`, sorted, and what was skipped (module documentation).
fn walk_dir(dir: &Path, opts: ReadOptions) -> (Vec<PathBuf>, Vec<Skipped>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = std::collections::HashSet::new();
    walk(dir, opts, &mut seen, &mut files, &mut skipped);
    files.sort();
    skipped.sort_by(|a, b| a.source.cmp(&b.source));
    (files, skipped)
}

fn walk(
    dir: &Path,
    opts: ReadOptions,
    seen: &mut std::collections::HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
    skipped: &mut Vec<Skipped>,
) {
    let skip = |skipped: &mut Vec<Skipped>, path: &Path, reason: String| {
        skipped.push(Skipped {
            source: path.display().to_string(),
            reason,
        })
    };
    // Each directory once, however many links lead to it (and no cycles).
    match std::fs::canonicalize(dir) {
        Ok(real) => {
            if !seen.insert(real) {
                let why = "a directory already read (symbolic link cycle or alias)";
                return skip(skipped, dir, why.into());
            }
        }
        Err(e) => return skip(skipped, dir, e.to_string()),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return skip(skipped, dir, e.to_string()),
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                skip(skipped, dir, format!("cannot list an entry: {e}"));
                continue;
            }
        };
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        // Follows symbolic links.
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                skip(skipped, &path, format!("cannot read (a broken link?): {e}"));
                continue;
            }
        };
        if meta.is_dir() {
            walk(&path, opts, seen, out, skipped);
        } else if meta.is_file() {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !TEXT_EXTS.contains(&ext.as_str()) {
                continue;
            }
            if is_metadata(&path) && !opts.metadata_files {
                let why = "a metadata file, not a document (read it by naming it)";
                skip(skipped, &path, why.into());
                continue;
            }
            out.push(path);
        }
    }
}

/// The books shipped with the Rust toolchain's documentation that make the default corpus.
pub const RUST_BOOKS: &[&str] = &[
    "book",
    "reference",
    "rust-by-example",
    "nomicon",
    "edition-guide",
    "embedded-book",
    "cargo",
    "rustc",
    "rustdoc",
    "style-guide",
];

/// The default corpus: the books in the local Rust toolchain's documentation
/// (`$(rustc --print sysroot)/share/doc/rust/html`). mdBook's `print.html` (the whole book on
/// one page) and navigation pages are left out, so no text is read twice.
///
/// # Errors
/// [`Error::InvalidInput`] when `rustc` cannot be run or the documentation is not installed
/// (`rustup component add rust-docs`), with a hint to pass `--corpus`.
pub fn rust_docs() -> Result<Corpus> {
    let missing = |why: String| {
        Error::InvalidInput(format!(
            "no corpus given and the Rust documentation is not available ({why}); \
             install it with `rustup component add rust-docs` or pass --corpus PATH"
        ))
    };
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| missing(format!("cannot run rustc: {e}")))?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let html = Path::new(&sysroot).join("share/doc/rust/html");
    let books: Vec<PathBuf> = RUST_BOOKS
        .iter()
        .map(|b| html.join(b))
        .filter(|p| p.is_dir())
        .collect();
    if books.is_empty() {
        return Err(missing(format!("{} has none of the books", html.display())));
    }
    let mut c = Corpus::read(&books)?;
    let excluded = |d: &Document| {
        let name = d.source.rsplit('/').next().unwrap_or("");
        let name = name.split('#').next().unwrap_or(name);
        matches!(
            name,
            "print.html" | "toc.html" | "404.html" | "SUMMARY.html"
        )
    };
    c.documents.retain(|d| !excluded(d));
    c.code.retain(|d| !excluded(d));
    Ok(c)
}

/// Prose and code extracted from an HTML page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HtmlText {
    /// The text, one paragraph per block element, separated by blank lines.
    pub prose: String,
    /// The contents of `<pre>` elements.
    pub code: Vec<String>,
}

/// Extracts text from HTML: keeps `<main>` when present, drops `script`, `style`, `nav` and
/// `head`, takes `<pre>` blocks out as code, turns block elements into paragraph breaks and
/// decodes entities.
pub fn html_to_text(html: &str) -> HtmlText {
    let body = match (html.find("<main"), html.rfind("</main>")) {
        (Some(s), Some(e)) if s < e => html.get(s..e).unwrap_or(html),
        _ => html,
    };
    let mut prose = String::new();
    let mut code = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        prose.push_str(rest.get(..lt).unwrap_or_default());
        let after = rest.get(lt..).unwrap_or_default();
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after.get(1..gt).unwrap_or_default();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        rest = after.get(gt + 1..).unwrap_or_default();
        let closing = tag.starts_with('/');
        if !closing && matches!(name.as_str(), "script" | "style" | "nav" | "head" | "pre") {
            let end = format!("</{name}");
            let (inner, tail) = match find_ci(rest, &end) {
                Some(i) => (
                    rest.get(..i).unwrap_or_default(),
                    rest.get(i..).unwrap_or_default(),
                ),
                None => (rest, ""),
            };
            if name == "pre" {
                let text = decode(&strip_tags(inner));
                if !text.trim().is_empty() {
                    code.push(text.trim_end().to_string());
                }
                prose.push_str("\n\n");
            }
            rest = tail
                .find('>')
                .and_then(|i| tail.get(i + 1..))
                .unwrap_or_default();
            continue;
        }
        if matches!(
            name.as_str(),
            "p" | "div"
                | "br"
                | "li"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "tr"
                | "table"
                | "ul"
                | "ol"
                | "blockquote"
                | "section"
                | "header"
                | "footer"
                | "dt"
                | "dd"
        ) {
            prose.push_str("\n\n");
        }
    }
    prose.push_str(rest);
    let decoded = decode(&prose);
    let paragraphs: Vec<String> = decoded
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    HtmlText {
        prose: paragraphs.join("\n\n"),
        code,
    }
}

fn decode(s: &str) -> String {
    html_escape::decode_html_entities(s).into_owned()
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Case-insensitive ASCII search.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| {
        h.get(i..i + n.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_formats_and_reports_skips() {
        let dir = std::env::temp_dir().join(format!("provmark-corpus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.txt"), "Plain text.").unwrap();
        std::fs::write(
            dir.join("sub/b.jsonl"),
            "{\"text\": \"one\", \"prompt\": \"p\"}\nnot json\n{\"text\": \"two\"}\n",
        )
        .unwrap();
        std::fs::write(dir.join("sub/c.html"), "<html><head><title>x</title></head><body><p>Hi <i>there</i></p><script>var x;</script></body></html>").unwrap();
        std::fs::write(dir.join("bad.txt"), [0xff, 0xfe]).unwrap();
        std::fs::write(dir.join("image.png"), [0u8; 4]).unwrap();
        let c = Corpus::read(std::slice::from_ref(&dir)).unwrap();
        let texts: Vec<&str> = c.documents.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts, vec!["Plain text.", "one", "two", "Hi there"]);
        assert_eq!(c.documents[1].prompt.as_deref(), Some("p"));
        assert_eq!(c.skipped.len(), 2, "{:?}", c.skipped);
        assert!(c.skipped.iter().any(|s| s.source.ends_with("b.jsonl:2")));
        assert!(c.skipped.iter().any(|s| s.source.ends_with("bad.txt")));
        assert!(Corpus::read(&[dir.join("nope")]).is_err());
    }

    /// Symbolic links are followed (to files, to directories, named on the command line), a
    /// cycle and a broken link are reported, metadata files are skipped unless asked for, and
    /// an unreadable file is reported.
    #[cfg(unix)]
    #[test]
    fn links_metadata_and_unreadable_files() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let base = std::env::temp_dir().join(format!("provmark-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (real, links) = (base.join("real"), base.join("links"));
        std::fs::create_dir_all(real.join("deep")).unwrap();
        std::fs::create_dir_all(&links).unwrap();
        std::fs::write(real.join("one.txt"), "One.").unwrap();
        std::fs::write(real.join("deep/two.txt"), "Two.").unwrap();
        std::fs::write(real.join("SOURCES.md"), "Where the texts come from.").unwrap();
        symlink(real.join("one.txt"), links.join("one.txt")).unwrap();
        symlink(real.join("deep"), links.join("deep")).unwrap();
        symlink(&links, links.join("loop")).unwrap();
        symlink(base.join("missing.txt"), links.join("broken.txt")).unwrap();
        let c = Corpus::read(std::slice::from_ref(&links)).unwrap();
        let texts: Vec<&str> = c.documents.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts, vec!["Two.", "One."]);
        let reasons: Vec<String> = c.skipped.iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(c.skipped.len(), 2, "{reasons:?}");
        assert!(c.skipped.iter().any(|s| s.source.ends_with("broken.txt")));
        assert!(c.skipped.iter().any(|s| s.source.ends_with("loop")));
        // A link named directly.
        let one = Corpus::read(&[links.join("one.txt")]).unwrap();
        assert_eq!(one.documents.len(), 1);
        // Metadata: reported, read when asked for or named.
        let c = Corpus::read(std::slice::from_ref(&real)).unwrap();
        assert_eq!(c.documents.len(), 2);
        assert!(c.skipped[0].reason.contains("metadata"), "{:?}", c.skipped);
        let mut n = 0;
        let opts = ReadOptions {
            metadata_files: true,
        };
        visit_with(std::slice::from_ref(&real), opts, &mut |i| {
            n += usize::from(matches!(i, Item::Document(_)))
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            Corpus::read(&[real.join("SOURCES.md")])
                .unwrap()
                .documents
                .len(),
            1
        );
        // An unreadable file is reported (not when running as root, who reads it anyway).
        let locked = real.join("locked.txt");
        std::fs::write(&locked, "Locked.").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&locked).is_err() {
            let c = Corpus::read(std::slice::from_ref(&real)).unwrap();
            assert!(c.skipped.iter().any(|s| s.source.ends_with("locked.txt")));
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn jsonl_prediction_records() {
        let text = concat!(
            "{\"tokens\": [1, 2, 3], \"predictions\": [2, 3, 4]}\n",
            "{\"predictions\": [1]}\n",
            "{\"tokens\": [1, -2], \"predictions\": [1, 2]}\n",
            "{\"prompt\": \"only a prompt\"}\n",
        );
        let mut items = Vec::new();
        read_jsonl("f", text, &mut |i| items.push(i));
        assert_eq!(
            items.first(),
            Some(&Item::Predictions(Predictions {
                source: "f:1".into(),
                tokens: vec![1, 2, 3],
                predictions: vec![2, 3, 4],
            }))
        );
        let skipped: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                Item::Skipped(s) => Some(s.source.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(skipped, vec!["f:2", "f:3", "f:4"]);
    }
}
