//! `provmark pvalue`: the exact p-value of counts computed elsewhere (a query engine over an
//! `audit --export-parquet` export, a hand tally), from the same exact tails the audit uses.

use super::{CliResult, out};
use clap::Args;
use provmark::detect::format_p;
use provmark::scheme::NullModel;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct PvalueArgs {
    /// Distinct scored tuples (the n of COUNT(DISTINCT …)).
    #[arg(long)]
    n: u64,
    /// Green tuples among them (counting schemes: kgw, kgw-coded, vllm-red-green).
    #[arg(long, conflicts_with = "score", required_unless_present = "score")]
    green: Option<u64>,
    /// The summed score (gumbel, vllm-gumbel: Exp(1) scores; synthid: fair bits; vllm
    /// dual-key: its score).
    #[arg(long)]
    score: Option<f64>,
    /// The null model of the scores.
    #[arg(long, value_enum, default_value_t = Null::Bernoulli)]
    null: Null,
    /// γ, the null green probability (bernoulli).
    #[arg(long, default_value_t = 0.25)]
    gamma: f64,
    /// Fair bits per scored token (fair-bits: synthid's tournament depth).
    #[arg(long, default_value_t = 30)]
    per_token: u32,
    /// Key B's routing probability (vllm-dual-key).
    #[arg(long, default_value_t = 0.1)]
    dual_alpha: f64,
    /// Bonferroni-correct for this many tests (targets, keys in a rotation).
    #[arg(long, default_value_t = 1)]
    tests: u64,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Null {
    /// Green counts: Binomial(n, γ).
    Bernoulli,
    /// Sums of n Exp(1) scores: Gamma(n, 1).
    Exponential,
    /// Sums of n × per-token fair bits: Binomial(n · per_token, ½).
    FairBits,
    /// vLLM's dual-key Gumbel score.
    VllmDualKey,
}

pub fn run(a: PvalueArgs) -> CliResult<ExitCode> {
    let null = match a.null {
        Null::Bernoulli => {
            if !(a.gamma > 0.0 && a.gamma < 1.0) {
                return Err(provmark::Error::param("gamma", "must be in (0, 1)").into());
            }
            NullModel::Bernoulli { p: a.gamma }
        }
        Null::Exponential => NullModel::Exponential,
        Null::FairBits => {
            if a.per_token == 0 {
                return Err(provmark::Error::param("per-token", "must be at least 1").into());
            }
            NullModel::FairBits {
                per_token: a.per_token,
            }
        }
        Null::VllmDualKey => NullModel::VllmDualKey {
            alpha: a.dual_alpha,
        },
    };
    if a.tests == 0 {
        return Err(provmark::Error::param("tests", "must be at least 1").into());
    }
    let score = match (a.green, a.score) {
        (Some(g), _) => {
            if g > a.n {
                return Err(provmark::Error::param(
                    "green",
                    format!("{g} green of {} scored is impossible", a.n),
                )
                .into());
            }
            g as f64
        }
        (None, Some(s)) if s.is_finite() => s,
        _ => return Err(provmark::Error::param("score", "must be a finite number").into()),
    };
    let n = usize::try_from(a.n)
        .map_err(|_| provmark::Error::param("n", "too large for this machine"))?;
    let ln_p = null.exact_tail_ln(n, score)?;
    let log10_p = ln_p / std::f64::consts::LN_10;
    let corrected = (log10_p + (a.tests as f64).log10()).min(0.0);
    let z = null.z_score(n, score);
    if a.json {
        let p = 10f64.powf(log10_p);
        out(serde_json::json!({
            "n": a.n,
            "score": score,
            "z_score": z,
            "p_value": if p >= f64::MIN_POSITIVE { serde_json::json!(p) } else { serde_json::Value::Null },
            "log10_p_value": log10_p,
            "p_value_text": format_p(log10_p),
            "tests": a.tests,
            "corrected_log10_p_value": corrected,
            "corrected_p_value_text": format_p(corrected),
        }))?;
    } else {
        out(format_args!(
            "p {} (log10 {log10_p:.4}), z {z:.2}{}",
            format_p(log10_p),
            if a.tests > 1 {
                format!(", corrected for {} tests: {}", a.tests, format_p(corrected))
            } else {
                String::new()
            }
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
