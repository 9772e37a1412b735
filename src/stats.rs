//! Exact tail probabilities in log space, and the small pieces of statistics built on them.
//!
//! Detection reports p-values far below what an `f64` can hold (1e-300 and smaller), so every
//! tail here is computed as a natural logarithm and only exponentiated for display. Upper tails
//! are computed directly, never as `1 − cdf`, so they stay accurate when tiny.
//!
//! * [`binomial_sf_ln`]: `ln P[X ≥ k]`, `X ~ Binomial(n, p)`, through the regularized incomplete
//!   beta function `I_p(k, n − k + 1)` (Lentz continued fraction) with an accurate log-beta.
//! * [`gamma_sf_ln`]: `ln Q(a, x)`, the upper regularized incomplete gamma function (the tail of
//!   `Gamma(a, 1)`), by series or continued fraction.
//! * [`weighted_gamma_pair_sf_ln`]: the tail of `w1 X + w2 Y`, `X, Y ~ Gamma(n, 1)` (dual-key
//!   Gumbel scores), by the positive series of Moschopoulos (1985).
//! * [`choice_sum_sf_ln`]: the tail of a sum of independent uniform choices from given tables
//!   (the codeword test of coded accounts), by exact convolution.
//! * [`z_score`] and [`holm`] (Holm–Bonferroni step-down adjustment).
//!
//! Accuracy is checked against mpmath at 50 digits (`tests/data/tails_mpmath.json`): relative
//! error below 1e-6 in the p-value wherever it is at least 1e-300, and in `ln p` beyond.
//!
//! ```
//! use provmark::stats::binomial_sf_ln;
//! // 200 scored tokens, 140 green, γ = 0.25: log10 p = -39.870962155194 (mpmath).
//! let lp = binomial_sf_ln(140, 200, 0.25)?;
//! assert!((lp / std::f64::consts::LN_10 + 39.870962155194).abs() < 1e-9);
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::{Error, Result};

/// Iteration cap of the continued fractions and series. Convergence needs about
/// `sqrt(max(a, b))` steps near the mean, so this covers counts far beyond 10^9.
const MAX_ITER: usize = 1_000_000;
/// Relative convergence tolerance of the continued fractions and series.
const EPS: f64 = 1e-15;
/// Smallest magnitude allowed in Lentz's algorithm before a denominator is replaced.
const TINY: f64 = 1e-300;
/// ln(sqrt(2π)).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln P[X ≥ k]` for `X ~ Binomial(n, p)`: the exact upper tail, as a natural log.
///
/// Returns `0.0` for `k = 0` and `-inf` for `k > n`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `p` is not in `[0, 1]`; [`Error::Numerical`] if the continued
/// fraction fails to converge (not observed for `n` up to 10^9).
pub fn binomial_sf_ln(k: u64, n: u64, p: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::param("p", "must be a probability in [0, 1]"));
    }
    if k == 0 {
        return Ok(0.0);
    }
    if k > n {
        return Ok(f64::NEG_INFINITY);
    }
    if p == 0.0 {
        return Ok(f64::NEG_INFINITY);
    }
    if p == 1.0 {
        return Ok(0.0);
    }
    // P[X ≥ k] = I_p(k, n − k + 1).
    beta_inc_ln(k as f64, (n - k + 1) as f64, p)
}

/// Cheap bounds `(lower, upper)` on `ln P[X ≥ k]` for `X ~ Binomial(n, p)` with
/// `n p < k < n`: the Chernoff bound `−n D(k/n ‖ p)` above and Ash's
/// `−n D(k/n ‖ p) − ½ ln(8 k (1 − k/n))` below (`D` the binary relative entropy). They differ
/// by about `½ ln n`, so a caller testing many counts against one threshold computes
/// [`binomial_sf_ln`] only where the bounds straddle it. `None` outside that range (where the
/// tail is not small).
///
/// ```
/// let (lo, hi) = provmark::stats::binomial_sf_ln_bounds(400, 1000, 0.25).unwrap();
/// let exact = provmark::stats::binomial_sf_ln(400, 1000, 0.25)?;
/// assert!(lo <= exact && exact <= hi);
/// # Ok::<(), provmark::Error>(())
/// ```
pub fn binomial_sf_ln_bounds(k: u64, n: u64, p: f64) -> Option<(f64, f64)> {
    let (kf, nf) = (k as f64, n as f64);
    if !(p > 0.0 && p < 1.0) || kf <= nf * p || k >= n {
        return None;
    }
    let x = kf / nf;
    let kl = x * (x / p).ln() + (1.0 - x) * ((1.0 - x) / (1.0 - p)).ln();
    let upper = -nf * kl;
    Some((upper - 0.5 * (8.0 * kf * (1.0 - x)).ln(), upper))
}

/// `P[X ≥ k]` for `X ~ Binomial(n, p)`; underflows to 0 below about 1e-308 (use
/// [`binomial_sf_ln`] there).
///
/// # Errors
/// As [`binomial_sf_ln`].
pub fn binomial_sf(k: u64, n: u64, p: f64) -> Result<f64> {
    binomial_sf_ln(k, n, p).map(f64::exp)
}

/// `ln Q(a, x)`: log of the upper regularized incomplete gamma function, the probability that a
/// `Gamma(a, 1)` variable exceeds `x` (for the sum of `a` independent `Exp(1)` scores).
///
/// # Errors
/// [`Error::InvalidParameter`] unless `a > 0` and `x` is not NaN; [`Error::Numerical`] if the
/// series or continued fraction fails to converge.
pub fn gamma_sf_ln(a: f64, x: f64) -> Result<f64> {
    if !(a > 0.0 && a.is_finite()) {
        return Err(Error::param("a", "shape must be positive and finite"));
    }
    if x.is_nan() {
        return Err(Error::param("x", "must not be NaN"));
    }
    if x <= 0.0 {
        return Ok(0.0);
    }
    if x == f64::INFINITY {
        return Ok(f64::NEG_INFINITY);
    }
    if x < a + 1.0 {
        // Series for the lower tail P, then Q = 1 − P.
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut ap = a;
        let mut converged = false;
        for _ in 0..MAX_ITER {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * EPS {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::Numerical("incomplete gamma series"));
        }
        let ln_p = gamma_front_ln(a, x) + sum.ln();
        Ok(log1mexp(ln_p))
    } else {
        // Continued fraction for Q (modified Lentz).
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        let mut converged = false;
        for i in 1..MAX_ITER {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::Numerical("incomplete gamma continued fraction"));
        }
        Ok(gamma_front_ln(a, x) + h.ln())
    }
}

/// Term cap of [`weighted_gamma_pair_sf_ln`]: its series needs about `n (1 − p) / p` terms
/// (`p` the ratio of the smaller weight to the larger), so this covers `n / p` up to about 10^8.
const MAX_TERMS: usize = 200_000_000;

/// `ln(e^a + e^b)`.
fn ln_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln P[w1 X + w2 Y ≥ s]` for independent `X, Y ~ Gamma(n, 1)`: the exact null tail of a
/// weighted sum of two Gumbel scores per position (vLLM's dual-key score has `w1 = 1 − α`,
/// `w2 = α`).
///
/// With `b1 ≤ b2` the two weights and `p = b1 / b2`, `b2 Y` is a negative-binomial mixture of
/// `Gamma(n + J, b1)` (`J ~ NB(n, p)`, `P[J = j] = C(n + j − 1, j) p^n (1 − p)^j`; the moment
/// generating functions agree), so `(w1 X + w2 Y) / b1 ~ Gamma(2n + J, 1)` given `J` and
/// `P[S ≥ s] = Σ_j P[J = j] Q(2n + j, s / b1)` — the series of Moschopoulos (1985) for two
/// gamma variables, every term positive, summed in log space. The series is cut once the
/// remaining mixture weight (bounded by a geometric series past the mode) is below 1e-16 of the
/// sum, and that bound is **added**, so truncation never lowers the tail; rounding over the
/// terms leaves a relative error below 1e-11 (at most 4e-12 against mpmath quadrature,
/// `tests/data/dual_key_exact.json`).
///
/// # Errors
/// [`Error::InvalidParameter`] unless `n > 0`, the weights are finite, non-negative and not
/// both 0, and `s` is not NaN; [`Error::Numerical`] when the series needs more than 2 · 10^8
/// terms (`n / p` beyond about 10^8).
///
/// ```
/// use provmark::stats::{gamma_sf_ln, weighted_gamma_pair_sf_ln};
/// // Equal weights: the sum of 2n Exp(1/2) variables, Gamma(2n, 1/2).
/// let a = weighted_gamma_pair_sf_ln(10.0, 0.5, 0.5, 14.0)?;
/// assert!((a - gamma_sf_ln(20.0, 28.0)?).abs() < 1e-12);
/// # Ok::<(), provmark::Error>(())
/// ```
pub fn weighted_gamma_pair_sf_ln(n: f64, w1: f64, w2: f64, s: f64) -> Result<f64> {
    if !(n > 0.0 && n.is_finite()) {
        return Err(Error::param("n", "must be positive and finite"));
    }
    let ok = |w: f64| w.is_finite() && w >= 0.0;
    if !(ok(w1) && ok(w2) && (w1 > 0.0 || w2 > 0.0)) {
        return Err(Error::param(
            "weights",
            "must be finite, non-negative and not both zero",
        ));
    }
    if s.is_nan() {
        return Err(Error::param("s", "must not be NaN"));
    }
    if s <= 0.0 {
        return Ok(0.0);
    }
    let (b1, b2) = (w1.min(w2), w1.max(w2));
    if b1 == 0.0 {
        return gamma_sf_ln(n, s / b2);
    }
    if b1 == b2 {
        return gamma_sf_ln(2.0 * n, s / b1);
    }
    let p = b1 / b2;
    let ln_r = (-p).ln_1p();
    let x = s / b1;
    let ln_x = x.ln();
    // j = 0: weight p^n, Q(2n, x).
    let mut ln_w = n * p.ln();
    let mut ln_q = gamma_sf_ln(2.0 * n, x)?;
    let mut acc = f64::NEG_INFINITY;
    for j in 0..MAX_TERMS {
        acc = ln_add(acc, ln_w + ln_q);
        let jf = j as f64;
        // w_{j+1} / w_j = (1 − p)(n + j) / (j + 1), decreasing in j.
        let ln_w_next = ln_w + ln_r + (n + jf).ln() - (jf + 1.0).ln();
        let ln_ratio_next = ln_r + (n + jf + 1.0).ln() - (jf + 2.0).ln();
        if ln_ratio_next < 0.0 {
            // Σ_{i > j} w_i ≤ w_{j+1} / (1 − ρ_{j+1}), and every Q ≤ 1.
            let ln_tail = ln_w_next - log1mexp(ln_ratio_next);
            if ln_tail < acc - 36.8 {
                return Ok(ln_add(acc, ln_tail).min(0.0));
            }
        }
        // Q(a + 1, x) = Q(a, x) + x^a e^{-x} / Γ(a + 1), a = 2n + j.
        let a = 2.0 * n + jf;
        ln_q = ln_add(ln_q, gamma_front_ln(a + 1.0, x) - ln_x).min(0.0);
        ln_w = ln_w_next;
    }
    Err(Error::Numerical("two-gamma series"))
}

/// `ln(x^a e^{-x} / Γ(a))`, computed without cancellation for large `a`.
fn gamma_front_ln(a: f64, x: f64) -> f64 {
    if a < 10.0 {
        return a * x.ln() - x - libm::lgamma(a);
    }
    // Stirling: ln Γ(a) = (a − ½) ln a − a + ln√(2π) + stirling_corr(a), and
    // a ln x − x − a ln a + a = a (ln(1 + t) − t) with t = (x − a) / a.
    let t = (x - a) / a;
    a * log1p_minus_x(t) + 0.5 * a.ln() - LN_SQRT_2PI - stirling_corr(a)
}

/// `ln(1 + t) − t`, accurate also for small `|t|`.
fn log1p_minus_x(t: f64) -> f64 {
    if t.abs() > 0.1 {
        return t.ln_1p() - t;
    }
    // −t²/2 + t³/3 − t⁴/4 + …; |t| ≤ 0.1 needs about 15 terms for full precision.
    let mut sum = 0.0;
    let mut pow = t;
    for k in 2..40 {
        pow *= -t;
        let term = pow / k as f64;
        sum += term;
        if term.abs() < 1e-18 * sum.abs() {
            break;
        }
    }
    sum
}

/// Remainder of Stirling's series: `ln Γ(x) − [(x − ½) ln x − x + ln√(2π)]`, for `x ≥ 10`.
fn stirling_corr(x: f64) -> f64 {
    // Coefficients B_{2k} / (2k (2k − 1)) of the asymptotic series; at x = 10 the first omitted
    // term is below 1e-16.
    const C: [f64; 6] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360_360.0,
    ];
    let x2 = 1.0 / (x * x);
    let mut acc = 0.0;
    for c in C.iter().rev() {
        acc = acc * x2 + c;
    }
    acc / x
}

/// `ln B(a, b)` with no cancellation when `a` or `b` is large.
fn ln_beta(a: f64, b: f64) -> f64 {
    let (p, q) = if a < b { (a, b) } else { (b, a) };
    if p >= 10.0 {
        let corr = stirling_corr(p) + stirling_corr(q) - stirling_corr(p + q);
        -0.5 * q.ln()
            + LN_SQRT_2PI
            + corr
            + (p - 0.5) * (p / (p + q)).ln()
            + q * (-p / (p + q)).ln_1p()
    } else if q >= 10.0 {
        let corr = stirling_corr(q) - stirling_corr(p + q);
        libm::lgamma(p) + corr + p - p * (p + q).ln() + (q - 0.5) * (-p / (p + q)).ln_1p()
    } else {
        libm::lgamma(p) + libm::lgamma(q) - libm::lgamma(p + q)
    }
}

/// `ln I_x(a, b)`, the log of the regularized incomplete beta function, for `0 < x < 1`.
fn beta_inc_ln(a: f64, b: f64, x: f64) -> Result<f64> {
    let front = a * x.ln() + b * (-x).ln_1p() - ln_beta(a, b);
    if x < (a + 1.0) / (a + b + 2.0) {
        Ok(front - a.ln() + beta_cf(a, b, x)?.ln())
    } else {
        // I_x(a, b) = 1 − I_{1−x}(b, a); here the complement is the small one.
        let ln_comp = front - b.ln() + beta_cf(b, a, 1.0 - x)?.ln();
        Ok(log1mexp(ln_comp))
    }
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> Result<f64> {
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            return Ok(h);
        }
    }
    Err(Error::Numerical("incomplete beta continued fraction"))
}

/// `ln(1 − e^x)` for `x ≤ 0`, accurate at both ends.
pub(crate) fn log1mexp(x: f64) -> f64 {
    if x >= 0.0 {
        f64::NEG_INFINITY
    } else if x > -std::f64::consts::LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

/// The upper tail of a sum of independent uniform choices, from [`choice_sum_sf_ln`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChoiceTail {
    /// `ln P[T ≥ t]` (an upper bound on it when `step > 1`).
    pub ln_p: f64,
    /// The rounding step: 1 when the tail is exact; otherwise every value was rounded *up* to
    /// a multiple of `step` (see [`choice_sum_sf_ln`]).
    pub step: u64,
}

/// `ln P[T ≥ t]` for `T = Σ_j X_j`, the `X_j` independent and each uniform over the entries of
/// `choices[j]` (repeats count as often as they occur): the p-value of a statistic that picks
/// one entry per table at random, as a coded account's green count does under "the text's
/// source does not know this account's codeword".
///
/// The distribution is convolved exactly over the offsets from each table's minimum. When the
/// offsets span more than `max_bins` units in all, each is rounded up to a multiple of
/// `step = ⌈span / max_bins⌉` and `t` down, so the result bounds the tail from above (it is
/// still a valid p-value) and moves the threshold by less than `choices.len() · step`. The cost
/// is about `max_bins` times the total number of entries. Every configuration has probability
/// `Π 1/len_j`, which must stay above `e^-700` so that no term underflows.
///
/// ```
/// use provmark::stats::choice_sum_sf_ln;
/// // Two fair dice (1..=6): P[sum ≥ 11] = 3/36.
/// let die = [1u64, 2, 3, 4, 5, 6];
/// let tail = choice_sum_sf_ln(&[&die, &die], 11, 1 << 16)?;
/// assert_eq!(tail.step, 1);
/// assert!((tail.ln_p.exp() - 3.0 / 36.0).abs() < 1e-15);
/// # Ok::<(), provmark::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParameter`] when a table is empty, `max_bins` is 0 or the convolution would
/// need more than 2^26 bins, or the tables hold so many configurations that a probability
/// would underflow (`Σ ln len_j > 700`).
pub fn choice_sum_sf_ln(choices: &[&[u64]], t: u64, max_bins: usize) -> Result<ChoiceTail> {
    Ok(ChoiceSum::new(choices, max_bins)?.sf_ln(t))
}

/// The most bins [`ChoiceSum`] allocates (two arrays of `f64`, 1 GiB in all).
const MAX_CHOICE_BINS: usize = 1 << 26;

/// The distribution of a sum of independent uniform choices, convolved once and then read at
/// any threshold in `O(1)` ([`choice_sum_sf_ln`] describes the method and its rounding).
///
/// ```
/// use provmark::stats::ChoiceSum;
/// let coin = [0u64, 1];
/// let sum = ChoiceSum::new(&[&coin, &coin, &coin], 1 << 16)?;
/// assert!((sum.sf_ln(3).ln_p.exp() - 0.125).abs() < 1e-15);
/// assert!((sum.sf_ln(2).ln_p.exp() - 0.5).abs() < 1e-15);
/// # Ok::<(), provmark::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ChoiceSum {
    /// Σ of the tables' minima.
    base: u128,
    /// Σ of their spans.
    span: u128,
    step: u128,
    /// `tail[x] = P[Σ ⌈(X_j − min_j) / step⌉ ≥ x]`.
    tail: Vec<f64>,
}

impl ChoiceSum {
    /// Convolves the tables (see [`choice_sum_sf_ln`]).
    ///
    /// # Errors
    /// As [`choice_sum_sf_ln`].
    pub fn new(choices: &[&[u64]], max_bins: usize) -> Result<Self> {
        if max_bins == 0 {
            return Err(Error::param("max_bins", "must be at least 1"));
        }
        let mut ln_configs = 0.0;
        let mut base = 0u128;
        let mut span = 0u128;
        for c in choices {
            let (Some(&lo), Some(&hi)) = (c.iter().min(), c.iter().max()) else {
                return Err(Error::param("choices", "every table needs an entry"));
            };
            ln_configs += (c.len() as f64).ln();
            base += u128::from(lo);
            span += u128::from(hi - lo);
        }
        if ln_configs > 700.0 {
            return Err(Error::param(
                "choices",
                "too many configurations: probabilities would underflow",
            ));
        }
        let step = span.div_ceil(max_bins as u128).max(1);
        let rounded: Vec<Vec<usize>> = choices
            .iter()
            .map(|c| {
                let lo = c.iter().copied().min().unwrap_or(0);
                c.iter()
                    .map(|&v| {
                        usize::try_from(u128::from(v - lo).div_ceil(step)).unwrap_or(usize::MAX)
                    })
                    .collect()
            })
            .collect();
        let size = rounded
            .iter()
            .map(|r| r.iter().copied().max().unwrap_or(0))
            .fold(0usize, usize::saturating_add)
            .saturating_add(1);
        if size > MAX_CHOICE_BINS {
            return Err(Error::param(
                "max_bins",
                "the convolution would need more than 2^26 bins",
            ));
        }
        let (mut pmf, mut next) = (vec![0.0f64; size], vec![0.0f64; size]);
        if let Some(p) = pmf.first_mut() {
            *p = 1.0;
        }
        let mut len = 1usize;
        for r in &rounded {
            let w = 1.0 / r.len() as f64;
            let top = r.iter().copied().max().unwrap_or(0);
            let new_len = (len + top).min(size);
            next.get_mut(..new_len)
                .into_iter()
                .flatten()
                .for_each(|x| *x = 0.0);
            for &q in r {
                let (Some(src), Some(dst)) = (pmf.get(..len), next.get_mut(q..q + len)) else {
                    continue;
                };
                for (d, &p) in dst.iter_mut().zip(src) {
                    *d += p * w;
                }
            }
            std::mem::swap(&mut pmf, &mut next);
            len = new_len;
        }
        // Upper tails, summed from the top so small ones keep their relative accuracy.
        pmf.truncate(len);
        let mut acc = 0.0;
        for p in pmf.iter_mut().rev() {
            acc += *p;
            *p = acc;
        }
        Ok(ChoiceSum {
            base,
            span,
            step,
            tail: pmf,
        })
    }

    /// `ln P[T ≥ t]` (an upper bound when the step is above 1).
    pub fn sf_ln(&self, t: u64) -> ChoiceTail {
        let step = u64::try_from(self.step).unwrap_or(u64::MAX);
        let t = u128::from(t);
        if t <= self.base {
            return ChoiceTail { ln_p: 0.0, step };
        }
        if t > self.base + self.span {
            return ChoiceTail {
                ln_p: f64::NEG_INFINITY,
                step,
            };
        }
        // P[T ≥ t] ≤ P[Σ ⌈(X_j − min_j) / step⌉ ≥ ⌈(t − base) / step⌉], equal for step 1.
        let x = usize::try_from((t - self.base).div_ceil(self.step)).unwrap_or(usize::MAX);
        let p = self.tail.get(x).copied().unwrap_or(0.0);
        ChoiceTail {
            ln_p: if p > 0.0 {
                p.ln().min(0.0)
            } else {
                f64::NEG_INFINITY
            },
            step,
        }
    }
}

/// One-sided z-score of `k` successes in `n` trials with success probability `p`:
/// `(k − n p) / sqrt(n p (1 − p))`. Returns 0 for `n = 0`. Secondary to the exact p-value: the
/// normal approximation it implies is wrong in the tail for small `n`.
pub fn z_score(k: u64, n: u64, p: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    (k as f64 - n * p) / (n * p * (1.0 - p)).sqrt()
}

/// Holm–Bonferroni adjusted p-values, given as natural logs, in the input order.
///
/// Adjusted `p_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j))` over the ascending order. Rejecting
/// every hypothesis whose adjusted value is at most α controls the family-wise error at α.
///
/// ```
/// let adj = provmark::stats::holm(&[(0.01f64).ln(), (0.04f64).ln(), (0.03f64).ln()]);
/// let adj: Vec<f64> = adj.iter().map(|l| l.exp()).collect();
/// assert!((adj[0] - 0.03).abs() < 1e-12);
/// assert!((adj[1] - 0.06).abs() < 1e-12 && (adj[2] - 0.06).abs() < 1e-12);
/// ```
pub fn holm(ln_p: &[f64]) -> Vec<f64> {
    let m = ln_p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| {
        let a = ln_p.get(i).copied().unwrap_or(0.0);
        let b = ln_p.get(j).copied().unwrap_or(0.0);
        a.total_cmp(&b)
    });
    let mut out = vec![0.0; m];
    let mut running = f64::NEG_INFINITY;
    for (rank, &i) in order.iter().enumerate() {
        let lp = ln_p.get(i).copied().unwrap_or(0.0);
        let adjusted = (lp + ((m - rank) as f64).ln()).min(0.0);
        running = running.max(adjusted);
        if let Some(o) = out.get_mut(i) {
            *o = running;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cheap bounds bracket the exact tail over a grid of n, k and p.
    #[test]
    fn tail_bounds_bracket_the_exact_tail() {
        for n in [2u64, 10, 101, 1000, 54_321, 10_000_000] {
            for p in [0.01, 0.25, 0.5, 0.9] {
                for frac in [0.0, 0.001, 0.01, 0.1, 0.3, 0.6, 0.95] {
                    let k = ((n as f64) * (p + (1.0 - p) * frac)).ceil() as u64 + 1;
                    if let Some((lo, hi)) = binomial_sf_ln_bounds(k, n, p) {
                        let e = binomial_sf_ln(k, n, p).unwrap();
                        let tol = 1e-9 * e.abs().max(1.0);
                        assert!(
                            lo <= e + tol && e <= hi + tol,
                            "n {n} k {k} p {p}: {lo} {e} {hi}"
                        );
                    }
                }
            }
        }
        assert!(binomial_sf_ln_bounds(10, 100, 0.25).is_none());
    }

    #[test]
    fn binomial_small_exact() {
        // P[X ≥ 2], X ~ Bin(3, 1/2) = 4/8.
        let p = binomial_sf(2, 3, 0.5).unwrap();
        assert!((p - 0.5).abs() < 1e-14, "{p}");
        // P[X ≥ 3] = 1/8.
        assert!((binomial_sf(3, 3, 0.5).unwrap() - 0.125).abs() < 1e-14);
        assert_eq!(binomial_sf_ln(0, 5, 0.3).unwrap(), 0.0);
        assert_eq!(binomial_sf_ln(6, 5, 0.3).unwrap(), f64::NEG_INFINITY);
        assert!(binomial_sf_ln(1, 5, 1.5).is_err());
        assert!(binomial_sf_ln(1, 5, f64::NAN).is_err());
    }

    #[test]
    fn binomial_matches_direct_sum() {
        // Direct summation of the pmf in f64 as an independent check at small n.
        for n in [1u64, 5, 17, 60] {
            for k in 0..=n {
                for p in [0.1, 0.25, 0.5, 0.9] {
                    let mut sum = 0.0;
                    for j in k..=n {
                        let lc = libm::lgamma(n as f64 + 1.0)
                            - libm::lgamma(j as f64 + 1.0)
                            - libm::lgamma((n - j) as f64 + 1.0);
                        sum += (lc + j as f64 * f64::ln(p) + (n - j) as f64 * (1.0 - p).ln()).exp();
                    }
                    let got = binomial_sf(k, n, p).unwrap();
                    assert!(
                        (got - sum).abs() <= 1e-11 * sum.max(1e-300),
                        "n={n} k={k} p={p}: {got} vs {sum}"
                    );
                }
            }
        }
    }

    #[test]
    fn gamma_small_exact() {
        // Q(1, x) = e^{-x}.
        for x in [0.1, 1.0, 5.0, 50.0, 700.0, 5000.0] {
            let lq = gamma_sf_ln(1.0, x).unwrap();
            assert!((lq + x).abs() < 1e-12 * x.max(1.0), "x={x}: {lq}");
        }
        // Q(2, x) = (1 + x) e^{-x}.
        for x in [0.5, 3.0, 30.0] {
            let want = (1.0f64 + x).ln() - x;
            assert!((gamma_sf_ln(2.0, x).unwrap() - want).abs() < 1e-12);
        }
        assert_eq!(gamma_sf_ln(3.0, 0.0).unwrap(), 0.0);
        assert!(gamma_sf_ln(0.0, 1.0).is_err());
    }

    #[test]
    fn holm_is_monotone_and_capped() {
        let adj = holm(&[-1.0, -50.0, 0.0]);
        assert!(adj.iter().all(|&x| x <= 0.0));
        assert!((adj[1] - (-50.0 + 3f64.ln())).abs() < 1e-12);
        assert!(holm(&[]).is_empty());
    }
}
