//! Exact tails against mpmath (50 digits), tests/data/tails_mpmath.json.
//! Tolerance: relative error 1e-6 in p while p ≥ 1e-300; relative error 1e-9 in ln p beyond.

use provmark::stats::{binomial_sf_ln, gamma_sf_ln};
use serde_json::Value;

const LN_1E_300: f64 = -690.775_527_898_213_7;

fn check(got: f64, want: f64, what: &str) {
    if want >= LN_1E_300 {
        let rel = (got - want).exp_m1().abs();
        assert!(
            rel <= 1e-6,
            "{what}: ln p {got} vs {want} (relative error {rel:e})"
        );
    } else {
        let rel = ((got - want) / want).abs();
        assert!(
            rel <= 1e-9,
            "{what}: ln p {got} vs {want} (relative error {rel:e})"
        );
    }
}

#[test]
fn binomial_tail_matches_mpmath() {
    let v: Value = serde_json::from_str(&crate::data("tails_mpmath.json")).unwrap();
    let cases = v["binomial"].as_array().unwrap();
    assert!(cases.len() > 100);
    let mut max_n = 0;
    let mut min_ln = 0.0f64;
    for c in cases {
        let (n, k, p) = (
            c["n"].as_u64().unwrap(),
            c["k"].as_u64().unwrap(),
            c["p"].as_f64().unwrap(),
        );
        let want: f64 = c["ln_sf"].as_str().unwrap().parse().unwrap();
        let got = binomial_sf_ln(k, n, p).unwrap();
        check(got, want, &format!("Bin(n={n}, p={p}) ≥ {k}"));
        max_n = max_n.max(n);
        min_ln = min_ln.min(want);
    }
    assert_eq!(max_n, 10_000_000);
    assert!(min_ln < -1e6, "vectors reach far below 1e-300");
}

#[test]
fn gamma_tail_matches_mpmath() {
    let v: Value = serde_json::from_str(&crate::data("tails_mpmath.json")).unwrap();
    for c in v["gamma"].as_array().unwrap() {
        let (a, x) = (c["a"].as_f64().unwrap(), c["x"].as_f64().unwrap());
        let want: f64 = c["ln_sf"].as_str().unwrap().parse().unwrap();
        let got = gamma_sf_ln(a, x).unwrap();
        check(got, want, &format!("Q(a={a}, x={x})"));
    }
}

/// Sums of uniform choices (the codeword test) against exact integer convolution,
/// tests/data/choice_sum.json: exact cases to 1e-9 relative in ln p; rounded cases bound the
/// exact tail from above and stay below the tail at the threshold lowered by `len · step`.
#[test]
fn choice_sum_tail_matches_exact_counts() {
    use provmark::stats::choice_sum_sf_ln;
    let v: Value = serde_json::from_str(&crate::data("choice_sum.json")).unwrap();
    let parse = |x: &Value| -> f64 {
        match x.as_str().unwrap() {
            "-inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap(),
        }
    };
    let mut rounded = 0;
    for c in v["cases"].as_array().unwrap() {
        let tables: Vec<Vec<u64>> = c["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            })
            .collect();
        let refs: Vec<&[u64]> = tables.iter().map(Vec::as_slice).collect();
        let bins = c["max_bins"].as_u64().unwrap() as usize;
        for th in c["thresholds"].as_array().unwrap() {
            let t = th["t"].as_u64().unwrap();
            let want = parse(&th["ln_sf"]);
            let got = choice_sum_sf_ln(&refs, t, bins).unwrap();
            let what = format!("{} t {t}", c["name"]);
            if let Some(lowered) = th.get("ln_sf_lowered") {
                rounded += 1;
                assert!(got.step > 1, "{what}");
                let lowered = parse(lowered);
                assert!(
                    got.ln_p >= want - 1e-12 && got.ln_p <= lowered + 1e-12,
                    "{what}: {} not in [{want}, {lowered}]",
                    got.ln_p
                );
            } else if want == f64::NEG_INFINITY {
                assert_eq!(got.ln_p, want, "{what}");
            } else {
                assert_eq!(got.step, 1, "{what}");
                assert!(
                    (got.ln_p - want).abs() <= 1e-9 * want.abs().max(1e-3),
                    "{what}: {} vs {want}",
                    got.ln_p
                );
            }
        }
    }
    assert!(rounded >= 4);
    // Bad input is an error, not a panic.
    assert!(choice_sum_sf_ln(&[&[]], 1, 16).is_err());
    assert!(choice_sum_sf_ln(&[&[1, 2]], 1, 0).is_err());
    assert!(choice_sum_sf_ln(&[&[0, u64::MAX]], 1, usize::MAX).is_err());
    let many = vec![[0u64, 1].as_slice(); 1100];
    assert!(choice_sum_sf_ln(&many, 1, 16).is_err());
}
