//! Edits an adversary (or an editor) applies to watermarked text, at a given strength.
//!
//! Token-level edits work on ids; word-level edits work on the text, which is then
//! re-tokenized; copy-paste embeds a watermarked span in human text.

use rand::RngExt;
use rand::seq::index;
use serde::Serialize;

/// An edit and its strength (fraction of tokens or words affected, or of the document that
/// is watermarked for copy-paste).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "attack", content = "strength", rename_all = "snake_case")]
pub enum Attack {
    /// No edit (the text, decoded and re-tokenized).
    None,
    /// Replace this fraction of tokens with tokens drawn from human text.
    Substitute(f64),
    /// Delete this fraction of tokens.
    Delete(f64),
    /// Insert human-text tokens after this fraction of tokens.
    Insert(f64),
    /// Delete this fraction of words (on the text).
    WordDelete(f64),
    /// Duplicate this fraction of words.
    WordDuplicate(f64),
    /// Swap this fraction of adjacent word pairs.
    WordSwap(f64),
    /// A watermarked span making up this fraction of an otherwise human document.
    CopyPaste(f64),
    /// A U+200B ZERO WIDTH SPACE at this fraction of word boundaries (1 = every one).
    ZeroWidth(f64),
    /// This fraction of the letters that have a Cyrillic or Greek look-alike replaced by it.
    Homoglyph(f64),
    /// Everything at once: zero-width spaces at every word boundary, look-alikes for this
    /// fraction of eligible letters, no-break spaces for this fraction of spaces and full-width
    /// forms for a tenth of the remaining ASCII letters.
    Mixed(f64),
}

impl Attack {
    /// Short name of the kind of edit.
    pub fn name(&self) -> &'static str {
        match self {
            Attack::None => "none",
            Attack::Substitute(_) => "substitute",
            Attack::Delete(_) => "delete",
            Attack::Insert(_) => "insert",
            Attack::WordDelete(_) => "word_delete",
            Attack::WordDuplicate(_) => "word_duplicate",
            Attack::WordSwap(_) => "word_swap",
            Attack::CopyPaste(_) => "copy_paste",
            Attack::ZeroWidth(_) => "zero_width",
            Attack::Homoglyph(_) => "homoglyph",
            Attack::Mixed(_) => "mixed_unicode",
        }
    }

    /// The strength (0 for none).
    pub fn strength(&self) -> f64 {
        match *self {
            Attack::None => 0.0,
            Attack::Substitute(s)
            | Attack::Delete(s)
            | Attack::Insert(s)
            | Attack::WordDelete(s)
            | Attack::WordDuplicate(s)
            | Attack::WordSwap(s)
            | Attack::CopyPaste(s)
            | Attack::ZeroWidth(s)
            | Attack::Homoglyph(s)
            | Attack::Mixed(s) => s,
        }
    }
}

fn count(n: usize, frac: f64) -> usize {
    ((n as f64 * frac).round() as usize).min(n)
}

fn draw(pool: &[u32], rng: &mut impl rand::Rng) -> u32 {
    if pool.is_empty() {
        return 0;
    }
    pool.get(rng.random_range(0..pool.len()))
        .copied()
        .unwrap_or(0)
}

/// Replaces exactly `round(frac · n)` random positions with tokens drawn from `pool`.
pub fn substitute(ids: &[u32], frac: f64, pool: &[u32], rng: &mut impl rand::Rng) -> Vec<u32> {
    let mut out = ids.to_vec();
    for i in index::sample(rng, ids.len(), count(ids.len(), frac)) {
        let t = draw(pool, rng);
        if let Some(o) = out.get_mut(i) {
            *o = t;
        }
    }
    out
}

/// Deletes exactly `round(frac · n)` random positions.
pub fn delete(ids: &[u32], frac: f64, rng: &mut impl rand::Rng) -> Vec<u32> {
    let mut drop = vec![false; ids.len()];
    for i in index::sample(rng, ids.len(), count(ids.len(), frac)) {
        if let Some(d) = drop.get_mut(i) {
            *d = true;
        }
    }
    ids.iter()
        .zip(&drop)
        .filter(|(_, d)| !**d)
        .map(|(t, _)| *t)
        .collect()
}

/// Inserts a token drawn from `pool` after exactly `round(frac · n)` random positions.
pub fn insert(ids: &[u32], frac: f64, pool: &[u32], rng: &mut impl rand::Rng) -> Vec<u32> {
    let mut after = vec![false; ids.len()];
    for i in index::sample(rng, ids.len(), count(ids.len(), frac)) {
        if let Some(a) = after.get_mut(i) {
            *a = true;
        }
    }
    let mut out = Vec::with_capacity(ids.len() * 2);
    for (&t, &a) in ids.iter().zip(&after) {
        out.push(t);
        if a {
            out.push(draw(pool, rng));
        }
    }
    out
}

/// Splits text into words, each with its following whitespace.
fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(text.get(start..i).unwrap_or_default());
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(text.get(start..).unwrap_or_default());
    }
    out
}

/// Word-level edits on text: delete, duplicate, or swap adjacent words, at `frac` of the words.
/// Other attacks return the text unchanged.
pub fn word_edit(text: &str, attack: Attack, rng: &mut impl rand::Rng) -> String {
    let mut w: Vec<String> = words(text).into_iter().map(String::from).collect();
    let n = w.len();
    let mut picked = |m: usize, frac: f64| {
        let mut mark = vec![false; m];
        for i in index::sample(rng, m, count(m, frac)) {
            if let Some(x) = mark.get_mut(i) {
                *x = true;
            }
        }
        mark
    };
    match attack {
        Attack::WordDelete(f) => {
            let drop = picked(n, f);
            w.iter()
                .zip(&drop)
                .filter(|(_, d)| !**d)
                .map(|(s, _)| s.as_str())
                .collect()
        }
        Attack::WordDuplicate(f) => {
            let dup = picked(n, f);
            let mut out = String::with_capacity(text.len() * 2);
            for (s, &d) in w.iter().zip(&dup) {
                if d {
                    out.push_str(s.trim_end());
                    out.push(' ');
                }
                out.push_str(s);
            }
            out
        }
        Attack::WordSwap(f) if n >= 2 => {
            let swap = picked(n - 1, f);
            for (i, &s) in swap.iter().enumerate() {
                if s {
                    // Swap the words but keep each position's trailing whitespace.
                    let (a, b) = (w[i].clone(), w[i + 1].clone());
                    let (at, asp) = a.split_at(a.trim_end().len());
                    let (bt, bsp) = b.split_at(b.trim_end().len());
                    w[i] = format!("{bt}{asp}");
                    w[i + 1] = format!("{at}{bsp}");
                }
            }
            w.concat()
        }
        _ => text.to_string(),
    }
}

/// Latin letters and a Cyrillic or Greek look-alike of each.
const LOOKALIKES: &[(char, char)] = &[
    ('a', 'а'),
    ('c', 'с'),
    ('e', 'е'),
    ('o', 'о'),
    ('p', 'р'),
    ('x', 'х'),
    ('y', 'у'),
    ('i', 'і'),
    ('j', 'ј'),
    ('s', 'ѕ'),
    ('v', 'ν'),
    ('A', 'А'),
    ('B', 'В'),
    ('C', 'С'),
    ('E', 'Е'),
    ('H', 'Н'),
    ('I', 'І'),
    ('K', 'К'),
    ('M', 'М'),
    ('N', 'Ν'),
    ('O', 'О'),
    ('P', 'Р'),
    ('T', 'Т'),
    ('X', 'Х'),
    ('Y', 'Υ'),
    ('Z', 'Ζ'),
];

/// Character-level edits a reader does not see (see [`Attack::ZeroWidth`],
/// [`Attack::Homoglyph`], [`Attack::Mixed`]); other attacks return the text unchanged.
pub fn unicode_edit(text: &str, attack: Attack, rng: &mut impl rand::Rng) -> String {
    let chars: Vec<char> = text.chars().collect();
    // Positions of the characters each edit may touch, and a random subset of them.
    let mut chosen = |eligible: &dyn Fn(char) -> bool, frac: f64| {
        let idx: Vec<usize> = (0..chars.len()).filter(|&i| eligible(chars[i])).collect();
        let mut mark = vec![false; chars.len()];
        for j in index::sample(rng, idx.len(), count(idx.len(), frac)) {
            mark[idx[j]] = true;
        }
        mark
    };
    let lookalike = |c: char| LOOKALIKES.iter().find(|(l, _)| *l == c).map(|&(_, g)| g);
    let (zw, homo, nbsp, wide) = match attack {
        Attack::ZeroWidth(f) => (f, 0.0, 0.0, 0.0),
        Attack::Homoglyph(f) => (0.0, f, 0.0, 0.0),
        Attack::Mixed(f) => (1.0, f, f, 0.1),
        _ => return text.to_string(),
    };
    let zw = chosen(&|c| c == ' ', zw);
    let homo = chosen(&|c| lookalike(c).is_some(), homo);
    let nbsp = chosen(&|c| c == ' ', nbsp);
    let wide = chosen(&|c| c.is_ascii_alphabetic(), wide);
    let mut out = String::with_capacity(text.len() * 2);
    for (i, &c) in chars.iter().enumerate() {
        if zw[i] {
            out.push('\u{200B}');
        }
        if homo[i] {
            out.push(lookalike(c).unwrap_or(c));
        } else if nbsp[i] {
            out.push('\u{00A0}');
        } else if wide[i] {
            out.push(char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// A document of `len` tokens that is human text except for a watermarked span of
/// `round(frac · len)` tokens at a random position.
pub fn copy_paste(
    human: &[u32],
    marked: &[u32],
    frac: f64,
    len: usize,
    rng: &mut impl rand::Rng,
) -> Vec<u32> {
    let k = count(len, frac).min(marked.len());
    let h = len.saturating_sub(k).min(human.len());
    let at = rng.random_range(0..=h);
    let mut out = Vec::with_capacity(h + k);
    out.extend_from_slice(human.get(..at).unwrap_or_default());
    out.extend_from_slice(marked.get(..k).unwrap_or_default());
    out.extend_from_slice(human.get(at..h).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn edits_have_the_stated_size() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let ids: Vec<u32> = (0..100).collect();
        assert_eq!(delete(&ids, 0.2, &mut rng).len(), 80);
        assert_eq!(insert(&ids, 0.3, &[7], &mut rng).len(), 130);
        let s = substitute(&ids, 0.1, &[1000], &mut rng);
        assert_eq!(s.iter().filter(|&&t| t == 1000).count(), 10);
        let text = "one two three four five six seven eight nine ten";
        assert_eq!(
            word_edit(text, Attack::WordDelete(0.3), &mut rng)
                .split_whitespace()
                .count(),
            7
        );
        assert_eq!(
            word_edit(text, Attack::WordDuplicate(0.2), &mut rng)
                .split_whitespace()
                .count(),
            12
        );
        let swapped = word_edit(text, Attack::WordSwap(0.5), &mut rng);
        let mut a: Vec<&str> = swapped.split_whitespace().collect();
        let mut b: Vec<&str> = text.split_whitespace().collect();
        assert_ne!(a, b);
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        let zw = unicode_edit(text, Attack::ZeroWidth(1.0), &mut rng);
        assert_eq!(zw.matches('\u{200B}').count(), 9);
        let homo = unicode_edit(text, Attack::Homoglyph(0.5), &mut rng);
        let changed = homo
            .chars()
            .zip(text.chars())
            .filter(|(a, b)| a != b)
            .count();
        let eligible = text.chars().filter(|c| "acoepxyijsv".contains(*c)).count();
        assert_eq!(changed, (eligible as f64 * 0.5).round() as usize);
        let doc = copy_paste(&[1; 100], &[2; 100], 0.25, 100, &mut rng);
        assert_eq!(doc.len(), 100);
        assert_eq!(doc.iter().filter(|&&t| t == 2).count(), 25);
    }
}
