//! Attribution at scale: an audit of 10^6 coded accounts over 10^7 tokens (`audit/coded`).
//!
//! The corpus is synthetic token ids (vocabulary 50 000): 10 % of the 1 000-token documents
//! are watermarked under one account (half their tokens drawn from its green list), the rest
//! uniform. Almost every tuple is distinct, the worst case for deduplication. One iteration is
//! the whole audit: deriving the 10^6 accounts' codewords and key ids, scoring every document
//! and the report with its separation tests. `PROVMARK_BENCH_TOKENS` and
//! `PROVMARK_BENCH_ACCOUNTS` shrink it (CI's quick mode: 10^6 tokens, 10^5 accounts); the
//! bench id names the sizes.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use provmark::key::{SecretKey, Validity};
use provmark::provenance::accounts::{AccountMode, MasterKey};
use provmark::provenance::audit::{Audit, AuditConfig};
use provmark::scheme::{KgwParams, Scheme};
use provmark::text::{Normalization, TokenizerSpec};
use std::hint::black_box;

const DOC: usize = 1000;
const VOCAB: u64 = 50_000;

fn corpus(scheme: &dyn Scheme, tokens: usize) -> Vec<Vec<u32>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x = provmark::fingerprint::mix(x);
        x
    };
    (0..tokens / DOC)
        .map(|d| {
            let marked = d % 10 == 0;
            let mut doc: Vec<u32> = Vec::with_capacity(DOC);
            while doc.len() < DOC {
                let mut t = (next() % VOCAB) as u32;
                if marked && doc.len() >= 2 && next() % 2 == 0 {
                    let ctx = &doc[doc.len() - 2..];
                    while scheme.score(ctx, t).unwrap_or(1.0) == 0.0 {
                        t = (next() % VOCAB) as u32;
                    }
                }
                doc.push(t);
            }
            doc
        })
        .collect()
}

fn audit(c: &mut Criterion) {
    let size = |var: &str, default: usize| -> usize {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let tokens = size("PROVMARK_BENCH_TOKENS", 10_000_000);
    let n_accounts = size("PROVMARK_BENCH_ACCOUNTS", 1_000_000).max(1);
    let master = MasterKey {
        secret: SecretKey::from_bytes([42; 32]),
        params: KgwParams::default(),
        tokenizer: TokenizerSpec::default(),
        mode: AccountMode::Coded,
        normalization: Normalization::V1,
        validity: Validity::ALWAYS,
    };
    let accounts: Vec<String> = (0..n_accounts).map(|i| format!("dev-{i:07}")).collect();
    let culprit = accounts
        .get(n_accounts * 614 / 1000)
        .map_or("dev-0000000", String::as_str);
    let docs = corpus(master.account_key(culprit).scheme().as_ref(), tokens);
    let mut g = c.benchmark_group("audit");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.throughput(Throughput::Elements(tokens as u64));
    g.bench_function(
        format!("coded/{n_accounts}-accounts/{tokens}-tokens"),
        |b| {
            b.iter(|| {
                let mut a = Audit::new(AuditConfig::default()).unwrap();
                a.add_accounts(&master, &accounts).unwrap();
                for d in &docs {
                    a.add_document(d, None).unwrap();
                }
                let r = a.report().unwrap();
                assert_eq!(r.attribution.as_deref(), Some(culprit));
                black_box(r)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);
