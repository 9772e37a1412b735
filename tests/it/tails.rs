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
