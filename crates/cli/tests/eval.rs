//! The demo and a tiny evaluation, end to end, on a corpus the test writes itself.

use provmark::text::TokenizerSpec;
use provmark_cli::eval::demo::{self, DemoConfig, Kind};
use provmark_cli::eval::grid::{self, EvalConfig, EvalInputs};
use provmark_cli::eval::radioactivity::{Queries, RadioConfig};
use provmark_text::corpus::{Corpus, Document};
use rand::{RngExt, SeedableRng};

/// English-like text from a small grammar: Zipf-weighted words in sentences and paragraphs.
fn corpus_text(seed: u64, sentences: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "a",
        "to",
        "in",
        "is",
        "that",
        "it",
        "was",
        "for",
        "on",
        "are",
        "with",
        "as",
        "river",
        "house",
        "garden",
        "letter",
        "morning",
        "friend",
        "village",
        "winter",
        "road",
        "window",
        "walked",
        "said",
        "found",
        "looked",
        "thought",
        "heard",
        "kept",
        "carried",
        "opened",
        "remembered",
        "quiet",
        "old",
        "bright",
        "small",
        "long",
        "cold",
        "gentle",
        "strange",
        "early",
        "distant",
        "slowly",
        "again",
        "never",
        "always",
        "perhaps",
        "together",
        "beyond",
        "under",
        "across",
        "before",
    ];
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut out = String::new();
    for s in 0..sentences {
        let n = rng.random_range(6..16);
        for i in 0..n {
            let r = (WORDS.len() as f64).powf(rng.random::<f64>()) as usize - 1;
            let w = WORDS[r.min(WORDS.len() - 1)];
            if i == 0 {
                let mut c = w.chars();
                out.extend(c.next().map(|f| f.to_ascii_uppercase()));
                out.push_str(c.as_str());
            } else {
                out.push(' ');
                out.push_str(w);
            }
        }
        out.push_str(if s % 7 == 6 { ".\n\n" } else { ". " });
    }
    out
}

/// Writes the synthetic corpus into a directory of its own per call: tests run in parallel
/// threads of one process, and a shared directory let one test read a file another was
/// rewriting (CI saw three documents instead of four).
fn docs() -> Vec<Document> {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("provmark-evalcorpus-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..4 {
        std::fs::write(dir.join(format!("doc{i}.txt")), corpus_text(i, 1500)).unwrap();
    }
    let c = Corpus::read(std::slice::from_ref(&dir)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(c.documents.len(), 4);
    c.documents
}

/// The demo runs and the watermark shows. Watermarked rows have a green fraction near 0.6 on
/// this corpus (γ = 0.25, δ = 2); the test asks for more than 0.4 on average over two
/// 120-token texts, which fails only if the watermark has no effect.
#[test]
fn demo_end_to_end() {
    let docs = docs();
    let tok = provmark_text::load(&TokenizerSpec::default()).unwrap();
    let cfg = DemoConfig {
        prompts: 2,
        tokens: 120,
        order: 3,
        ..DemoConfig::default()
    };
    let result = demo::run(&docs, tok.as_ref(), &cfg).unwrap();
    // Human, unwatermarked and watermarked per prompt, then the pasted document.
    assert_eq!(result.rows.len(), 7);
    let pasted = result.rows.last().unwrap();
    assert_eq!(pasted.kind, Kind::Pasted);
    assert!(pasted.span.is_some());
    let wm: Vec<_> = result
        .rows
        .iter()
        .filter(|r| r.kind == Kind::Watermarked)
        .collect();
    let frac = wm
        .iter()
        .map(|r| r.detection.green as f64 / r.detection.scored as f64)
        .sum::<f64>()
        / wm.len() as f64;
    assert!(frac > 0.4, "green fraction {frac}");
    assert!(result.perplexity.is_some_and(|p| p.is_finite() && p > 1.0));
    let html = demo::report(&result, tok.as_ref(), &cfg).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && html.contains("class=\"g\"")
            && html.contains("class=\"overview\"")
            && html.contains("title=\"token 0: ")
            && !html.contains("http")
    );
}

#[test]
fn tiny_eval_end_to_end() {
    let docs = docs();
    let tok = provmark_text::load(&TokenizerSpec::default()).unwrap();
    let cfg = EvalConfig {
        gammas: vec![0.25],
        deltas: vec![2.0],
        contexts: vec![2],
        temperatures: vec![1.0],
        lengths: vec![25, 50],
        samples: 6,
        human_keys: 2,
        human_texts: 20,
        order: 3,
        threads: 2,
        radioactivity: Some(RadioConfig {
            shares: vec![0.0, 100.0],
            student_tokens: 3000,
            corpus_sizes: vec![600],
            other_accounts: 5,
            doc_tokens: 100,
            temperature: 1.0,
            query_temperature: 0.5,
            queries: vec![
                Queries::OpenModel,
                Queries::AccountPrompts,
                Queries::FreshPrompts,
            ],
        }),
        // The side-by-side table at toy size (every scheme, 3 generations of 50 tokens, 40
        // human tests each): the quick size is what `eval --quick` in CI measures.
        schemes: Some(provmark_cli::eval::schemes::SchemesConfig {
            samples: 3,
            lengths: vec![25, 50],
            human_keys: 2,
            ..provmark_cli::eval::schemes::SchemesConfig::quick(2)
        }),
        ..EvalConfig::quick()
    };
    let repetitive = vec![Document {
        source: "code".into(),
        text: "fn main() { let x = 1; }\n".repeat(200),
        prompt: None,
    }];
    let inputs = EvalInputs {
        documents: &docs,
        repetitive: &repetitive,
        tokenizer: tok.as_ref(),
        cache_dir: None,
    };
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let r = grid::run(&inputs, &cfg, &|_, _| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert!(calls.into_inner() > 0);
    assert_eq!(r.power.len(), 2);
    assert!(
        r.power
            .iter()
            .all(|p| p.tpr.iter().all(|x| (0.0..=1.0).contains(x)))
    );
    assert_eq!(r.false_positives.len(), 4);
    assert!(
        r.false_positives
            .iter()
            .all(|f| f.tests == 2 * r.corpus.human_texts)
    );
    assert_eq!(r.repetitive.len(), 2);
    // The repeated code line makes most tuples repeats; dedup scores each once.
    assert!(r.repetitive[0].repeated_fraction > 0.5);
    assert_eq!(r.quality.len(), 1);
    assert!(!r.robustness.is_empty() && !r.roc.is_empty());
    let radio = r.radioactivity.as_ref().unwrap();
    // Open model: sizes 600 and all 3 000 served tokens; sampled: 600; two shares each.
    assert_eq!(radio.rows.len(), 8);
    assert_eq!(radio.innocent.len(), 3);
    assert!(radio.innocent.iter().all(|i| i.p_values.len() == 6));
    assert!(radio.teacher_tokens >= 3000);
    assert!(radio.rows.iter().all(|r| r.ledger_contexts > 0));
    // A student trained only on A's 3 000 served tokens, forwarded through its weights: about
    // 60 % of its predictions are green where 25 % are expected (z ≈ 40 at this size), so
    // missing the attribution would take a ~30σ shortfall.
    let gate = r
        .checks
        .iter()
        .find(|c| c.name.contains("100 % watermarked text is attributed"))
        .expect("the open-model attribution gate");
    assert!(gate.passed, "{gate:?}");
    let schemes = r.schemes.as_ref().expect("the side-by-side table");
    let names: Vec<&str> = schemes.rows.iter().map(|r| r.scheme.as_str()).collect();
    assert_eq!(
        names,
        [
            "kgw",
            "gumbel",
            "synthid",
            "selfhash",
            "vllm-gumbel",
            "vllm-red-green"
        ]
    );
    assert!(schemes.rows.iter().all(|r| {
        r.human_tests > 0
            && r.power.iter().map(|p| p.0).eq([25, 50])
            && r.power.iter().all(|p| (0.0..=1.0).contains(&p.1))
    }));
    let md = provmark_cli::eval::tables::markdown(&r);
    assert!(md.contains("Radioactivity"));
    assert!(md.contains("True-positive rate") && md.contains("Robustness"));
    #[cfg(feature = "plots")]
    {
        let dir = std::env::temp_dir().join(format!("provmark-evalplots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        provmark_cli::eval::plots::write_all(&r, &dir).unwrap();
        assert!(
            std::fs::read_to_string(dir.join("roc.svg"))
                .unwrap()
                .contains("<svg")
        );
    }
    // Same seed, same numbers.
    let again = grid::run(&inputs, &cfg, &|_, _| {}).unwrap();
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}
