//! The built `provmark` binary, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provmark"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Standard output parsed as JSON Lines.
fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("provmark-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn keygen(dir: &Path, extra: &[&str]) -> PathBuf {
    let key = dir.join("k.json");
    let mut args = vec!["keygen", "--out", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    key
}

#[test]
fn keygen_generate_detect_round_trip() {
    let dir = tmpdir("round");
    let key = keygen(&dir, &["--tokenizer", "cl100k_base"]);
    let ks = key.to_str().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let content = std::fs::read_to_string(&key).unwrap();
    let id = stdout(&run(&["key-id", ks])).trim().to_string();
    assert!(id.starts_with("pm1-") && content.contains(&id));

    // Never overwritten.
    let again = run(&["keygen", "--out", ks]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("refusing to overwrite"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), content);

    let wm = run(&["generate", "--key", ks, "--tokens", "200", "--seed", "1"]);
    assert!(wm.status.success(), "{}", stderr(&wm));
    let plain = run(&[
        "generate",
        "--key",
        ks,
        "--tokens",
        "200",
        "--seed",
        "1",
        "--no-watermark",
    ]);
    let ids = run(&[
        "generate",
        "--key",
        ks,
        "--tokens",
        "200",
        "--seed",
        "2",
        "--output-ids",
    ]);
    std::fs::write(dir.join("wm.txt"), &wm.stdout).unwrap();
    std::fs::write(dir.join("plain.txt"), &plain.stdout).unwrap();
    std::fs::write(dir.join("ids.json"), &ids.stdout).unwrap();
    assert!(stdout(&ids).trim_start().starts_with('['));

    let o = run(&[
        "detect",
        "--key",
        ks,
        "--json",
        dir.join("wm.txt").to_str().unwrap(),
        dir.join("plain.txt").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = json_lines(&o);
    assert_eq!(lines.len(), 2);
    let fields: Vec<&str> = lines[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "input",
        "scheme",
        "key_id",
        "tokens",
        "scored",
        "score",
        "green",
        "gamma",
        "z_score",
        "p_value",
        "p_value_text",
        "log10_p_value",
        "test",
        "verdict",
    ];
    want.sort();
    let mut got = fields.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(lines[0]["verdict"], "watermarked");
    assert_eq!(lines[0]["key_id"], id.as_str());
    assert_eq!(lines[1]["verdict"], "not_watermarked");

    let o = run(&[
        "detect",
        "--key",
        ks,
        "--ids",
        dir.join("ids.json").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("watermarked"), "{}", stdout(&o));

    // stdin
    let mut child = bin()
        .args(["detect", "--key", ks, "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&wm.stdout).unwrap();
    let o = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["input"], "<stdin>");
    assert_eq!(v["verdict"], "watermarked");
}

#[test]
fn errors_are_one_line_and_other_inputs_still_reported() {
    let dir = tmpdir("errors");
    let key = keygen(&dir, &["--tokenizer", "cl100k_base", "--context", "1"]);
    let ks = key.to_str().unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "[1, 2, 999999999]").unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, "[1, 2, 3, 4]").unwrap();
    let o = run(&[
        "detect",
        "--key",
        ks,
        "--ids",
        "--json",
        bad.to_str().unwrap(),
        "missing.json",
        good.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("bad.json") && err.contains("outside the vocabulary"),
        "{err}"
    );
    assert!(err.contains("missing.json"), "{err}");
    assert!(!err.contains("panicked"));
    // With --json every input gets a record: an error record for each failure.
    let records = json_lines(&o);
    assert_eq!(records.len(), 3, "{}", stdout(&o));
    assert!(
        records[0]["error"]
            .as_str()
            .unwrap()
            .contains("outside the vocabulary")
    );
    assert_eq!(records[1]["input"], "missing.json");
    assert!(records[1]["error"].is_string());
    assert!(records[2]["verdict"].is_string());

    // A malformed key file: one line, names the file, no secret.
    let broken = dir.join("broken.json");
    let text = std::fs::read_to_string(&key).unwrap();
    std::fs::write(&broken, text.replace("\"version\": 2", "\"version\": 7")).unwrap();
    let o = run(&["key-id", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("broken.json") && stderr(&o).contains("version 7"));
    let secret = serde_json::from_str::<serde_json::Value>(&text).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!stderr(&o).contains(&secret[..16]));

    // Loose permissions give a warning, not a failure.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let loose = dir.join("loose.json");
        std::fs::write(&loose, &text).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = run(&["key-id", loose.to_str().unwrap()]);
        assert!(o.status.success());
        assert!(stderr(&o).contains("readable by group or others"));
    }

    // Bad parameters are rejected before any file is written.
    let o = run(&[
        "keygen",
        "--out",
        dir.join("g.json").to_str().unwrap(),
        "--gamma",
        "1.5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gamma"));
    assert!(!dir.join("g.json").exists());
    // Invalid UTF-8 text input.
    let bin_file = dir.join("bin.txt");
    std::fs::write(&bin_file, [0xff, 0xfe, 0x00]).unwrap();
    let o = run(&["detect", "--key", ks, bin_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("UTF-8"));
}

#[test]
fn master_derive_audit_with_corrupt_inputs() {
    let dir = tmpdir("audit");
    let master = dir.join("master.json");
    let p = |x: &str| dir.join(x).to_str().unwrap().to_string();
    let o = run(&[
        "keygen",
        "--master",
        "--out",
        &p("master.json"),
        "--tokenizer",
        "cl100k_base",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&master).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let o = run(&[
        "derive",
        "--master",
        &p("master.json"),
        "--account",
        "acme",
        "--out",
        &p("acme.json"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(
        dir.join("prompts.txt"),
        (0..12)
            .map(|i| format!("Prompt number {i}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let o = run(&[
        "generate",
        "--key",
        &p("acme.json"),
        "--prompts",
        &p("prompts.txt"),
        "--tokens",
        "120",
        "--seed",
        "3",
        "--ledger",
        &p("acme.ledger"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let corpus = dir.join("suspect");
    std::fs::create_dir_all(&corpus).unwrap();
    let mut jsonl = String::from_utf8(o.stdout).unwrap();
    jsonl.push_str("this line is not json\n");
    std::fs::write(corpus.join("outputs.jsonl"), jsonl).unwrap();
    std::fs::write(corpus.join("binary.txt"), [0xffu8, 0xfe, 0x01]).unwrap();
    std::fs::write(dir.join("accounts.txt"), "alpha\nacme\nbeta\n\ngamma\n").unwrap();
    for ledger in [false, true] {
        let (m, acc) = (p("master.json"), p("accounts.txt"));
        let mut args = vec!["audit", "--master", m.as_str(), "--accounts", acc.as_str()];
        let l = p("acme.ledger");
        if ledger {
            args.extend(["--ledger", l.as_str()]);
        }
        let c = corpus.to_str().unwrap().to_string();
        args.extend(["--json", c.as_str()]);
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "skipped inputs make the exit status 2"
        );
        let err = stderr(&o);
        assert!(
            err.contains("binary.txt") && err.contains("outputs.jsonl:13"),
            "{err}"
        );
        let lines: Vec<serde_json::Value> = json_lines(&o);
        assert_eq!(lines.len(), 5, "four accounts and the attribution");
        assert_eq!(lines[4]["attribution"], "acme");
        for f in [
            "key_id",
            "account",
            "documents",
            "tokens",
            "scored",
            "green",
            "expected_green",
            "z_score",
            "p_value",
            "log10_p_value",
            "corrected_p_value",
            "corrected_log10_p_value",
            "p_value_text",
            "verdict",
        ] {
            assert!(lines[0].get(f).is_some(), "missing {f}");
        }
        assert_eq!(lines[1]["verdict"], "watermarked");
        assert_eq!(lines[0]["verdict"], "not_watermarked");
    }
    // A single key audit: account is null, the key id is attributed.
    let o = run(&[
        "audit",
        "--key",
        &p("acme.json"),
        "--json",
        corpus.join("outputs.jsonl").to_str().unwrap(),
    ]);
    let lines: Vec<serde_json::Value> = json_lines(&o);
    assert!(lines[0]["account"].is_null());
    assert_eq!(lines[1]["attribution"], lines[0]["key_id"]);
}

/// The open-model audit from the command line: a suspect that predicts exactly what we served
/// (a perfect memorizer) convicts; a record whose predictions do not line up is skipped and
/// reported, and the exit status says so. 300 watermarked tokens give z ≈ 12 with the
/// default parameters, so missing the conviction would take a ~6σ shortfall.
#[test]
fn audit_scores_open_model_predictions() {
    let dir = tmpdir("open-model");
    let key = keygen(&dir, &[]);
    let k = key.to_str().unwrap();
    let o = run(&[
        "generate",
        "--key",
        k,
        "--prompt",
        "Once",
        "--tokens",
        "300",
        "--seed",
        "9",
        "--output-ids",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<u32> = serde_json::from_str(stdout(&o).trim()).unwrap();
    let record = |tokens: &[u32], predictions: &[u32]| {
        serde_json::json!({"tokens": tokens, "predictions": predictions}).to_string()
    };
    let lines = [
        record(&ids, &ids),
        record(&ids, &ids[1..]),
        r#"{"predictions": [1, 2]}"#.to_string(),
    ];
    let file = dir.join("predictions.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let o = run(&["audit", "--key", k, "--json", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("predictions.jsonl:2") && err.contains("predictions.jsonl:3"),
        "{err}"
    );
    let rows: Vec<serde_json::Value> = json_lines(&o);
    assert_eq!(rows[0]["documents"], 1);
    assert_eq!(rows[0]["verdict"], "watermarked", "{}", rows[0]);
    assert_eq!(rows[1]["attribution"], rows[0]["key_id"]);
}

/// SmolLM2 in candle through the CLI: a key made with the model's tokenizer, 200 tokens at
/// temperature 1 (end-of-turn ignored, so the length is fixed), detected from the text at
/// p < 1e-6; the unwatermarked twin (same seed) is not. Seeded; false-failure probability
/// ≤ 1e-6 on the unwatermarked side (the exact test's level), and negligible on the
/// watermarked side (z ≈ 10 expected at 200 tokens, threshold z ≈ 4.8).
#[cfg(feature = "candle")]
#[test]
fn real_model_generate_then_detect() {
    let Some(model) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let m = model.to_str().unwrap();
    let dir = tmpdir("real");
    let key = keygen(&dir, &["--tokenizer", m]);
    let ks = key.to_str().unwrap();
    let gen_args = [
        "generate",
        "--key",
        ks,
        "--model",
        m,
        "--tokens",
        "200",
        "--temperature",
        "1.0",
        "--seed",
        "11",
        "--ignore-eos",
        "--prompt",
        "Tell me about the history of bread.",
    ];
    let mut files = Vec::new();
    for (name, extra) in [("wm.txt", None), ("plain.txt", Some("--no-watermark"))] {
        let mut args = gen_args.to_vec();
        args.extend(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let path = dir.join(name);
        std::fs::write(&path, &o.stdout).unwrap();
        files.push(path);
    }
    let o = run(&[
        "detect",
        "--key",
        ks,
        "--json",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
    ]);
    let r = json_lines(&o);
    assert!(r[0]["log10_p_value"].as_f64().unwrap() < -6.0, "{}", r[0]);
    assert_eq!(r[0]["verdict"], "watermarked");
    assert!(r[1]["log10_p_value"].as_f64().unwrap() > -6.0, "{}", r[1]);
    assert_eq!(r[1]["verdict"], "not_watermarked");

    // A key made for another tokenizer is refused with a clear message, not used.
    let other = tmpdir("real-other");
    let o200k = keygen(&other, &["--tokenizer", "o200k_base"]);
    let o = run(&[
        "generate",
        "--key",
        o200k.to_str().unwrap(),
        "--model",
        m,
        "--prompt",
        "Hi",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("keygen --tokenizer MODEL.gguf"),
        "{}",
        stderr(&o)
    );
    // Empty requests are errors.
    let o = run(&["generate", "--key", ks, "--model", m, "--tokens", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `keygen --scheme vllm-*` then `detect --ids --json` reports what vLLM's detector reports for
/// its published goldens (relative error 1e-9), and text generated under the key is detected.
#[test]
fn vllm_keys_detect_vllm_goldens_and_generate() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/vllm_vectors.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = tmpdir("vllm");
    let mut checked = 0;
    for (i, g) in vectors["upstream_goldens_subset"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let scheme = match g["scheme"].as_str().unwrap() {
            "gumbel" => "vllm-gumbel",
            _ => "vllm-dual-key-gumbel",
        };
        let key = dir.join(format!("k{i}.json"));
        let o = run(&[
            "keygen",
            "--scheme",
            scheme,
            "--vllm-key",
            g["detection_key"].as_str().unwrap(),
            "--context",
            &g["context_width"].to_string(),
            "--alpha",
            &g["detection_alpha"].to_string(),
            "--out",
            key.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let ids = dir.join(format!("ids{i}.json"));
        std::fs::write(&ids, g["token_ids"].to_string()).unwrap();
        let o = run(&[
            "detect",
            "--key",
            key.to_str().unwrap(),
            "--ids",
            "--json",
            "--min-tokens",
            "1",
            ids.to_str().unwrap(),
        ]);
        let got = &json_lines(&o)[0];
        // grep's exit codes: 0 found, 1 not found.
        let found = got["verdict"] == "watermarked";
        assert_eq!(
            o.status.code(),
            Some(if found { 0 } else { 1 }),
            "{}",
            stderr(&o)
        );
        let want = &g["expected"];
        assert_eq!(got["scheme"], scheme);
        assert_eq!(got["scored"], want["num_scored_tokens"], "{}", g["id"]);
        for (field, vllm) in [("score", "score"), ("p_value", "p_value")] {
            let (a, b) = (got[field].as_f64().unwrap(), want[vllm].as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-9 * b.abs(),
                "{} {field}: {a} vs {b}",
                g["id"]
            );
        }
        let l10 = got["log10_p_value"].as_f64().unwrap();
        let p = want["p_value"].as_f64().unwrap();
        assert!((l10 - p.log10()).abs() <= 1e-9 * p.log10().abs());
        checked += 1;
    }
    assert!(checked >= 8);

    // Generation under each vLLM scheme is detected by the same key and not by another.
    for scheme in ["vllm-gumbel", "vllm-dual-key-gumbel", "vllm-red-green"] {
        let key = dir.join(format!("{scheme}.json"));
        let other = dir.join(format!("{scheme}-other.json"));
        for (k, v) in [(&key, "7"), (&other, "8")] {
            let o = run(&[
                "keygen",
                "--scheme",
                scheme,
                "--vllm-key",
                v,
                "--out",
                k.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let ks = key.to_str().unwrap();
        let o = run(&[
            "generate",
            "--key",
            ks,
            "--tokens",
            "200",
            "--seed",
            "3",
            "--output-ids",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let ids = dir.join(format!("{scheme}-ids.json"));
        std::fs::write(&ids, &o.stdout).unwrap();
        let verdict = |k: &Path| {
            let o = run(&[
                "detect",
                "--key",
                k.to_str().unwrap(),
                "--ids",
                "--json",
                ids.to_str().unwrap(),
            ]);
            assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
            json_lines(&o)[0]["verdict"].as_str().unwrap().to_string()
        };
        // The embedded n-gram model at T = 1 and 200 tokens: z 44–52 (Gumbel) and 7.8–11.4
        // (red-green) over seeds 3–5, far beyond α 1e-6 (z ≈ 4.9); the other key's p-value is
        // uniform, so "watermarked" there has probability 1e-6.
        assert_eq!(verdict(&key), "watermarked", "{scheme}");
        assert_ne!(verdict(&other), "watermarked", "{scheme}");
    }
    // A vllm key must fit in 64 bits; the parameters are validated.
    let bad = dir.join("bad.json");
    let o = run(&[
        "keygen",
        "--scheme",
        "vllm-gumbel",
        "--vllm-key",
        "18446744073709551616",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "keygen",
        "--scheme",
        "vllm-red-green",
        "--gamma",
        "1.5",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!bad.exists());
}

/// The CLI composes: `generate --prompts | detect` reads JSON Lines; `--ids` takes one array per
/// line; exit codes are grep's (0 found, 1 none, 2 unreadable, with the others reported);
/// `--localize` and `--sequential` report a span and a crossing; a p-value below the smallest
/// double is `null` with its text beside it, never 0.
#[test]
fn detect_composes_with_generate_and_follows_grep_exit_codes() {
    let dir = tmpdir("compose");
    let key = keygen(&dir, &[]);
    let ks = key.to_str().unwrap();
    let prompts = dir.join("prompts.txt");
    std::fs::write(&prompts, "The weather\nOnce upon a time\n").unwrap();
    let gen_out = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--key",
            ks,
            "--prompts",
            prompts.to_str().unwrap(),
            "--tokens",
            "150",
            "--seed",
            "3",
        ];
        args.extend(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        o.stdout
    };
    let detect_stdin = |input: &[u8], extra: &[&str]| {
        let mut child = bin()
            .args(["detect", "--key", ks, "--json"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    // Text records, recognised by content.
    let o = detect_stdin(&gen_out(&[]), &["--localize"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json_lines(&o);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["input"], "<stdin>:1");
    assert_eq!(r[0]["test"], "windowed");
    assert!(
        r[0]["span"]["end_char"].as_u64().unwrap() > r[0]["span"]["start_char"].as_u64().unwrap()
    );
    // Id records, and the sequential test.
    let o = detect_stdin(&gen_out(&["--output-ids"]), &["--sequential"]);
    assert_eq!(o.status.code(), Some(0));
    let r = json_lines(&o);
    assert!(r[1]["sequential"]["crossed_at_token"].as_u64().unwrap() < 150);
    // Unwatermarked: exit 1.
    let plain = gen_out(&["--no-watermark"]);
    assert_eq!(detect_stdin(&plain, &[]).status.code(), Some(1));
    // --ids: one array per line.
    let o = detect_stdin(
        b"[1, 2, 3]\n\n[4, 5, 6, 7]\n",
        &["--ids", "--min-tokens", "1"],
    );
    assert_eq!(o.status.code(), Some(1));
    let r = json_lines(&o);
    assert_eq!(
        (r[0]["input"].as_str(), r[1]["input"].as_str()),
        (Some("<stdin>:1"), Some("<stdin>:3"))
    );
    // A bad record is an error record; the others are still tested.
    let o = detect_stdin(
        b"{\"text\": \"hello there\"}\n{\"tokens\": [1, -2]}\n",
        &["--jsonl"],
    );
    assert_eq!(o.status.code(), Some(2));
    let r = json_lines(&o);
    assert!(
        r[0]["verdict"].is_string() && r[1]["error"].is_string(),
        "{r:?}"
    );
    // A p-value below the smallest double: null, with its decimal text; log10 authoritative.
    let long = dir.join("long.txt");
    let o = run(&["generate", "--key", ks, "--tokens", "4000", "--seed", "1"]);
    std::fs::write(&long, &o.stdout).unwrap();
    let o = run(&["detect", "--key", ks, "--json", long.to_str().unwrap()]);
    let r = &json_lines(&o)[0];
    let l10 = r["log10_p_value"].as_f64().unwrap();
    assert!(l10 < -310.0, "{r}");
    assert!(r["p_value"].is_null(), "{r}");
    assert!(r["p_value_text"].as_str().unwrap().contains('e'));
    // Another tokenizer's ids are decoded and re-tokenized; a scan names the tokenizer.
    let ids_o200k = gen_out(&["--output-ids"]);
    let o = detect_stdin(&ids_o200k, &["--from-tokenizer", "o200k_base"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = detect_stdin(&gen_out(&[]), &["--scan-tokenizers", "cl100k_base,key"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json_lines(&o);
    assert_eq!(r[0]["test"], "tokenizer_scan");
    assert_eq!(r[0]["scan"]["best"], "o200k_base");
    assert_eq!(r[0]["scan"]["candidates"].as_array().unwrap().len(), 2);
    let (best, corrected) = (
        r[0]["log10_p_value"].as_f64().unwrap(),
        r[0]["scan"]["log10_p_corrected"].as_f64().unwrap(),
    );
    assert!((corrected - (best + 2f64.log10())).abs() < 1e-9);
    // --exit-zero.
    assert_eq!(
        detect_stdin(&plain, &["--exit-zero"]).status.code(),
        Some(0)
    );
    // An HTML report of the inputs, the span outlined; never over an existing file.
    let html = dir.join("report.html");
    let hs = html.to_str().unwrap();
    let o = detect_stdin(&gen_out(&[]), &["--localize", "--html", hs]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("class=\"overview\"") && page.contains("class=\"win\""));
    let o = detect_stdin(&gen_out(&[]), &["--html", hs]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"));
}

/// Values that look like flags, empty requests, overwrites, completions and the man page.
#[test]
fn cli_values_refusals_completions_and_man() {
    let dir = tmpdir("refusals");
    let key = keygen(&dir, &[]);
    let ks = key.to_str().unwrap();
    // A negative number is a value, refused as out of range (not "unexpected argument").
    let o = run(&[
        "keygen",
        "--delta",
        "-1",
        "--out",
        dir.join("k2.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("delta"), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("unexpected argument"),
        "{}",
        stderr(&o)
    );
    // Empty requests.
    let o = run(&["generate", "--key", ks, "--tokens", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("at least 1"), "{}", stderr(&o));
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n\n").unwrap();
    let o = run(&[
        "generate",
        "--key",
        ks,
        "--prompts",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no prompts"), "{}", stderr(&o));
    // Writers never overwrite without --force.
    let model = dir.join("model.bin");
    std::fs::write(&model, b"precious").unwrap();
    // One small file, named through a symbolic link: trained on (too small to hold out text).
    let real = dir.join("c.txt");
    std::fs::write(&real, "Some text to train on, and more of it. ".repeat(50)).unwrap();
    let corpus = dir.join("corpus.txt");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&real, &corpus).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&real, &corpus).unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "lm",
            "train",
            "--corpus",
            corpus.to_str().unwrap(),
            "--order",
            "2",
            "--out",
            model.to_str().unwrap(),
        ];
        args.extend(extra);
        run(&args)
    };
    let o = train(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&model).unwrap(), b"precious");
    let o = train(&["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("not measured"), "{}", stdout(&o));
    let demo = dir.join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    std::fs::write(demo.join("report.html"), "mine").unwrap();
    let o = run(&[
        "demo",
        "--corpus",
        corpus.to_str().unwrap(),
        "--out",
        demo.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(demo.join("report.html")).unwrap(),
        "mine"
    );
    // Completions and man page, generated from the definitions.
    let o = run(&["completions", "bash"]);
    assert!(
        o.status.success() && stdout(&o).contains("detect") && stdout(&o).contains("--localize")
    );
    let o = run(&["man"]);
    assert!(
        o.status.success() && stdout(&o).contains(".TH"),
        "{}",
        stdout(&o)
    );
}

/// Key rotation: `audit --from/--until` tests only the keys valid in the range and names the
/// others; `pvalue` reproduces an mpmath tail.
#[test]
fn audit_time_range_and_pvalue() {
    let dir = tmpdir("rotation");
    let old = keygen(&tmpdir("rotation-old"), &["--valid-until", "2025-12-31"]);
    let new = keygen(&tmpdir("rotation-new"), &["--valid-from", "2026-01-01"]);
    let text = dir.join("t.txt");
    std::fs::write(
        &text,
        "some suspect text to audit, long enough to score a few tuples",
    )
    .unwrap();
    let (o, n, t) = (
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        text.to_str().unwrap(),
    );
    let out = run(&[
        "audit",
        "--key",
        o,
        "--key",
        n,
        "--from",
        "2026-03-01",
        "--json",
        t,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "one key tested, then the summary");
    assert!(stderr(&out).contains("not tested") && stderr(&out).contains(o));
    let out = run(&["audit", "--key", o, "--from", "2026-03-01", t]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no key or master is valid"));
    let out = run(&[
        "keygen",
        "--out",
        dir.join("bad.json").to_str().unwrap(),
        "--valid-from",
        "2026-02-30",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // P[Binomial(1000, 0.25) >= 400] by mpmath at 50 digits (an exact sum):
    // 1.6103066e-25, log10 -24.793091.
    let out = run(&[
        "pvalue", "--n", "1000", "--green", "400", "--gamma", "0.25", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let l = v["log10_p_value"].as_f64().unwrap();
    assert!((l - (-24.793_091)).abs() < 1e-6, "{l}");
    let out = run(&["pvalue", "--n", "10", "--green", "11"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Keys rotated per request: `generate` with three keys watermarks each prompt under one of
/// them, and `detect` with the same keys names the one that fired. Text carrying two keys
/// (answers of two requests joined) is refused by the "exactly one key fires" rule, though a
/// single-key test would flag it. The seed is fixed; with 12 prompts all would draw one key
/// with probability 3 · 3^-12 ≈ 6e-6; a 600-token answer has z ≈ 11 on this model (4.8 was
/// seen at 120 tokens), and missing α/3 = 3.3e-7 (z ≈ 5) takes a 6σ shortfall (about 1e-8
/// per answer).
#[test]
fn keys_rotated_per_request() {
    let dir = tmpdir("rotation-keys");
    let keys: Vec<PathBuf> = (0..3)
        .map(|i| {
            let d = dir.join(format!("k{i}"));
            std::fs::create_dir_all(&d).unwrap();
            keygen(&d, &[])
        })
        .collect();
    let ks: Vec<&str> = keys.iter().map(|k| k.to_str().unwrap()).collect();
    let key_args: Vec<&str> = ks.iter().flat_map(|k| ["--key", *k]).collect();
    let prompts = dir.join("prompts.txt");
    std::fs::write(
        &prompts,
        (0..12)
            .map(|i| format!("request {i}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let mut args = vec!["generate", "--tokens", "600", "--seed", "5"];
    args.extend(&key_args);
    args.extend(["--prompts", prompts.to_str().unwrap()]);
    let g = run(&args);
    assert!(g.status.success(), "{}", stderr(&g));
    assert!(!stdout(&g).contains("pm1-") && !stderr(&g).contains("pm1-"));
    let answers = dir.join("answers.jsonl");
    std::fs::write(&answers, &g.stdout).unwrap();
    let mut args = vec!["detect", "--json"];
    args.extend(&key_args);
    args.push(answers.to_str().unwrap());
    let d = run(&args);
    assert!(d.status.success(), "{}", stderr(&d));
    let reports = json_lines(&d);
    assert_eq!(reports.len(), 12);
    let mut fired = std::collections::HashSet::new();
    for r in &reports {
        assert_eq!(r["verdict"], "watermarked", "{r}");
        assert_eq!(r["test"], "rotation");
        let k = r["rotation"]["fired"].as_str().unwrap().to_string();
        assert_eq!(r["key_id"].as_str(), Some(k.as_str()));
        assert_eq!(r["rotation"]["keys"].as_array().unwrap().len(), 3);
        fired.insert(k);
    }
    assert!(fired.len() >= 2, "every request drew one key: {fired:?}");
    // Two answers of different keys joined: a single key flags it, the rotation does not.
    let texts: Vec<(String, String)> = json_lines(&g)
        .iter()
        .zip(&reports)
        .map(|(g, r)| {
            (
                r["rotation"]["fired"].as_str().unwrap().to_string(),
                g["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (k1, t1) = &texts[0];
    let (_, t2) = texts.iter().find(|(k, _)| k != k1).unwrap();
    let joined = dir.join("joined.txt");
    std::fs::write(&joined, format!("{t1} {t2}")).unwrap();
    let mut args = vec!["detect", "--json"];
    args.extend(&key_args);
    args.push(joined.to_str().unwrap());
    let r = &json_lines(&run(&args))[0];
    assert_eq!(r["verdict"], "not_watermarked", "{r}");
    assert_eq!(r["rotation"]["significant"], 2);
    let first = keys
        .iter()
        .find(|k| stdout(&run(&["key-id", k.to_str().unwrap()])).trim() == k1)
        .unwrap();
    let single = run(&[
        "detect",
        "--json",
        "--key",
        first.to_str().unwrap(),
        joined.to_str().unwrap(),
    ]);
    assert_eq!(json_lines(&single)[0]["verdict"], "watermarked");
    // A repeated key, or a rotation with a windowed test, is refused.
    let o = run(&[
        "detect",
        "--key",
        ks[0],
        "--key",
        ks[0],
        joined.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("twice"), "{}", stderr(&o));
    let o = run(&[
        "detect",
        "--key",
        ks[0],
        "--key",
        ks[1],
        "--localize",
        joined.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("whole texts"), "{}", stderr(&o));
}
