//! The corpus audit: one pooled, exact binomial test per key or account over a whole corpus of
//! a suspect model's outputs.
//!
//! * Every distinct (context, token) tuple is scored once across the *whole* corpus (a 64-bit
//!   fingerprint per tuple is remembered; nothing else grows with the corpus).
//! * Tuples whose context occurs in a prompt are excluded (with `h = 0`, tuples whose token
//!   occurs in a prompt): text we sent as prompts must not count as evidence.
//! * With a [`Ledger`], only tuples whose context we served are scored.
//! * Per target, the green count among `n` scored tuples is `Binomial(n, γ)` under the null, so
//!   the p-value is exact; p-values across targets are corrected with Holm–Bonferroni.
//! * **Attribution** names one target only when its evidence is *separated* from every other
//!   target's: for the strongest target `a` and each other `b`, the test of "`b`'s holder made
//!   this" reads `a`'s green count on the tuples where `a`'s keyed choices differ from `b`'s.
//!   For coded accounts those are the tuples at positions where their codewords differ; a
//!   class key of `a` that `b` does not hold is independent of anything `b`'s holder can
//!   write, so that count is exactly `Binomial(n_D, γ)` under that hypothesis. Keys without
//!   shared material (independent keys, other schemes) differ on every tuple; keys with the
//!   same key id never differ. The smallest such p-value, Bonferroni-corrected over the other
//!   targets, must reach α. Otherwise no single name is given: every target that cannot be
//!   told apart is listed in `tied`, with the evidence ([`Separation`]).
//! * **Unlisted sources.** Separation only weighs the targets listed. A coded account shares
//!   its class with any other account at about 1 position in 16, so text from an account that
//!   was *not* listed makes the listed accounts that share most with it significant, and the
//!   strongest of them may be separated from the rest. For coded accounts the attribution
//!   therefore also needs the **codeword test** ([`CodewordTest`]): given every class's green
//!   count, is the account's count larger than that of a *random* codeword's? A source that
//!   does not hold the account's codeword (any other account, listed or not, or no watermark)
//!   leaves the account's 64 symbols independent of the counts, uniform over the 16 classes,
//!   so the tail over random codewords ([`stats::choice_sum_sf_ln`]) is a p-value against all
//!   of them at once; it is Bonferroni-corrected over the targets. When the strongest account
//!   is separated from the listed ones but fails this test, no name is given and
//!   `unlisted_source` is set.
//!
//! Feed documents incrementally and read the running result at any time:
//!
//! ```
//! use provmark::provenance::audit::{Audit, AuditConfig};
//! use provmark::{key::{KeyFile, SecretKey}, scheme::{KgwParams, SchemeConfig}, text::TokenizerSpec};
//! let key = KeyFile { secret: SecretKey::from_bytes([2; 32]), scheme: SchemeConfig::kgw(KgwParams::default()),
//!                     tokenizer: TokenizerSpec::default(), account: None,
//!                     normalization: Default::default(),
//!                     validity: Default::default(), coded: None };
//! let mut audit = Audit::new(AuditConfig::default())?;
//! audit.add_key(&key)?;
//! audit.add_document(&[5, 6, 7, 8, 9, 10], None)?;
//! let report = audit.report()?;
//! assert_eq!(report.rows[0].scored, 4);
//! assert!(report.attribution.is_none());
//! # Ok::<(), provmark::Error>(())
//! ```

use super::accounts::{AccountMode, Codeword, MasterKey};
use super::ledger::{Fingerprinter, Ledger};
use crate::detect::Verdict;
use crate::fingerprint::{CONTEXT_DOMAIN, FingerprintSet, TUPLE_DOMAIN, fingerprint};
use crate::key::{KeyFile, KeyId};
use crate::prf::{MAX_VOCAB, POSITION_MASK, PrfV1};
use crate::scheme::Kgw;
use crate::scheme::coded::{self, POSITIONS, SYMBOLS};
use crate::scheme::{ContextRule, DedupKey, NullModel, Scheme};
use crate::{Error, Result, stats};
use hmac::Mac;
use serde::Serialize;
use std::sync::Arc;

type FpSet = FingerprintSet;

/// Audit settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuditConfig {
    /// Family-wise significance level (after Holm–Bonferroni). Default 1e-6.
    pub alpha: f64,
    /// Exclude tuples whose context occurs in a prompt (and, for predictions, earlier in the
    /// same text). Default `true`.
    pub exclude_prompts: bool,
    /// Fewer scored tuples than this gives `insufficient`. Default 16.
    pub min_scored: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            alpha: 1e-6,
            exclude_prompts: true,
            min_scored: 16,
        }
    }
}

/// One row of the report: the evidence for one key or account.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRow {
    /// Key id (shifted account keys: master id `+` shift).
    pub key_id: KeyId,
    /// Account id, when the key was derived for an account.
    pub account: Option<String>,
    /// Documents fed.
    pub documents: u64,
    /// Tokens fed.
    pub tokens: u64,
    /// The key's scheme (`"kgw"`, `"gumbel"`, `"vllm-gumbel"`, …).
    pub scheme: String,
    /// Distinct tuples scored.
    pub scored: u64,
    /// The test statistic: summed scores (the green count for counting schemes).
    pub score: f64,
    /// Its null expectation.
    pub expected_score: f64,
    /// Scored positions shown as green (green tokens; for Gumbel scores, above the null
    /// median).
    pub green: u64,
    /// Their null expectation (`γ · scored`).
    pub expected_green: f64,
    /// z-score.
    pub z_score: f64,
    /// Exact p-value (0 when it underflows; see `log10_p_value`).
    pub p_value: f64,
    /// log10 of the p-value.
    pub log10_p_value: f64,
    /// Holm–Bonferroni corrected p-value.
    pub corrected_p_value: f64,
    /// log10 of the corrected p-value.
    pub corrected_log10_p_value: f64,
    /// Decision at α on the corrected p-value.
    pub verdict: Verdict,
    /// For a significant target that is not the attributed one: the attributed target, when
    /// this target's evidence is explained by it (its greens on the tuples where the two
    /// differ are not significant). Coded accounts share a class at about 1 position in 16,
    /// so a strong source makes the accounts that share most with it significant too.
    pub explained_by: Option<String>,
}

impl AuditRow {
    /// The account id, or the key id when there is no account.
    pub fn label(&self) -> &str {
        self.account.as_deref().unwrap_or(self.key_id.as_str())
    }
}

/// The evidence that separates the strongest target from one other.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Separation {
    /// The other target's account id or key id.
    pub other: String,
    /// Scored tuples on which the two targets' keyed choices differ (0 for identical keys).
    pub differing: u64,
    /// The strongest target's green count on them.
    pub green: u64,
    /// The other target's green count on them.
    pub other_green: u64,
    /// Their null expectation (`γ · differing`).
    pub expected_green: f64,
    /// log10 of the exact p-value of `green` under "the other target's holder made the text".
    pub log10_p_value: f64,
    /// Bonferroni-corrected over the other targets.
    pub corrected_log10_p_value: f64,
    /// Whether the corrected p-value reaches α.
    pub separated: bool,
}

/// The audit's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditReport {
    /// One row per key or account, in the order they were added.
    pub rows: Vec<AuditRow>,
    /// The key id or account id with the strongest significant evidence, named only when it
    /// is separated from every other target (see the module docs).
    pub attribution: Option<String>,
    /// When the strongest significant target is *not* separated from every other: it and
    /// every target it cannot be told apart from, strongest first. Empty otherwise.
    pub tied: Vec<String>,
    /// The separation evidence of the strongest significant target: against every target it
    /// is not separated from, and the [`SHOWN_SEPARATIONS`] weakest it is, weakest first.
    pub separations: Vec<Separation>,
    /// Other targets tested for separation.
    pub alternatives: u64,
    /// Other significant targets whose own evidence, on the tuples where they differ from the
    /// strongest target, is significant too (Bonferroni over the other targets): signs of a
    /// second source, not explained by the strongest.
    pub additional: Vec<String>,
    /// Codeword tests of the strongest significant target (first, when it is a coded account),
    /// then of the tied and the additional coded accounts; at most [`CODEWORD_TESTS`].
    pub codeword: Vec<CodewordTest>,
    /// The strongest significant target is a coded account separated from every listed
    /// target, yet its evidence does not follow its codeword: the watermark may come from an
    /// account that was not listed (or the evidence is too weak to tell). No name is given.
    pub unlisted_source: bool,
    /// Tuples left out because their context occurs in a prompt.
    pub excluded_prompt: u64,
    /// Tuples left out because their context is not in the ledger.
    pub excluded_ledger: u64,
}

/// The codeword test of one coded account: its green count against the green counts of random
/// codewords over the same class counts (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodewordTest {
    /// The account id.
    pub account: String,
    /// The account's green count (summed over its 64 classes).
    pub green: u64,
    /// The mean green count of a random codeword.
    pub expected_green: f64,
    /// log10 of the p-value over random codewords (an upper bound on it when `step > 1`).
    pub log10_p_value: f64,
    /// Bonferroni-corrected over the targets.
    pub corrected_log10_p_value: f64,
    /// 1 when exact; otherwise the rounding step of [`stats::choice_sum_sf_ln`].
    pub step: u64,
    /// Whether the corrected p-value reaches α: no source without this account's codeword
    /// explains the evidence.
    pub consistent: bool,
}

/// Coded accounts given a codeword test in one report, at most.
pub const CODEWORD_TESTS: usize = 32;

/// Bins of the codeword test's convolution: exact while the 64 classes' green counts span
/// fewer than this many units in all (about 20 ms of work at the limit).
const CODEWORD_BINS: usize = 1 << 16;

struct Single {
    scheme: Arc<dyn Scheme>,
    null: NullModel,
    green_above: f64,
    key_id: KeyId,
    account: Option<String>,
    /// Sum of the scores of the scored positions.
    score: f64,
    /// Scored positions above the scheme's green cut.
    green: u64,
}

/// Label of the subkey keying export fingerprints.
const EXPORT_LABEL: &str = "audit-export/v1";

/// The keyed 64-bit fingerprint of a scored tuple in an export: the first 8 bytes
/// (little-endian) of `HMAC-SHA256(derive(secret, "audit-export/v1"), h || context || token)`,
/// with `h` one byte and every token a little-endian `u32`. Parquet stores it as a signed
/// INT64 with the same bits.
///
/// ```
/// use provmark::key::SecretKey;
/// use provmark::provenance::audit::export_fingerprint;
/// let k = SecretKey::from_bytes([1; 32]);
/// assert_ne!(export_fingerprint(&k, &[5, 6], 7), export_fingerprint(&k, &[5, 6], 8));
/// ```
pub fn export_fingerprint(secret: &crate::key::SecretKey, context: &[u32], token: u32) -> u64 {
    Export {
        mac: secret.derive(EXPORT_LABEL).mac(),
        h: context.len(),
        table: ExportTable::default(),
    }
    .fingerprint(context, token)
}

/// What an export column holds per tuple.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportData {
    /// Whether the tuple is green (counting schemes).
    Green(Vec<bool>),
    /// The tuple's score (Gumbel-type schemes).
    Score(Vec<f64>),
    /// The account-independent part of a coded master: each tuple's position (0..64) and the
    /// green bits of its 16 classes (bit `c` for class `c`). Account `a`'s green count is the
    /// number of tuples whose bit `codeword_a[position]` is set.
    Coded {
        /// Position per tuple.
        positions: Vec<u8>,
        /// Class bits per tuple.
        classes: Vec<u16>,
    },
}

/// One column of an export: a key (named by key id) or a coded master (its key id).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportColumn {
    /// The key id of the key or master.
    pub name: String,
    /// Per-tuple data.
    pub data: ExportData,
}

/// The distinct scored tuples of an audit (or of several merged), column-wise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportTable {
    /// Context width of the tuples.
    pub h: usize,
    /// Keyed fingerprint per tuple ([`export_fingerprint`]).
    pub fingerprints: Vec<u64>,
    /// One column per target: keys first, in the order added, then coded masters.
    pub columns: Vec<ExportColumn>,
}

struct Export {
    mac: crate::key::HmacSha256,
    h: usize,
    table: ExportTable,
}

impl Export {
    fn fingerprint(&self, context: &[u32], token: u32) -> u64 {
        let mut m = self.mac.clone();
        m.update(&[self.h as u8]);
        for t in context.iter().chain([&token]) {
            m.update(&t.to_le_bytes());
        }
        let out = m.finalize().into_bytes();
        let mut b = [0u8; 8];
        b.copy_from_slice(out.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(b)
    }
}

/// Empty export columns for a group's targets.
fn export_columns(g: &Group) -> Vec<ExportColumn> {
    let singles = g.singles.iter().map(|s| ExportColumn {
        name: s.key_id.to_string(),
        data: match s.null {
            NullModel::Bernoulli { .. } => ExportData::Green(Vec::new()),
            _ => ExportData::Score(Vec::new()),
        },
    });
    let coded = g.coded.iter().map(|c| ExportColumn {
        name: c.master_id.to_string(),
        data: ExportData::Coded {
            positions: Vec::new(),
            classes: Vec::new(),
        },
    });
    singles.chain(coded).collect()
}

/// Separated alternatives shown in a report besides every unseparated one.
pub const SHOWN_SEPARATIONS: usize = 5;

/// Coded accounts of one master: the 16 classes of every position scored once per tuple.
struct CodedSet {
    master_id: KeyId,
    position: crate::prf::PrfV2,
    /// Class green lists, index `position * 16 + symbol`.
    classes: Vec<Kgw>,
    gamma: f64,
    /// (account, key id, codeword), in the order given.
    accounts: Vec<(String, KeyId, Codeword)>,
    /// Scored tuples per position.
    n: [u64; POSITIONS],
    /// Green tuples per class.
    green: Vec<u64>,
}

impl CodedSet {
    fn account_green(&self, cw: &Codeword) -> u64 {
        (0..POSITIONS)
            .map(|j| {
                self.green
                    .get(j * SYMBOLS + cw.symbol(j))
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }

    /// The codeword test's null: the green count of a random codeword over these class
    /// counts, and its mean.
    fn codeword_null(&self) -> Result<(stats::ChoiceSum, f64)> {
        let tables: Vec<&[u64]> = self.green.chunks(SYMBOLS).take(POSITIONS).collect();
        let expected = self.green.iter().sum::<u64>() as f64 / SYMBOLS as f64;
        Ok((stats::ChoiceSum::new(&tables, CODEWORD_BINS)?, expected))
    }

    /// (tuples, green of `a`, green of `b`) on the positions where `a` and `b` differ.
    fn differing(&self, a: &Codeword, b: &Codeword) -> (u64, u64, u64) {
        let mut out = (0, 0, 0);
        for j in a.differing(b) {
            let at = |c: usize| self.green.get(j * SYMBOLS + c).copied().unwrap_or(0);
            out.0 += self.n.get(j).copied().unwrap_or(0);
            out.1 += at(a.symbol(j));
            out.2 += at(b.symbol(j));
        }
        out
    }
}

struct Shifted {
    prf: PrfV1,
    threshold: u8,
    gamma: f64,
    /// (account, key id, shift), in the order given.
    accounts: Vec<(String, KeyId, u32)>,
    green: Vec<u64>,
}

/// Targets sharing a context rule and a deduplication key (so one set of scored positions).
struct Group {
    h: usize,
    pad: Option<u32>,
    dedup: DedupKey,
    singles: Vec<Single>,
    shifted: Vec<Shifted>,
    coded: Vec<CodedSet>,
    seen: FpSet,
    prompt_ctx: FpSet,
    scored: u64,
}

/// An incremental corpus audit (see the module docs).
pub struct Audit {
    config: AuditConfig,
    groups: Vec<Group>,
    /// Insertion order of targets: (group, kind, index).
    order: Vec<(usize, Slot)>,
    ledger: Option<(Ledger, Fingerprinter)>,
    export: Option<Export>,
    /// Tuples came from [`Audit::add_exported`] (which cannot be mixed with documents).
    imported: bool,
    documents: u64,
    tokens: u64,
    excluded_prompt: u64,
    excluded_ledger: u64,
}

#[derive(Clone, Copy)]
enum Slot {
    Single(usize),
    Account(usize, usize),
    Coded(usize, usize),
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Audit({} targets, {} documents, {} tokens)",
            self.order.len(),
            self.documents,
            self.tokens
        )
    }
}

impl Audit {
    /// An empty audit.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `0 < alpha < 1`.
    pub fn new(config: AuditConfig) -> Result<Self> {
        if !(config.alpha > 0.0 && config.alpha < 1.0) {
            return Err(Error::param("alpha", "must be strictly between 0 and 1"));
        }
        Ok(Audit {
            config,
            groups: Vec::new(),
            order: Vec::new(),
            ledger: None,
            export: None,
            imported: false,
            documents: 0,
            tokens: 0,
            excluded_prompt: 0,
            excluded_ledger: 0,
        })
    }

    fn group(&mut self, rule: ContextRule, dedup: DedupKey) -> Result<usize> {
        let h = rule.width;
        if self.documents > 0 {
            return Err(Error::InvalidInput(
                "add keys and accounts before the first document".into(),
            ));
        }
        if let Some((l, _)) = &self.ledger {
            if l.h != h {
                return Err(Error::InvalidInput(format!(
                    "the ledger has context width {}, a key has {h}",
                    l.h
                )));
            }
        }
        // A keyed dedup set belongs to one key: never shared.
        if let Some(i) = self.groups.iter().position(|g| {
            g.h == h && g.pad == rule.pad && g.dedup == dedup && dedup != DedupKey::Keyed
        }) {
            return Ok(i);
        }
        self.groups.push(Group {
            h,
            pad: rule.pad,
            dedup,
            singles: Vec::new(),
            shifted: Vec::new(),
            coded: Vec::new(),
            seen: FpSet::default(),
            prompt_ctx: FpSet::default(),
            scored: 0,
        });
        Ok(self.groups.len() - 1)
    }

    /// Adds a key to test (any key file, including a derived account key).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] after documents were added, or when a ledger of another width
    /// is set.
    pub fn add_key(&mut self, key: &KeyFile) -> Result<()> {
        let scheme = key.scheme();
        let g = self.group(scheme.context_rule(), scheme.dedup_key())?;
        let group = self.groups.get_mut(g).ok_or(Error::NoCandidates)?;
        let null = scheme.null();
        group.singles.push(Single {
            green_above: null.green_above(),
            null,
            scheme,
            key_id: key.key_id(),
            account: key.account.clone(),
            score: 0.0,
            green: 0,
        });
        let i = group.singles.len() - 1;
        self.order.push((g, Slot::Single(i)));
        Ok(())
    }

    /// Adds every account of `master` (coded and shifted modes: scored in one pass;
    /// independent mode: as separate keys).
    ///
    /// # Errors
    /// As [`Audit::add_key`]; [`Error::InvalidInput`] for an account listed twice.
    pub fn add_accounts(&mut self, master: &MasterKey, accounts: &[String]) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(accounts.len());
        if let Some(dup) = accounts.iter().find(|a| !seen.insert(a.as_str())) {
            return Err(Error::InvalidInput(format!(
                "account {dup:?} is listed twice"
            )));
        }
        drop(seen);
        if master.mode == AccountMode::Coded {
            return self.add_coded(master, accounts);
        }
        if master.mode == AccountMode::Independent {
            for a in accounts {
                self.add_key(&master.account_key(a))?;
            }
            return Ok(());
        }
        let g = self.group(
            ContextRule {
                width: master.params.context(),
                pad: None,
            },
            DedupKey::Tuple,
        )?;
        let list: Vec<(String, KeyId, u32)> = accounts
            .iter()
            .map(|a| {
                let s = master.account_shift(a);
                (a.clone(), master.account_key(a).key_id(), s)
            })
            .collect();
        let group = self.groups.get_mut(g).ok_or(Error::NoCandidates)?;
        let idx = group.shifted.len();
        self.order
            .extend((0..list.len()).map(|a| (g, Slot::Account(idx, a))));
        let n = list.len();
        group.shifted.push(Shifted {
            prf: PrfV1::new(&master.secret),
            threshold: master.params.threshold(),
            gamma: master.params.gamma(),
            accounts: list,
            green: vec![0; n],
        });
        Ok(())
    }

    fn check_not_imported(&self) -> Result<()> {
        if self.imported {
            return Err(Error::InvalidInput(
                "documents cannot be mixed with exported tuples".into(),
            ));
        }
        Ok(())
    }

    fn add_coded(&mut self, master: &MasterKey, accounts: &[String]) -> Result<()> {
        let g = self.group(
            ContextRule {
                width: master.params.context(),
                pad: None,
            },
            DedupKey::Tuple,
        )?;
        let names = || accounts.iter().map(String::as_str);
        let list: Vec<(String, KeyId, Codeword)> = accounts
            .iter()
            .zip(master.account_secrets(names()))
            .zip(master.codewords(names()))
            .map(|((a, s), cw)| (a.clone(), s.long_key_id(), cw))
            .collect();
        let group = self.groups.get_mut(g).ok_or(Error::NoCandidates)?;
        let idx = group.coded.len();
        self.order
            .extend((0..list.len()).map(|a| (g, Slot::Coded(idx, a))));
        group.coded.push(CodedSet {
            master_id: master.key_id(),
            position: coded::position_prf(&master.position_key()),
            classes: master
                .class_keys()
                .iter()
                .map(|k| coded::class_kgw(k, master.params))
                .collect(),
            gamma: master.params.gamma(),
            accounts: list,
            n: [0; POSITIONS],
            green: vec![0; POSITIONS * SYMBOLS],
        });
        Ok(())
    }

    /// Restricts scoring to contexts in `ledger`, made with `key` (a key's or the master's
    /// secret).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the ledger is not `key`'s, its width differs from a
    /// target's, or documents were already added.
    pub fn set_ledger(&mut self, ledger: Ledger, key: &crate::key::SecretKey) -> Result<()> {
        if self.documents > 0 {
            return Err(Error::InvalidInput(
                "set the ledger before the first document".into(),
            ));
        }
        if let Some(g) = self.groups.iter().find(|g| g.h != ledger.h) {
            return Err(Error::InvalidInput(format!(
                "the ledger has context width {}, a key has {}",
                ledger.h, g.h
            )));
        }
        let fp = ledger.fingerprinter(key)?;
        self.ledger = Some((ledger, fp));
        Ok(())
    }

    /// Records a prompt, so tuples with its contexts are excluded from then on. Feed all
    /// prompts first for a complete exclusion.
    pub fn add_prompt(&mut self, prompt: &[u32]) {
        for g in &mut self.groups {
            let w = if g.h == 0 { 1 } else { g.h };
            for win in prompt.windows(w) {
                g.prompt_ctx.insert(fingerprint(CONTEXT_DOMAIN, win, None));
            }
        }
    }

    /// Scores a document (token ids); its prompt, if given, is recorded first.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for an id ≥ 2^21 (nothing is consumed).
    pub fn add_document(&mut self, ids: &[u32], prompt: Option<&[u32]>) -> Result<()> {
        self.check_not_imported()?;
        crate::check_token_ids(ids, MAX_VOCAB, 0)?;
        if let Some(p) = prompt {
            if self.config.exclude_prompts {
                self.add_prompt(p);
            }
        }
        self.documents += 1;
        self.tokens += ids.len() as u64;
        self.score(ids, ids, false)
    }

    /// Scores a suspect model's own next-token predictions along a text: the *open-model*
    /// test (Sander et al. 2024), for when the suspect's weights are at hand.
    ///
    /// `predictions[t]` is the suspect's choice (its most likely token, say) after
    /// `text[..t]`, so the two slices have equal length. The tuple scored at `t` is the
    /// context `text[t − h..t]` followed by `predictions[t]`. Feed texts we served — a model
    /// that learned from them predicts our green tokens in their contexts far more often than
    /// it emits them when merely sampled. The predictions for one text must depend on that
    /// text's prefix only; a prediction whose context already occurred earlier in the same
    /// text is skipped (it could copy what followed there) and counted as excluded by a
    /// prompt, since the prefix is the prediction's prompt ([`AuditConfig::exclude_prompts`]
    /// switches both off). Global dedup, prompts and the
    /// ledger apply as for [`Audit::add_document`], and both kinds of input pool into the same
    /// tests.
    ///
    /// ```
    /// use provmark::provenance::audit::{Audit, AuditConfig};
    /// use provmark::{key::{KeyFile, SecretKey}, scheme::{KgwParams, SchemeConfig}, text::TokenizerSpec};
    /// let key = KeyFile { secret: SecretKey::from_bytes([2; 32]), scheme: SchemeConfig::kgw(KgwParams::default()),
    ///                     tokenizer: TokenizerSpec::default(), account: None,
    ///                     normalization: Default::default(),
    ///                     validity: Default::default(), coded: None };
    /// let mut audit = Audit::new(AuditConfig::default())?;
    /// audit.add_key(&key)?;
    /// // Predictions after [5], [5, 6], …; the first h = 2 positions have no full context.
    /// audit.add_predictions(&[5, 6, 7, 8, 9], &[6, 7, 9, 9, 10])?;
    /// assert_eq!(audit.report()?.rows[0].scored, 3);
    /// # Ok::<(), provmark::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the lengths differ; [`Error::TokenOutOfRange`] for an id
    /// ≥ 2^21. Nothing is consumed on error.
    pub fn add_predictions(&mut self, text: &[u32], predictions: &[u32]) -> Result<()> {
        if text.len() != predictions.len() {
            return Err(Error::InvalidInput(format!(
                "{} predictions for a text of {} tokens; give one per position",
                predictions.len(),
                text.len()
            )));
        }
        self.check_not_imported()?;
        crate::check_token_ids(text, MAX_VOCAB, 0)?;
        crate::check_token_ids(predictions, MAX_VOCAB, 0)?;
        self.documents += 1;
        self.tokens += text.len() as u64;
        self.score(text, predictions, self.config.exclude_prompts)
    }

    /// Scores the tuples (`text[t − h..t]`, `next[t]`) of every group that pass the prompt,
    /// repeated-context (when `skip_repeated`) and ledger filters and are new to the corpus.
    fn score(&mut self, text: &[u32], next: &[u32], skip_repeated: bool) -> Result<()> {
        let exclude = self.config.exclude_prompts;
        for g in &mut self.groups {
            let h = g.h;
            // Padded rules (vLLM) score every position, the first ones after padding words.
            let (base, start): (std::borrow::Cow<'_, [u32]>, usize) = match g.pad {
                Some(pad) => (
                    std::iter::repeat_n(pad, h)
                        .chain(text.iter().copied())
                        .collect::<Vec<u32>>()
                        .into(),
                    0,
                ),
                None => (text.into(), h),
            };
            let off = base.len() - text.len();
            let context_at = |t: usize| base.get(t + off - h..t + off);
            let mut earlier = FpSet::default();
            let mut fresh: Vec<(usize, u32)> = Vec::new();
            for t in start..text.len() {
                let (Some(ctx), Some(&tok)) = (context_at(t), next.get(t)) else {
                    continue;
                };
                // With h = 0 a token's colour depends on the token alone, so the token is
                // what a prompt or an earlier position would reveal.
                let probe = |tok: u32| {
                    if h == 0 {
                        fingerprint(CONTEXT_DOMAIN, &[tok], None)
                    } else {
                        fingerprint(CONTEXT_DOMAIN, ctx, None)
                    }
                };
                if skip_repeated {
                    let seen_before = earlier.contains(&probe(tok));
                    if let Some(&own) = text.get(t) {
                        earlier.insert(probe(own));
                    }
                    if seen_before {
                        self.excluded_prompt += 1;
                        continue;
                    }
                }
                if exclude && !g.prompt_ctx.is_empty() && g.prompt_ctx.contains(&probe(tok)) {
                    self.excluded_prompt += 1;
                    continue;
                }
                if let Some((ledger, f)) = &self.ledger {
                    if !ledger.contains(f, ctx) {
                        self.excluded_ledger += 1;
                        continue;
                    }
                }
                let key = match g.dedup {
                    DedupKey::Tuple => fingerprint(TUPLE_DOMAIN, ctx, Some(tok)),
                    DedupKey::Context => fingerprint(CONTEXT_DOMAIN, ctx, None),
                    // A keyed group holds exactly one key (see `group`).
                    DedupKey::Keyed => match g.singles.first() {
                        Some(s) => s.scheme.keyed_fingerprint(ctx, tok)?,
                        None => continue,
                    },
                };
                if g.seen.insert(key) {
                    fresh.push((t, tok));
                }
            }
            g.scored += fresh.len() as u64;
            let mut export = self.export.as_mut();
            for &(t, tok) in &fresh {
                let Some(ctx) = context_at(t) else {
                    continue;
                };
                if let Some(e) = export.as_deref_mut() {
                    e.table.fingerprints.push(e.fingerprint(ctx, tok));
                }
                for (i, s) in g.singles.iter_mut().enumerate() {
                    let x = s.scheme.score(ctx, tok)?;
                    s.score += x;
                    s.green += u64::from(x > s.green_above);
                    if let Some(c) = export
                        .as_deref_mut()
                        .and_then(|e| e.table.columns.get_mut(i))
                    {
                        match &mut c.data {
                            ExportData::Green(v) => v.push(x > s.green_above),
                            ExportData::Score(v) => v.push(x),
                            ExportData::Coded { .. } => {}
                        }
                    }
                }
            }
            for sh in &mut g.shifted {
                score_shifted(sh, text, h, &fresh)?;
            }
            let singles = g.singles.len();
            for (i, cs) in g.coded.iter_mut().enumerate() {
                let col = export
                    .as_deref_mut()
                    .and_then(|e| e.table.columns.get_mut(singles + i));
                score_coded(cs, &context_at, &fresh, col)?;
            }
        }
        Ok(())
    }

    /// Records every distinct scored tuple from now on, for [`Audit::take_export`]: its keyed
    /// fingerprint (under `secret`, see [`export_fingerprint`]) and what each target needs to
    /// score it. Call after adding targets and before the first document.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] after documents were fed, with targets of more than one context
    /// rule, with shifted (version 1) masters, or with schemes not deduplicated by tuple
    /// (vLLM's, SelfHash): their rows would not merge by exact DISTINCT.
    pub fn enable_export(&mut self, secret: &crate::key::SecretKey) -> Result<()> {
        if self.documents > 0 || self.imported {
            return Err(Error::InvalidInput(
                "enable the export before the first document".into(),
            ));
        }
        let [g] = self.groups.as_slice() else {
            return Err(Error::InvalidInput(
                "an export holds targets of one context width; export them separately".into(),
            ));
        };
        if g.dedup != DedupKey::Tuple || g.pad.is_some() {
            return Err(Error::InvalidInput(
                "exports support schemes deduplicated by (context, token) tuple (kgw, kgw-coded, gumbel, synthid)".into(),
            ));
        }
        if !g.shifted.is_empty() {
            return Err(Error::InvalidInput(
                "shifted (version 1) masters cannot be exported; use a coded master".into(),
            ));
        }
        self.export = Some(Export {
            mac: secret.derive(EXPORT_LABEL).mac(),
            h: g.h,
            table: ExportTable {
                h: g.h,
                fingerprints: Vec::new(),
                columns: export_columns(g),
            },
        });
        Ok(())
    }

    /// The tuples recorded since [`Audit::enable_export`] (and recording stops).
    pub fn take_export(&mut self) -> Option<ExportTable> {
        self.export.take().map(|e| e.table)
    }

    /// Scores exported tuples (for example the exact DISTINCT union of several shards'
    /// exports) as if their documents had been fed: the audit must hold the same targets, in
    /// the same order, as the audits that exported them. Tuples are deduplicated by
    /// fingerprint. Cannot be mixed with [`Audit::add_document`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the columns do not match the targets, columns differ in
    /// length, a position or value is out of range, or documents were fed.
    pub fn add_exported(&mut self, table: &ExportTable) -> Result<()> {
        if self.documents > 0 {
            return Err(Error::InvalidInput(
                "exported tuples cannot be mixed with documents".into(),
            ));
        }
        let [g] = self.groups.as_mut_slice() else {
            return Err(Error::InvalidInput(
                "an export holds targets of one context width".into(),
            ));
        };
        let want = export_columns(g);
        let names = |c: &[ExportColumn]| c.iter().map(|x| x.name.clone()).collect::<Vec<_>>();
        if table.h != g.h || names(&want) != names(&table.columns) || !g.shifted.is_empty() {
            return Err(Error::InvalidInput(format!(
                "the export has context width {} and columns {:?}; these targets need width {} and {:?}",
                table.h,
                names(&table.columns),
                g.h,
                names(&want)
            )));
        }
        let n = table.fingerprints.len();
        for (c, w) in table.columns.iter().zip(&want) {
            let ok = match (&c.data, &w.data) {
                (ExportData::Green(v), ExportData::Green(_)) => v.len() == n,
                (ExportData::Score(v), ExportData::Score(_)) => v.len() == n,
                (ExportData::Coded { positions, classes }, ExportData::Coded { .. }) => {
                    positions.len() == n
                        && classes.len() == n
                        && positions.iter().all(|&p| usize::from(p) < POSITIONS)
                }
                _ => false,
            };
            if !ok {
                return Err(Error::InvalidInput(format!(
                    "export column {} has the wrong kind, length or range",
                    c.name
                )));
            }
        }
        self.imported = true;
        let singles = g.singles.len();
        for (row, &fp) in table.fingerprints.iter().enumerate() {
            if !g.seen.insert(fp) {
                continue;
            }
            g.scored += 1;
            for (s, c) in g.singles.iter_mut().zip(&table.columns) {
                let x = match &c.data {
                    ExportData::Green(v) => {
                        f64::from(u8::from(v.get(row).copied().unwrap_or(false)))
                    }
                    ExportData::Score(v) => v.get(row).copied().unwrap_or(0.0),
                    ExportData::Coded { .. } => 0.0,
                };
                s.score += x;
                s.green += u64::from(x > s.green_above);
            }
            for (cs, c) in g
                .coded
                .iter_mut()
                .zip(table.columns.get(singles..).unwrap_or_default())
            {
                if let ExportData::Coded { positions, classes } = &c.data {
                    let (Some(&j), Some(&bits)) = (positions.get(row), classes.get(row)) else {
                        continue;
                    };
                    let j = usize::from(j);
                    if let Some(x) = cs.n.get_mut(j) {
                        *x += 1;
                    }
                    for sym in 0..SYMBOLS {
                        if let Some(x) = cs.green.get_mut(j * SYMBOLS + sym) {
                            *x += u64::from(bits >> sym & 1);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Documents fed so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// The running result.
    ///
    /// # Errors
    /// [`Error::Numerical`] if a tail computation fails.
    pub fn report(&self) -> Result<AuditReport> {
        let mut rows = Vec::with_capacity(self.order.len());
        let mut ln_ps = Vec::with_capacity(self.order.len());
        let mut tails: std::collections::HashMap<(u64, u64, u64), f64> =
            std::collections::HashMap::new();
        for &(gi, slot) in &self.order {
            let Some(g) = self.groups.get(gi) else {
                continue;
            };
            let (key_id, account, green, score, null, scheme) = match slot {
                Slot::Single(i) => {
                    let Some(s) = g.singles.get(i) else { continue };
                    (
                        s.key_id.clone(),
                        s.account.clone(),
                        s.green,
                        s.score,
                        s.null,
                        s.scheme.name(),
                    )
                }
                Slot::Coded(i, a) => {
                    let Some(cs) = g.coded.get(i) else { continue };
                    let Some((name, id, cw)) = cs.accounts.get(a) else {
                        continue;
                    };
                    let green = cs.account_green(cw);
                    (
                        id.clone(),
                        Some(name.clone()),
                        green,
                        green as f64,
                        NullModel::Bernoulli { p: cs.gamma },
                        "kgw-coded",
                    )
                }
                Slot::Account(i, a) => {
                    let Some(sh) = g.shifted.get(i) else { continue };
                    let Some((name, id, _)) = sh.accounts.get(a) else {
                        continue;
                    };
                    let green = sh.green.get(a).copied().unwrap_or(0);
                    (
                        id.clone(),
                        Some(name.clone()),
                        green,
                        green as f64,
                        NullModel::Bernoulli { p: sh.gamma },
                        "kgw",
                    )
                }
            };
            let n = usize::try_from(g.scored).unwrap_or(usize::MAX);
            // The exact tail (for vLLM's dual-key score, not vLLM's approximation). Accounts
            // of one master share `n` and take few distinct green counts: computed once each.
            let ln_p = match null {
                NullModel::Bernoulli { p } => {
                    let key = (g.scored, green, p.to_bits());
                    match tails.get(&key) {
                        Some(&l) => l,
                        None => {
                            let l = null.exact_tail_ln(n, score)?;
                            tails.insert(key, l);
                            l
                        }
                    }
                }
                _ => null.exact_tail_ln(n, score)?,
            };
            ln_ps.push(ln_p);
            let (mean, _) = null.moments();
            rows.push(AuditRow {
                key_id,
                account,
                scheme: scheme.to_string(),
                documents: self.documents,
                tokens: self.tokens,
                scored: g.scored,
                score,
                expected_score: mean * g.scored as f64,
                green,
                expected_green: null.green_probability() * g.scored as f64,
                z_score: null.z_score(n, score),
                p_value: ln_p.exp(),
                log10_p_value: ln_p / std::f64::consts::LN_10,
                corrected_p_value: 1.0,
                corrected_log10_p_value: 0.0,
                verdict: Verdict::Insufficient,
                explained_by: None,
            });
        }
        let ln_alpha = self.config.alpha.ln();
        for (row, adj) in rows.iter_mut().zip(stats::holm(&ln_ps)) {
            row.corrected_p_value = adj.exp();
            row.corrected_log10_p_value = adj / std::f64::consts::LN_10;
            row.verdict = if row.scored < self.config.min_scored {
                Verdict::Insufficient
            } else if adj <= ln_alpha {
                Verdict::Watermarked
            } else {
                Verdict::NotWatermarked
            };
        }
        let best = rows
            .iter()
            .zip(&ln_ps)
            .enumerate()
            .filter(|(_, (r, _))| r.verdict == Verdict::Watermarked)
            .min_by(|a, b| a.1.1.total_cmp(b.1.1))
            .map(|(i, _)| i);
        let sep = match best {
            Some(b) => self.separate(b, &rows, &ln_ps)?,
            None => SeparationResult::default(),
        };
        let codeword = self.candidate_codeword_tests(best, &sep, &rows)?;
        // A coded best must also pass its codeword test (unlisted sources).
        let best_coded = best.is_some_and(|b| matches!(self.coded_refs().get(b), Some(Some(_))));
        let best_consistent = codeword.first().is_some_and(|c| c.consistent);
        let unlisted_source =
            best.is_some() && sep.tied.is_empty() && best_coded && !best_consistent;
        let attribution = best
            .filter(|_| sep.tied.is_empty() && !unlisted_source)
            .and_then(|b| rows.get(b))
            .map(|r| r.label().to_string());
        if let Some(a) = &attribution {
            for &i in &sep.explained {
                if let Some(r) = rows.get_mut(i) {
                    r.explained_by = Some(a.clone());
                }
            }
        }
        let tied = if sep.tied.is_empty() {
            Vec::new()
        } else {
            let mut t: Vec<usize> = best.into_iter().chain(sep.tied).collect();
            t.sort_by(|&x, &y| {
                let l = |i: usize| ln_ps.get(i).copied().unwrap_or(0.0);
                l(x).total_cmp(&l(y)).then(x.cmp(&y))
            });
            t.iter()
                .filter_map(|&i| rows.get(i))
                .map(|r| r.label().to_string())
                .collect()
        };
        Ok(AuditReport {
            attribution,
            tied,
            separations: sep.shown,
            alternatives: rows.len().saturating_sub(1) as u64,
            additional: sep.additional,
            codeword,
            unlisted_source,
            rows,
            excluded_prompt: self.excluded_prompt,
            excluded_ledger: self.excluded_ledger,
        })
    }
}

#[derive(Default)]
struct SeparationResult {
    /// Indices of the targets the best is not separated from.
    tied: Vec<usize>,
    shown: Vec<Separation>,
    additional: Vec<String>,
    /// Their indices.
    additional_idx: Vec<usize>,
    /// Significant targets separated from the best whose own evidence it explains.
    explained: Vec<usize>,
}

impl Audit {
    /// Where each row's evidence lives: a coded account's set and codeword, or `None` for
    /// targets whose keyed choices share nothing with another key but an identical key.
    fn coded_refs(&self) -> Vec<Option<(usize, usize, Codeword)>> {
        self.order
            .iter()
            .filter_map(|&(gi, slot)| {
                let g = self.groups.get(gi)?;
                Some(match slot {
                    Slot::Coded(i, a) => g
                        .coded
                        .get(i)
                        .and_then(|cs| cs.accounts.get(a))
                        .map(|x| (gi, i, x.2)),
                    _ => None,
                })
            })
            .collect()
    }

    /// The separation tests of target `best` against every other (see the module docs).
    ///
    /// With 10^6 accounts most alternatives are separated by a wide margin: a cheap bound
    /// ([`stats::binomial_sf_ln_bounds`]) settles those, and the exact tail is computed for
    /// every alternative whose bounds straddle α or which could be among the weakest shown.
    fn separate(&self, best: usize, rows: &[AuditRow], ln_ps: &[f64]) -> Result<SeparationResult> {
        let refs = self.coded_refs();
        let (Some(b), Some(&bref)) = (rows.get(best), refs.get(best)) else {
            return Ok(SeparationResult::default());
        };
        let ln_others = (rows.len().saturating_sub(1).max(1) as f64).ln();
        let ln_alpha = self.config.alpha.ln();
        let gamma_best = b.expected_green / (b.scored.max(1) as f64);
        struct Alt {
            t: usize,
            n_d: u64,
            gb: u64,
            go: u64,
            /// Bounds on ln p of `gb` (equal when exact).
            lo: f64,
            hi: f64,
            exact: bool,
            /// Both are coded accounts of one master.
            shared: bool,
        }
        let mut alts: Vec<Alt> = Vec::with_capacity(rows.len());
        for (t, (r, &tref)) in rows.iter().zip(&refs).enumerate() {
            if t == best {
                continue;
            }
            let (n_d, gb, go, known) = match (bref, tref) {
                (Some((g1, s1, cb)), Some((g2, s2, co))) if g1 == g2 && s1 == s2 => {
                    let cs = self
                        .groups
                        .get(g1)
                        .and_then(|g| g.coded.get(s1))
                        .ok_or(Error::NoCandidates)?;
                    let (n_d, gb, go) = cs.differing(&cb, &co);
                    (n_d, gb, go, None)
                }
                // Identical keys never differ.
                _ if r.key_id == b.key_id => (0, 0, 0, Some(0.0)),
                _ => (
                    b.scored,
                    b.green,
                    r.green,
                    Some(ln_ps.get(best).copied().unwrap_or(0.0)),
                ),
            };
            let (lo, hi, exact) = match known {
                Some(l) => (l, l, true),
                None => match stats::binomial_sf_ln_bounds(gb, n_d, gamma_best) {
                    Some((lo, hi)) => (lo, hi, false),
                    None => {
                        let l = stats::binomial_sf_ln(gb, n_d, gamma_best)?;
                        (l, l, true)
                    }
                },
            };
            alts.push(Alt {
                t,
                n_d,
                gb,
                go,
                lo,
                hi,
                exact,
                shared: known.is_none(),
            });
        }
        // Exact tails for every alternative not surely separated (all of them are shown), and
        // for every one that could be among the weakest shown (its upper bound reaches the
        // lower bound of the SHOWN_SEPARATIONS-th weakest, below which no shown one lies).
        let mut lows: Vec<f64> = alts.iter().map(|a| a.lo).collect();
        let k = SHOWN_SEPARATIONS.min(lows.len());
        let cut = if k > 0 {
            let (_, kth, _) = lows.select_nth_unstable_by(k - 1, |x, y| y.total_cmp(x));
            *kth
        } else {
            f64::INFINITY
        };
        for a in &mut alts {
            if !a.exact && (a.hi + ln_others > ln_alpha || a.hi >= cut) {
                let l = stats::binomial_sf_ln(a.gb, a.n_d, gamma_best)?;
                (a.lo, a.hi, a.exact) = (l, l, true);
            }
        }
        let mut all: Vec<(usize, Separation)> = Vec::with_capacity(alts.len());
        let mut additional = Vec::new();
        let mut additional_idx = Vec::new();
        let mut explained = Vec::new();
        for a in &alts {
            let Some(r) = rows.get(a.t) else { continue };
            // Inexact entries are surely separated (by their upper bound) and never shown.
            let corrected = (a.hi + ln_others).min(0.0);
            let separated = corrected <= ln_alpha && a.n_d > 0;
            if r.verdict == Verdict::Watermarked && a.n_d > 0 {
                // The other's own greens where it differs from the best: a second source?
                let ln_p_other = if a.shared {
                    // Settled by the bounds where they agree (no tail when not above γ).
                    match stats::binomial_sf_ln_bounds(a.go, a.n_d, gamma_best) {
                        None => 0.0,
                        Some((lo, _)) if lo + ln_others > ln_alpha => lo,
                        Some((_, hi)) if hi + ln_others <= ln_alpha => hi,
                        Some(_) => stats::binomial_sf_ln(a.go, a.n_d, gamma_best)?,
                    }
                } else {
                    ln_ps.get(a.t).copied().unwrap_or(0.0)
                };
                if ln_p_other + ln_others <= ln_alpha {
                    additional.push(r.label().to_string());
                    additional_idx.push(a.t);
                } else if separated {
                    explained.push(a.t);
                }
            }
            all.push((
                a.t,
                Separation {
                    other: r.label().to_string(),
                    differing: a.n_d,
                    green: a.gb,
                    other_green: a.go,
                    expected_green: gamma_best * a.n_d as f64,
                    log10_p_value: a.hi / std::f64::consts::LN_10,
                    corrected_log10_p_value: corrected / std::f64::consts::LN_10,
                    separated,
                },
            ));
        }
        // Weakest separation first.
        all.sort_by(|x, y| {
            y.1.corrected_log10_p_value
                .total_cmp(&x.1.corrected_log10_p_value)
                .then(x.0.cmp(&y.0))
        });
        let tied: Vec<usize> = all.iter().filter(|x| !x.1.separated).map(|x| x.0).collect();
        let shown = all
            .into_iter()
            .take(tied.len() + SHOWN_SEPARATIONS)
            .map(|x| x.1)
            .collect();
        Ok(SeparationResult {
            tied,
            shown,
            additional,
            additional_idx,
            explained,
        })
    }

    /// The codeword tests of the best target and of the tied and additional ones, for those
    /// that are coded accounts (at most [`CODEWORD_TESTS`]). The best one, when coded, first.
    fn candidate_codeword_tests(
        &self,
        best: Option<usize>,
        sep: &SeparationResult,
        rows: &[AuditRow],
    ) -> Result<Vec<CodewordTest>> {
        let mut seen = std::collections::HashSet::new();
        let candidates: Vec<usize> = best
            .into_iter()
            .chain(sep.tied.iter().copied())
            .chain(sep.additional_idx.iter().copied())
            .filter(|&i| seen.insert(i))
            .collect();
        let mut out = self.codeword_tests_of(&candidates, rows.len())?;
        out.truncate(CODEWORD_TESTS);
        Ok(out)
    }

    /// The codeword test of every coded account, in the order added (each master's null is
    /// convolved once; each account then costs 64 additions). Corrected over every target.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] only if the class counts break [`stats::ChoiceSum`]'s
    /// limits (not possible with 64 positions of 16 classes).
    pub fn codeword_tests(&self) -> Result<Vec<CodewordTest>> {
        let all: Vec<usize> = (0..self.order.len()).collect();
        self.codeword_tests_of(&all, self.order.len())
    }

    /// The codeword tests of the targets `indices` (in the order added) that are
    /// coded accounts, in that order, Bonferroni-corrected over `targets`.
    fn codeword_tests_of(&self, indices: &[usize], targets: usize) -> Result<Vec<CodewordTest>> {
        let refs = self.coded_refs();
        let ln_targets = (targets.max(1) as f64).ln();
        let ln_alpha = self.config.alpha.ln();
        let mut nulls: std::collections::HashMap<(usize, usize), (stats::ChoiceSum, f64)> =
            std::collections::HashMap::new();
        let mut out = Vec::new();
        for &i in indices {
            let Some(Some((gi, si, cw))) = refs.get(i) else {
                continue;
            };
            let Some(cs) = self.groups.get(*gi).and_then(|g| g.coded.get(*si)) else {
                continue;
            };
            let Some((name, _, _)) = self.order.get(i).and_then(|&(_, slot)| match slot {
                Slot::Coded(_, a) => cs.accounts.get(a),
                _ => None,
            }) else {
                continue;
            };
            let (null, expected) = match nulls.entry((*gi, *si)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(cs.codeword_null()?),
            };
            let green = cs.account_green(cw);
            let tail = null.sf_ln(green);
            let corrected = (tail.ln_p + ln_targets).min(0.0);
            out.push(CodewordTest {
                account: name.clone(),
                green,
                expected_green: *expected,
                log10_p_value: tail.ln_p / std::f64::consts::LN_10,
                corrected_log10_p_value: corrected / std::f64::consts::LN_10,
                step: tail.step,
                consistent: corrected <= ln_alpha,
            });
        }
        Ok(out)
    }
}

/// Runs `f` over `fresh` split into one chunk per core (`parallel`) or as one chunk; the
/// results in chunk order.
fn in_parallel<T: Send>(
    fresh: &[(usize, u32)],
    parallel: bool,
    f: impl Fn(&[(usize, u32)]) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = if parallel {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    } else {
        1
    };
    let per = fresh.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = fresh
            .chunks(per)
            .map(|part| s.spawn(move || f(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::InvalidInput("audit thread failed".into())))
            })
            .collect()
    })
}

/// Scores fresh tuples for every class of a coded master: 16 classes at each tuple's
/// position, in parallel for large batches.
fn score_coded<'t>(
    cs: &mut CodedSet,
    context_at: &(dyn Fn(usize) -> Option<&'t [u32]> + Sync),
    fresh: &[(usize, u32)],
    record: Option<&mut ExportColumn>,
) -> Result<()> {
    let keep = record.is_some();
    let shared = &*cs;
    let partials = in_parallel(fresh, fresh.len() > 1 << 14, |part| {
        let mut n = vec![0u64; POSITIONS];
        let mut green = vec![0u64; POSITIONS * SYMBOLS];
        let mut rec = Vec::with_capacity(if keep { part.len() } else { 0 });
        for &(t, tok) in part {
            // Fresh tuples all have a context (as where fingerprints are recorded).
            let Some(ctx) = context_at(t) else { continue };
            let j = coded::position_of(&shared.position, ctx)?;
            if let Some(c) = n.get_mut(j) {
                *c += 1;
            }
            let at = j * SYMBOLS;
            let (Some(classes), Some(counts)) = (
                shared.classes.get(at..at + SYMBOLS),
                green.get_mut(at..at + SYMBOLS),
            ) else {
                continue;
            };
            let mut bits = 0u16;
            for (c, (kgw, count)) in classes.iter().zip(counts).enumerate() {
                let seed = kgw.prf_seed(ctx)?;
                let g = kgw.green_under(&seed, tok);
                *count += u64::from(g);
                bits |= u16::from(g) << c;
            }
            if keep {
                rec.push((j as u8, bits));
            }
        }
        Ok((n, green, rec))
    })?;
    let mut record = record;
    for (n, green, rec) in partials {
        for (a, b) in cs.n.iter_mut().zip(n) {
            *a += b;
        }
        for (a, b) in cs.green.iter_mut().zip(green) {
            *a += b;
        }
        if let Some(ExportColumn {
            data: ExportData::Coded { positions, classes },
            ..
        }) = record.as_deref_mut()
        {
            for (j, bits) in rec {
                positions.push(j);
                classes.push(bits);
            }
        }
    }
    Ok(())
}

/// Bytes of keystream a single-block lookup is worth (one ChaCha8 block ≈ 58 ns ≈ the time to
/// generate about 240 bytes of keystream in bulk).
const BYTES_PER_LOOKUP: usize = 240;

/// Scores fresh tuples for every account of a shifted master, in parallel for large batches.
fn score_shifted(sh: &mut Shifted, ids: &[u32], h: usize, fresh: &[(usize, u32)]) -> Result<()> {
    let (Some(min), Some(max)) = (
        sh.accounts.iter().map(|a| a.2).min(),
        sh.accounts.iter().map(|a| a.2).max(),
    ) else {
        return Ok(());
    };
    let span = (max - min) as usize + 1;
    let use_window = sh.accounts.len() * BYTES_PER_LOOKUP > span;
    let shared = &*sh;
    let parallel = fresh.len() * sh.accounts.len() > 1 << 20;
    let partials = in_parallel(fresh, parallel, |part| {
        let mut green = vec![0u64; shared.accounts.len()];
        let mut window = if use_window {
            vec![0u8; span]
        } else {
            Vec::new()
        };
        for &(t, tok) in part {
            let Some(ctx) = ids.get(t - h..t) else {
                continue;
            };
            let seed = shared.prf.seed(ctx)?;
            if use_window {
                seed.fill_wrapped(tok.wrapping_add(min), &mut window);
                for (g, a) in green.iter_mut().zip(&shared.accounts) {
                    let b = window.get((a.2 - min) as usize).copied().unwrap_or(u8::MAX);
                    *g += u64::from(b < shared.threshold);
                }
            } else {
                for (g, a) in green.iter_mut().zip(&shared.accounts) {
                    let pos = (tok as usize + a.2 as usize) & POSITION_MASK;
                    *g += u64::from(seed.byte(pos as u32) < shared.threshold);
                }
            }
        }
        Ok(green)
    })?;
    for p in partials {
        for (g, add) in sh.green.iter_mut().zip(p) {
            *g += add;
        }
    }
    Ok(())
}
