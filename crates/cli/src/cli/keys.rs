//! `provmark keygen` and `provmark key-id`.

use super::{CliResult, Context, load_key, out};
use clap::Args;
use provmark::key::{KeyFile, SecretKey, TokenizerSpec, Validity};
use provmark::prf::PrfVersion;
use provmark::provenance::accounts::{AccountMode, MasterKey};
use provmark::scheme::{
    GumbelParams, KgwParams, SchemeConfig, SelfHashParams, SynthIdParams, VllmAlgorithm, VllmParams,
};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct KeygenArgs {
    /// Where to write the key file (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// The watermarking scheme. `kgw`: the green-list watermark (robust to edits, biases the
    /// distribution). `gumbel`: Gumbel-max (distortion-free, strongest per token, deterministic
    /// for a context). `synthid`: the SynthID-Text tournament (distortion-free, sampled).
    /// `selfhash`: green lists seeded by a keyed min-hash of the context and the candidate
    /// (biases like kgw; survives edits that miss the anchor, harder to learn).
    /// `vllm-*`: a watermark
    /// as vLLM's native watermarking embeds it (to detect what a vLLM server embedded, give
    /// its key with --vllm-key).
    #[arg(long, value_enum, default_value_t = SchemeArg::Kgw)]
    scheme: SchemeArg,
    /// The keyed PRF of a kgw key: `v2` (one ChaCha8 block per scored token; the default) or
    /// `v1` (HMAC-SHA256 seeds; what keys made before v2 use — both stay detectable forever).
    /// Master files (--master) of shifted or independent accounts and their account keys use
    /// v1; coded accounts use v2.
    #[arg(long, value_enum, default_value_t = PrfArg::V2)]
    prf: PrfArg,
    /// vLLM's integer watermark key (`WatermarkConfig.key`, 0 to 2^64 − 1), for the vllm-*
    /// schemes; a fresh random one when omitted. It is a secret: it ends up in the key file
    /// only.
    #[arg(long)]
    vllm_key: Option<u64>,
    /// Fraction of the vocabulary in each green list (kgw, selfhash: rounded to a multiple of 1/256;
    /// vllm-red-green: compared in f32).
    #[arg(long, default_value_t = 0.25)]
    gamma: f64,
    /// Logit bias added to green tokens (kgw, selfhash, vllm-red-green).
    #[arg(long, default_value_t = 2.0)]
    delta: f64,
    /// Probability of routing a step to key B, and its weight in the score
    /// (vllm-dual-key-gumbel).
    #[arg(long, default_value_t = 0.1)]
    alpha: f64,
    /// Context width: how many preceding tokens seed the keyed choice (kgw: 0..=8, default 2;
    /// gumbel: 1..=8, default 2; synthid: 1..=8, default 4; selfhash: 1..=8, default 3;
    /// vllm-*: 1..=64, default 4).
    #[arg(long)]
    context: Option<usize>,
    /// Tournament layers of synthid (1..=32).
    #[arg(long, default_value_t = 30)]
    depth: usize,
    /// How text is normalised before tokenizing, at generation and detection (recorded in the
    /// key file).
    #[arg(long, value_enum, default_value = "v1")]
    normalization: super::detect::NormalizationArg,
    /// Tokenizer: o200k_base, cl100k_base, or a path to a Hugging Face tokenizer.json.
    #[arg(long, default_value = "o200k_base")]
    tokenizer: String,
    /// Write a master secret for per-account keys (see `provmark derive`).
    #[arg(long)]
    master: bool,
    /// With --master: `coded` (a codeword per account over shared classes: a million accounts
    /// audited in one pass, no collisions, account files without the master secret),
    /// `shifted` (accounts version 1: a 20-bit shift per account, which collides among a few
    /// thousand accounts, and account files that hold the master secret) or `independent` (a
    /// separate secret per account; audits cost one pass per account).
    #[arg(long, value_enum, default_value_t = Mode::Coded, requires = "master")]
    accounts: Mode,
    /// First day (YYYY-MM-DD, UTC) the key serves text; recorded for key rotation, so an
    /// audit over a time range tests exactly the keys valid in it.
    #[arg(long)]
    valid_from: Option<String>,
    /// Last day (YYYY-MM-DD, UTC) the key serves text.
    #[arg(long)]
    valid_until: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PrfArg {
    V1,
    V2,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SchemeArg {
    Kgw,
    Gumbel,
    Synthid,
    Selfhash,
    VllmGumbel,
    VllmDualKeyGumbel,
    VllmRedGreen,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Mode {
    Coded,
    Shifted,
    Independent,
}

pub fn keygen(a: KeygenArgs) -> CliResult<ExitCode> {
    match a.scheme {
        SchemeArg::Kgw => {}
        SchemeArg::Gumbel | SchemeArg::Synthid | SchemeArg::Selfhash => return keygen_v2_only(a),
        _ => return keygen_vllm(a),
    }
    if a.vllm_key.is_some() {
        return Err(
            provmark::Error::param("vllm-key", "applies to the vllm-* schemes only").into(),
        );
    }
    let params = KgwParams::new(a.gamma, a.delta, a.context.unwrap_or(2))?;
    if params.gamma() != a.gamma {
        eprintln!(
            "provmark: note: gamma {} rounded to {} (green lists use a 1/256 grid)",
            a.gamma,
            params.gamma()
        );
    }
    let tokenizer = TokenizerSpec::parse(&a.tokenizer);
    // Load it once so a key is never made for a tokenizer that cannot be used.
    provmark_text::load(&tokenizer).context(format!("tokenizer {tokenizer}"))?;
    let validity = Validity::parse(a.valid_from.as_deref(), a.valid_until.as_deref())?;
    if a.master {
        let mode = match a.accounts {
            Mode::Coded => AccountMode::Coded,
            Mode::Shifted => AccountMode::Shifted,
            Mode::Independent => AccountMode::Independent,
        };
        if mode == AccountMode::Coded && params.context() == 0 {
            return Err(provmark::Error::param(
                "context",
                "coded accounts need a context of at least one token",
            )
            .into());
        }
        let master = MasterKey {
            secret: SecretKey::generate()?,
            params,
            tokenizer,
            mode,
            normalization: a.normalization.into(),
            validity,
        };
        master.write_new(&a.out)?;
        out(format_args!(
            "{} {} (master)",
            master.key_id(),
            a.out.display()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let prf = match a.prf {
        PrfArg::V1 => PrfVersion::V1,
        PrfArg::V2 => PrfVersion::V2,
    };
    let key = KeyFile {
        secret: SecretKey::generate()?,
        scheme: SchemeConfig::Kgw {
            prf,
            params,
            shift: 0,
        },
        tokenizer,
        account: None,
        normalization: a.normalization.into(),
        validity,
        coded: None,
    };
    key.write_new(&a.out)?;
    out(format_args!("{} {}", key.key_id(), a.out.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Keys of the schemes defined on PRF v2 only (gumbel, synthid, selfhash).
fn keygen_v2_only(a: KeygenArgs) -> CliResult<ExitCode> {
    if a.master || a.vllm_key.is_some() || a.prf == PrfArg::V1 {
        return Err(provmark::Error::param(
            "scheme",
            "--master, --vllm-key and --prf v1 do not apply to gumbel, synthid and selfhash keys",
        )
        .into());
    }
    let scheme = match a.scheme {
        SchemeArg::Gumbel => SchemeConfig::Gumbel(GumbelParams::new(a.context.unwrap_or(2))?),
        SchemeArg::Synthid => {
            SchemeConfig::SynthId(SynthIdParams::new(a.context.unwrap_or(4), a.depth)?)
        }
        _ => SchemeConfig::SelfHash(SelfHashParams::new(
            a.gamma,
            a.delta,
            a.context.unwrap_or(3),
        )?),
    };
    let tokenizer = TokenizerSpec::parse(&a.tokenizer);
    provmark_text::load(&tokenizer).context(format!("tokenizer {tokenizer}"))?;
    let key = KeyFile {
        secret: SecretKey::generate()?,
        scheme,
        tokenizer,
        account: None,
        normalization: a.normalization.into(),
        validity: Validity::parse(a.valid_from.as_deref(), a.valid_until.as_deref())?,
        coded: None,
    };
    key.write_new(&a.out)?;
    out(format_args!("{} {}", key.key_id(), a.out.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn keygen_vllm(a: KeygenArgs) -> CliResult<ExitCode> {
    if a.master {
        return Err(provmark::Error::param("master", "per-account keys are kgw keys").into());
    }
    let algorithm = match a.scheme {
        SchemeArg::VllmDualKeyGumbel => VllmAlgorithm::DualKeyGumbel { alpha: a.alpha },
        SchemeArg::VllmRedGreen => VllmAlgorithm::RedGreen {
            gamma: a.gamma,
            delta: a.delta as f32,
        },
        _ => VllmAlgorithm::Gumbel,
    };
    let params = VllmParams::new(algorithm, a.context.unwrap_or(4))?;
    let vllm_key = match a.vllm_key {
        Some(k) => k,
        None => getrandom::u64().map_err(|e| {
            provmark::Error::KeyFormat(format!("operating-system entropy unavailable: {e}"))
        })?,
    };
    let tokenizer = TokenizerSpec::parse(&a.tokenizer);
    provmark_text::load(&tokenizer).context(format!("tokenizer {tokenizer}"))?;
    let mut key = KeyFile::vllm(vllm_key, params, tokenizer);
    key.normalization = a.normalization.into();
    key.validity = Validity::parse(a.valid_from.as_deref(), a.valid_until.as_deref())?;
    key.write_new(&a.out)?;
    out(format_args!("{} {}", key.key_id(), a.out.display()))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct KeyIdArgs {
    /// The key file.
    key: PathBuf,
}

pub fn key_id(a: KeyIdArgs) -> CliResult<ExitCode> {
    let key = load_key(&a.key)?;
    out(key.key_id())?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct DeriveArgs {
    /// The master secret file (from `keygen --master`).
    #[arg(long)]
    master: PathBuf,
    /// The account id.
    #[arg(long)]
    account: String,
    /// Where to write the account's key file (must not exist).
    #[arg(long)]
    out: PathBuf,
}

/// Loads a master file, printing its warnings.
pub fn load_master(path: &std::path::Path) -> CliResult<MasterKey> {
    let (m, warnings) = MasterKey::load(path)?;
    for w in &warnings {
        eprintln!("provmark: warning: {w}");
    }
    Ok(m)
}

pub fn derive(a: DeriveArgs) -> CliResult<ExitCode> {
    let master = load_master(&a.master)?;
    let key = master.account_key(&a.account);
    key.write_new(&a.out)?;
    out(format_args!(
        "{} {} (account {})",
        key.key_id(),
        a.out.display(),
        a.account
    ))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct UpgradeKeyArgs {
    /// A key or master file of any version.
    input: PathBuf,
    /// Where to write it as the current version, with integrity tags (must not exist).
    #[arg(long)]
    out: PathBuf,
}

/// Rewrites a key or master file in the current format version: the same secret, scheme,
/// tokenizer and accounts, so it detects exactly as before, now with integrity tags.
pub fn upgrade_key(a: UpgradeKeyArgs) -> CliResult<ExitCode> {
    match provmark::key::KeyFile::load(&a.input) {
        Ok(loaded) => {
            loaded.key.write_new(&a.out)?;
            out(format_args!("{} {}", loaded.key.key_id(), a.out.display()))?;
        }
        Err(key_err) => match MasterKey::load(&a.input) {
            Ok((m, _)) => {
                m.write_new(&a.out)?;
                out(format_args!("{} {} (master)", m.key_id(), a.out.display()))?;
            }
            Err(_) => return Err(key_err.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}
