//! Markdown tables of evaluation results (`results.md`).

use super::grid::{EvalResults, FprRow};
use std::fmt::Write;

fn pct(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{:.1}", 100.0 * x)
    }
}

fn alpha_label(a: f64) -> String {
    format!("{a:.0e}").replace("e-", "e-")
}

/// Renders every table of the evaluation as Markdown.
pub fn markdown(r: &EvalResults) -> String {
    let c = &r.config;
    let mut m = String::new();
    let _ = writeln!(m, "# provmark evaluation\n");
    let _ = writeln!(
        m,
        "Order-{} n-gram model (interpolated modified Kneser–Ney) trained on {} tokens of {} documents; \
         held-out perplexity {:.1}. Prompts ({} tokens) and human texts ({} texts) come from held-out \
         chunks only. {} watermarked generations per configuration; false-positive rates over {} keys per \
         human text. Seed {}. Rates are percentages; α are p-value thresholds fixed in advance.\n",
        c.order,
        r.corpus.train_tokens,
        r.corpus.documents,
        r.corpus.perplexity,
        c.prompt_tokens,
        r.corpus.human_texts,
        c.samples,
        c.human_keys,
        c.seed
    );
    let alphas: Vec<String> = c.alphas.iter().map(|&a| alpha_label(a)).collect();

    let _ = writeln!(
        m,
        "## Checks\n\n| criterion | value | threshold | result |\n|---|---|---|---|"
    );
    for ch in &r.checks {
        let _ = writeln!(
            m,
            "| {} | {:.4} | {} | {} |",
            ch.name,
            ch.value,
            ch.threshold,
            if ch.passed { "pass" } else { "FAIL" }
        );
    }

    for (ai, a) in alphas.iter().enumerate() {
        let _ = writeln!(m, "\n## True-positive rate (%) at α = {a}, dedup on\n");
        let _ = write!(m, "| γ | δ | h | T |");
        for l in &c.lengths {
            let _ = write!(m, " {l} |");
        }
        let _ = write!(m, "\n|---|---|---|---|");
        for _ in &c.lengths {
            m.push_str("---|");
        }
        m.push('\n');
        let mut keys: Vec<(f64, f64, usize, f32)> = Vec::new();
        for p in &r.power {
            let k = (p.gamma, p.delta, p.context, p.temperature);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for k in &keys {
            let _ = write!(m, "| {} | {} | {} | {} |", k.0, k.1, k.2, k.3);
            for l in &c.lengths {
                let cell = r
                    .power
                    .iter()
                    .find(|p| (p.gamma, p.delta, p.context, p.temperature) == *k && p.length == *l)
                    .map(|p| pct(p.tpr.get(ai).copied().unwrap_or(f64::NAN)))
                    .unwrap_or_default();
                let _ = write!(m, " {cell} |");
            }
            m.push('\n');
        }
    }

    let _ = writeln!(
        m,
        "\n## True-positive rate (%) at 200 tokens with dedup off, and median z / log10 p with dedup on\n\n\
         | γ | δ | h | T | {} | median z | median log10 p | green % | FPR on unwatermarked model text (%) {} |\n|---|---|---|---|{}---|---|---|---|",
        alphas
            .iter()
            .map(|a| format!("TPR {a} (no dedup)"))
            .collect::<Vec<_>>()
            .join(" | "),
        alphas.join(" / "),
        "---|".repeat(alphas.len())
    );
    for p in r.power.iter().filter(|p| p.length == 200) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.1} | {} |",
            p.gamma,
            p.delta,
            p.context,
            p.temperature,
            p.tpr_nodedup
                .iter()
                .map(|&x| pct(x))
                .collect::<Vec<_>>()
                .join(" | "),
            p.median_z,
            p.median_log10_p,
            100.0 * p.green_fraction,
            p.fpr_model
                .iter()
                .map(|&x| pct(x))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }

    fpr_table(
        &mut m,
        "False-positive rate (%) on held-out human text",
        &r.false_positives,
        &alphas,
        true,
    );
    if !r.repetitive.is_empty() {
        fpr_table(
            &mut m,
            "False-positive rate (%) on repetitive human text (Rust code from the toolchain's books)",
            &r.repetitive,
            &alphas,
            false,
        );
    }

    let _ = writeln!(
        m,
        "\n## Text quality: perplexity under the unwatermarked model\n\n| γ | δ | h | T | watermarked | unwatermarked | ratio |\n|---|---|---|---|---|---|---|"
    );
    for q in &r.quality {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2} |",
            q.gamma,
            q.delta,
            q.context,
            q.temperature,
            q.perplexity_watermarked,
            q.perplexity_plain,
            q.perplexity_watermarked / q.perplexity_plain
        );
    }

    let _ = writeln!(
        m,
        "\n## Robustness: TPR (%) at α = 1e-3 (median z), γ {}, δ {}, T {}, 200 tokens\n",
        super::grid::headline(c).0,
        super::grid::headline(c).1,
        c.temperatures.first().copied().unwrap_or(1.0)
    );
    let a3 = c.alphas.iter().position(|&a| a == 1e-3).unwrap_or(0);
    let _ = write!(m, "| attack | strength |");
    for h in &c.contexts {
        let _ = write!(m, " h = {h} |");
    }
    let _ = write!(m, "\n|---|---|");
    for _ in &c.contexts {
        m.push_str("---|");
    }
    m.push('\n');
    let mut attacks = Vec::new();
    for row in &r.robustness {
        if !attacks.contains(&(row.attack, row.normalization)) {
            attacks.push((row.attack, row.normalization));
        }
    }
    for (a, n) in &attacks {
        let norm = match n {
            provmark::text::Normalization::None => "",
            _ => ", normalised (v1)",
        };
        let _ = write!(m, "| {}{norm} | {} |", a.name(), a.strength());
        for h in &c.contexts {
            let cell = r
                .robustness
                .iter()
                .find(|x| x.attack == *a && x.normalization == *n && x.context == *h)
                .map(|x| {
                    format!(
                        "{} ({:.1})",
                        pct(x.tpr.get(a3).copied().unwrap_or(f64::NAN)),
                        x.median_z
                    )
                })
                .unwrap_or_default();
            let _ = write!(m, " {cell} |");
        }
        m.push('\n');
    }
    let _ = writeln!(
        m,
        "\nCopy-paste documents are {} tokens long; the strength is the watermarked share.",
        c.lengths.iter().max().copied().unwrap_or(0)
    );
    if let Some(l) = &r.localized {
        localized_table(&mut m, l);
    }
    if let Some(sc) = &r.schemes {
        m.push('\n');
        m.push_str(&super::schemes::markdown(
            sc,
            &format!("Order-{} n-gram model", c.order),
        ));
    }
    if let Some(rr) = &r.radioactivity {
        radio_table(&mut m, rr);
    }
    m
}

fn opt(a: &Option<String>) -> &str {
    a.as_deref().unwrap_or("none")
}

/// The distillation experiment's table alone.
pub fn radioactivity_markdown(r: &super::radioactivity::RadioResults) -> String {
    let mut m = String::new();
    radio_table(&mut m, r);
    m
}

fn radio_table(m: &mut String, r: &super::radioactivity::RadioResults) {
    let c = &r.config;
    let _ = writeln!(
        m,
        "\n## Radioactivity: students trained on watermarked outputs\n\n\
         A teacher (the model above) answers prompts from account A of a shifted master key with \
         watermarked text (γ 0.25, δ 2, h 2; temperature {}) and logs an emission ledger. Each \
         student is an n-gram model trained on {} tokens: the stated share is everything A \
         exported (prompts and answers), the rest human text. The student with no teacher data \
         is audited against the largest export ({} tokens), which it never saw. The auditor \
         forwards A's exports through the student's weights (open model) or samples it at \
         temperature {} on A's prompts or on fresh human prompts, and tests against A and {} \
         other accounts (Holm–Bonferroni over all {}); prompts are excluded. α = 1e-6.\n",
        c.temperature,
        c.student_tokens,
        r.teacher_tokens,
        c.query_temperature,
        c.other_accounts,
        c.other_accounts + 1
    );
    let _ = writeln!(
        m,
        "| queries | teacher share (%) | served to A | suspect tokens | tuples | green % (A) | log10 p (A) | min corrected log10 p (others) | attributed | tuples in ledger | log10 p (A, ledger) | min corrected log10 p (others, ledger) | attributed (ledger) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for x in &r.rows {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.2} | {} | {} | {:.1} | {:.2} | {} |",
            x.queries.label(),
            x.share,
            x.served_tokens,
            x.corpus_tokens,
            x.scored,
            100.0 * x.green_fraction,
            x.log10_p_a,
            x.min_corrected_log10_p_others,
            opt(&x.attribution),
            x.scored_ledger,
            x.log10_p_a_ledger,
            x.min_corrected_log10_p_others_ledger,
            opt(&x.attribution_ledger)
        );
    }
    for i in &r.innocent {
        let n = i.p_values.len();
        let _ = writeln!(
            m,
            "\nThe student with no teacher data, queried with {} and audited at the largest size \
             against all {n} accounts: Kolmogorov–Smirnov distance of its (randomized) p-values \
             from uniform D = {:.3} (critical value at level 0.05: {:.3}).",
            i.queries.label(),
            i.ks,
            1.358 / (n.max(1) as f64).sqrt()
        );
    }
}

fn fpr_table(m: &mut String, title: &str, rows: &[FprRow], alphas: &[String], by_length: bool) {
    let _ = writeln!(m, "\n## {title}\n");
    let _ = writeln!(
        m,
        "| γ | h | {}dedup | tests | {} | repeated tuples (%) |\n|---|---|{}---|---|{}---|",
        if by_length { "tokens | " } else { "" },
        alphas
            .iter()
            .map(|a| format!("FPR {a}"))
            .collect::<Vec<_>>()
            .join(" | "),
        if by_length { "---|" } else { "" },
        "---|".repeat(alphas.len())
    );
    for r in rows {
        let _ = writeln!(
            m,
            "| {} | {} | {}{} | {} | {} | {} |",
            r.gamma,
            r.context,
            if by_length {
                format!("{} | ", r.length)
            } else {
                String::new()
            },
            if r.dedup { "on" } else { "off" },
            r.tests,
            r.fpr
                .iter()
                .map(|&x| format!("{:.3}", 100.0 * x))
                .collect::<Vec<_>>()
                .join(" | "),
            if r.dedup && r.repeated_fraction > 0.0 {
                format!("{:.1}", 100.0 * r.repeated_fraction)
            } else {
                "–".into()
            }
        );
    }
}

fn localized_table(m: &mut String, l: &super::localized::LocalizedResults) {
    let _ = writeln!(
        m,
        "\n## Localised and sequential detection\n\n\
         {} watermarked tokens pasted at a random place into {}-token human documents ({} documents, headline configuration):\n",
        l.span_len, l.doc_len, l.documents
    );
    let _ = writeln!(
        m,
        "| test | found at 1e-6 | found at 1e-3 |\n|---|---|---|\n\
         | windowed scan (Bonferroni over {} windows) | {} | |\n\
         | whole-text test | {} | {} |\n",
        l.windows,
        pct(l.scan_found_1e6),
        pct(l.whole_found_1e6),
        pct(l.whole_found_1e3)
    );
    let _ = writeln!(
        m,
        "Median corrected log10 p of the scan {:.1}; where found, {:.0} % of the reported window lies in the pasted span and it covers {:.0} % of the span.\n\
         On human documents the scan flagged {} of {} (document, key) tests at α 1e-3 ({} documents, each under several keys), and the sequential test crossed 1/α = 1 000 within the document in {} of them.\n",
        l.scan_median_log10_p,
        100.0 * l.window_precision,
        100.0 * l.window_recall,
        l.null_scan_flagged_1e3,
        l.null_tests,
        l.null_documents,
        l.null_sequential_crossed_1e3
    );
    let _ = writeln!(
        m,
        "Sequential test at α 1e-6 on {} watermarked generations of {} tokens: {} crossed, after a median {:.0} tokens; \
         the fixed-length p-value first reaches 1e-6 after a median {:.0} tokens (a bound for any test that peeks: checking the fixed test after every token is not a valid test).",
        l.sequential_streams,
        l.sequential_len,
        pct(l.sequential_crossed),
        l.sequential_median_tokens,
        l.fixed_first_median_tokens
    );
}
