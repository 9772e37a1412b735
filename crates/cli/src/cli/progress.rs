//! Progress on stderr for long work (drawn only when stderr is a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use provmark::detect::{Detection, Detector};
use std::time::Duration;

/// Inputs from this many bytes (or tokens) on show progress; smaller ones finish too fast.
const LARGE: usize = 1 << 20;

/// A spinner with elapsed time for one step of unknown length (tokenizing a large text), shown
/// while the returned bar lives; hidden for small work.
pub fn spinner(size: usize, msg: String) -> ProgressBar {
    if size < LARGE {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new_spinner();
    b.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    b.set_message(msg);
    b.enable_steady_tick(Duration::from_millis(120));
    b
}

/// Scores `tokens` in chunks with a bar (chunked scoring gives exactly the one-call result).
pub fn scored(det: &Detector, tokens: &[u32], name: &str) -> provmark::Result<Detection> {
    if tokens.len() < LARGE {
        return det.detect(tokens);
    }
    let b = ProgressBar::new(tokens.len() as u64);
    b.set_style(
        ProgressStyle::with_template("{elapsed} [{bar:40}] {human_pos}/{human_len} tokens {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_message(format!("scoring {name}"));
    let mut s = det.scorer();
    for chunk in tokens.chunks(1 << 16) {
        s.feed(chunk)?;
        b.inc(chunk.len() as u64);
    }
    b.finish_and_clear();
    s.finish()
}
