//! Text normalisation: the same text before tokenizing at generation and at detection, so
//! invisible or look-alike edits do not change the token ids the detector scores.
//!
//! An attacker who wants to keep a watermarked text readable but unscoreable edits characters
//! the reader does not see: a U+200B ZERO WIDTH SPACE at every word boundary, Cyrillic `а` for
//! Latin `a`, full-width `ａ`, a no-break space for a space. Each edit changes the tokens and so
//! every green list around it. [`Normalization::V1`] undoes these edits, in this order:
//!
//! 1. line endings: CR LF and lone CR become LF; U+0085, U+2028 and U+2029 become LF;
//! 2. default-ignorable code points are removed (Unicode's `Default_Ignorable_Code_Point`: zero
//!    width spaces and joiners, soft hyphen, bidi controls, variation selectors, tags, …);
//! 3. Unicode NFC (canonical composition; NFKC would also rewrite `…`, `½` and `²`, which models
//!    emit, so only the full-width block is folded, in step 4);
//! 4. full-width forms U+FF01–U+FF5E become ASCII U+0021–U+007E, and every space separator
//!    (no-break, en, em, thin, ideographic, …) becomes U+0020;
//! 5. look-alikes of Latin letters and digits (a letter whose UTS #39 confusable prototype is
//!    that of exactly one ASCII character of its case, as Cyrillic `а` → `a`, Greek `Ο` → `O`)
//!    are folded to ASCII — in every word that also holds an ASCII letter, and in a word made
//!    only of ASCII and look-alike letters when the text's ASCII letters outnumber its other
//!    letters that have no Latin look-alike (so Russian or Greek text, and a Russian word in
//!    English text, are left as written, while an English text with look-alikes is restored);
//! 6. runs of spaces inside a line (after its first non-space character) become one space;
//! 7. NFC again (step 5 may leave a base letter before a combining mark).
//!
//! The tables are those of `unicode-security` 0.1.3 (Unicode 18) and `unicode-normalization`
//! 0.1.26, pinned: a new Unicode version would be a new normalisation version.
//!
//! **What it costs.** Normalisation is applied to suspect text, not to the tokens the model
//! produced, so wherever the model itself wrote something this changes (a double space, an
//! emoji with a variation selector or a zero-width joiner, a non-breaking space), the detector
//! scores slightly different tokens than were generated. `provmark eval` measures the cost on
//! clean watermarked text beside the attacks.
//!
//! ```
//! use provmark::text::Normalization;
//! use provmark_text::normalize::normalize;
//! let attacked = "The\u{200B} quick  brоwn\u{00A0}ｆox";  // ZWSP, two spaces, Cyrillic о, NBSP, full-width f
//! assert_eq!(normalize(attacked, Normalization::V1), "The quick brown fox");
//! assert_eq!(normalize(attacked, Normalization::None), attacked);
//! // Russian stays Russian.
//! assert_eq!(normalize("Мама мыла раму", Normalization::V1), "Мама мыла раму");
//! ```

use provmark::text::Normalization;
use std::borrow::Cow;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

/// Applies a normalisation (see the module documentation); borrows when nothing changes.
pub fn normalize(text: &str, n: Normalization) -> Cow<'_, str> {
    match n {
        Normalization::V1 => v1(text),
        _ => Cow::Borrowed(text),
    }
}

/// Whether pure-ASCII text is already in V1 form: no CR, and no run of spaces after the first
/// non-space character of its line (one pass).
fn ascii_is_normal(text: &str) -> bool {
    let (mut in_body, mut prev_space) = (false, false);
    for &b in text.as_bytes() {
        match b {
            b'\r' => return false,
            b'\n' => (in_body, prev_space) = (false, false),
            b' ' => {
                if in_body && prev_space {
                    return false;
                }
                prev_space = true;
            }
            _ => (in_body, prev_space) = (true, false),
        }
    }
    true
}

fn v1(text: &str) -> Cow<'_, str> {
    if text.is_ascii() && ascii_is_normal(text) {
        return Cow::Borrowed(text);
    }
    // 1–2: line endings, default-ignorables.
    let mut s = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                s.push('\n');
            }
            '\u{85}' | '\u{2028}' | '\u{2029}' => s.push('\n'),
            c if is_default_ignorable(c) => {}
            c => s.push(c),
        }
    }
    // 3: NFC.
    let s: String = s.nfc().collect();
    // 4: full-width forms and space separators.
    let s: String = s
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
            c if c != ' ' && is_space_separator(c) => ' ',
            c => c,
        })
        .collect();
    // 5: look-alikes.
    let s = fold_lookalikes(&s);
    // 6: space runs inside lines.
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let body = line.trim_start_matches(' ');
        out.push_str(&line[..line.len() - body.len()]);
        let mut prev_space = false;
        for c in body.chars() {
            if c == ' ' && prev_space {
                continue;
            }
            prev_space = c == ' ';
            out.push(c);
        }
    }
    // 7: NFC again.
    let out: String = if unicode_normalization::is_nfc_quick(out.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        out
    } else {
        out.nfc().collect()
    };
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// Unicode's `Default_Ignorable_Code_Point`: exactly the characters UTS #39's skeleton drops
/// (the skeleton of any other character is never empty).
fn is_default_ignorable(c: char) -> bool {
    !c.is_ascii() && {
        let mut b = [0u8; 4];
        unicode_security::skeleton(c.encode_utf8(&mut b))
            .next()
            .is_none()
    }
}

/// General category Zs.
fn is_space_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// The single-character skeleton of `c`, if it has one.
fn single_skeleton(c: char) -> Option<char> {
    let mut b = [0u8; 4];
    let mut sk = unicode_security::skeleton(c.encode_utf8(&mut b));
    match (sk.next(), sk.next()) {
        (Some(p), None) => Some(p),
        _ => None,
    }
}

/// ASCII letters and digits by their skeleton: the candidates a look-alike folds to.
fn ascii_by_skeleton() -> &'static [(char, Vec<char>)] {
    static TABLE: OnceLock<Vec<(char, Vec<char>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<(char, Vec<char>)> = Vec::new();
        for a in ('0'..='9').chain('A'..='Z').chain('a'..='z') {
            if let Some(p) = single_skeleton(a) {
                match t.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, v)) => v.push(a),
                    None => t.push((p, vec![a])),
                }
            }
        }
        t
    })
}

/// The ASCII letter or digit a non-ASCII letter is a look-alike of: among the ASCII characters
/// with its skeleton, the one of its case (upper, lower, or a digit for a caseless character);
/// `None` when there is not exactly one.
fn lookalike(c: char) -> Option<char> {
    if c.is_ascii() || !c.is_alphanumeric() {
        return None;
    }
    let p = single_skeleton(c)?;
    let (_, cands) = ascii_by_skeleton().iter().find(|(q, _)| *q == p)?;
    let same_case = |a: &&char| {
        if c.is_uppercase() {
            a.is_ascii_uppercase()
        } else if c.is_lowercase() {
            a.is_ascii_lowercase()
        } else {
            a.is_ascii_digit()
        }
    };
    let mut it = cands.iter().filter(same_case);
    match (it.next(), it.next()) {
        (Some(&a), None) => Some(a),
        _ => None,
    }
}

fn fold_lookalikes(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let (mut ascii_letters, mut other_letters) = (0usize, 0usize);
    for c in s.chars() {
        if c.is_ascii_alphabetic() {
            ascii_letters += 1;
        } else if c.is_alphabetic() && lookalike(c).is_none() {
            other_letters += 1;
        }
    }
    let latin_text = ascii_letters > other_letters;
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let has_ascii = word.chars().any(|c| c.is_ascii_alphabetic());
        let all_foldable = word
            .chars()
            .all(|c| c.is_ascii() || !c.is_alphabetic() || lookalike(c).is_some());
        let fold = has_ascii || (latin_text && all_foldable);
        if fold {
            out.extend(word.chars().map(|c| lookalike(c).unwrap_or(c)));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in s.chars() {
        if c.is_alphanumeric() || (!word.is_empty() && is_mark(c)) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Combining marks stay in their word.
fn is_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> String {
        normalize(s, Normalization::V1).into_owned()
    }

    #[test]
    fn undoes_each_edit() {
        let clean = "It was the best of times, it was the worst of times.\nNew line  here.";
        // Zero-width and bidi characters at every word boundary.
        let zw = clean
            .replace(' ', "\u{200B} \u{2060}")
            .replace("It", "\u{202E}It\u{202C}");
        assert_eq!(v(&zw), v(clean));
        // Look-alikes (Cyrillic and Greek) for a third of eligible letters.
        let homo: String = clean
            .chars()
            .enumerate()
            .map(|(i, c)| match (i % 3, c) {
                (0, 'a') => 'а',
                (0, 'e') => 'е',
                (0, 'o') => 'ο',
                (0, 'i') => 'і',
                (0, 'p') => 'р',
                (0, 'c') => 'с',
                (0, 'I') => 'І',
                (0, 'N') => 'Ν',
                (_, c) => c,
            })
            .collect();
        assert_ne!(homo, clean);
        assert_eq!(v(&homo), v(clean));
        // Full-width letters, no-break and ideographic spaces, CR LF, decomposed accents.
        assert_eq!(v("ｔｈｅ\u{00A0}end\u{3000}now\r\n"), "the end now\n");
        assert_eq!(v("cafe\u{301}"), "café");
        // Interior space runs collapse; indentation stays.
        assert_eq!(v("    x  =   1"), "    x = 1");
    }

    #[test]
    fn leaves_clean_text_and_other_scripts_alone() {
        for s in [
            "Plain ASCII text, with \"quotes\" and... dots.",
            "Curly “quotes” — and an ellipsis… ½ ²",
            "Мама мыла раму. Съешь же ещё этих мягких французских булок.",
            "Ελληνικά: Αθήνα και Θεσσαλονίκη.",
            "日本語のテキスト、東京。",
            "naïve café résumé",
        ] {
            assert_eq!(v(s), s, "{s}");
            assert!(matches!(normalize(s, Normalization::V1), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn is_idempotent() {
        for s in [
            "а\u{301}b  c\r\n\u{200D}ｚ",
            "Mixed Сyrillic wоrds in Latin text",
            " \u{3000} lead\u{2028}x",
        ] {
            let once = v(s);
            assert_eq!(v(&once), once, "{s:?}");
        }
    }
}

/// Golden vectors from an independent implementation (`tests/data/gen_normalization_vectors.py`:
/// Python's `unicodedata` and another copy of Unicode's confusables).
#[cfg(test)]
mod golden {
    use super::*;

    #[test]
    fn v1_reproduces_the_independent_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/normalization_v1.json"
        );
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let vectors = data["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 15);
        let mut wrong = Vec::new();
        for v in vectors {
            let (input, want) = (v["input"].as_str().unwrap(), v["v1"].as_str().unwrap());
            let got = normalize(input, Normalization::V1);
            if got != want {
                wrong.push(format!("{input:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
