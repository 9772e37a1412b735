"""Detector side: text generated through the package is detected, unwatermarked text is not,
fields match `provmark detect --json`, and audits attribute documents to their account."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import provmark
from conftest import REPO, sample_text

VOCAB = 5000


def test_generated_text_is_detected():
    # 300 tokens from a toy model with ~4 nats of entropy per step: watermarked z is about 9,
    # so p <= 1e-6 fails with probability far below 1e-9 (fixed seeds make it deterministic).
    key = provmark.Key.generate()
    for seed in range(3):
        wm = provmark.detect(key, sample_text(key, 300, VOCAB, seed, True), vocab_size=VOCAB)
        assert wm.verdict == "watermarked" and wm.watermarked and bool(wm)
        assert wm.log10_p_value < -6 and wm.scored > 250
        plain = provmark.detect(key, sample_text(key, 300, VOCAB, seed, False), vocab_size=VOCAB)
        # Under the null p is uniform: P[p <= 1e-6] = 1e-6 per seed.
        assert plain.verdict == "not_watermarked"
        assert len(plain.flags) == plain.tokens == 300
        assert set(plain.flags) <= {"green", "red", "repeated", "no_context"}


def test_text_input_uses_the_key_tokenizer():
    key = provmark.Key.generate()
    ids = sample_text(key, 400, 20_000, 1, True)
    text = key.decode(ids)
    d = provmark.detect(key, text)
    assert d.tokens == len(key.encode(text))
    assert d.verdict == "watermarked"


def test_text_is_normalised_as_the_key_says():
    # New keys record normalisation v1: zero-width spaces and Cyrillic look-alikes inserted
    # into a watermarked text change nothing the detector sees (deterministic: same tokens).
    key = provmark.Key.generate()
    assert key.normalization == "v1"
    text = key.decode(sample_text(key, 300, 20_000, 2, True))
    attacked = text.replace(" ", "\u200b ")
    clean, edited = provmark.detect(key, text), provmark.detect(key, attacked)
    assert edited.tokens == clean.tokens and edited.green == clean.green
    assert edited.verdict == "watermarked"
    # Look-alikes in English text fold back (the toy model's random tokens are not English, and
    # look-alikes in non-Latin text are left as written).
    english = "The quick brown fox jumps over the lazy dog, once more, with feeling."
    homoglyphs = english.replace("e", "\u0435").replace("o", "\u03bf").replace("a", "\u0430")
    assert key.normalize(homoglyphs) == english
    assert key.encode(homoglyphs) == key.encode(english)


def test_dedup_and_options():
    key = provmark.Key.generate()
    ids = [5, 6, 7] * 200
    d = provmark.detect(key, ids, vocab_size=10)
    assert d.scored == 3 and d.verdict == "insufficient"
    nd = provmark.detect(key, ids, vocab_size=10, dedup=False, min_tokens=1)
    assert nd.scored == 598
    with pytest.raises(provmark.InvalidParameterError):
        provmark.detect(key, ids, alpha=0)
    with pytest.raises(provmark.TokenOutOfRangeError):
        provmark.detect(key, [1, 2, 10], vocab_size=10)
    with pytest.raises(provmark.TokenOutOfRangeError):
        provmark.detect(key, [1, -2, 3], vocab_size=10)
    with pytest.raises(provmark.InvalidInputError):
        provmark.detect(key, [1, "x"], vocab_size=10)


def test_p_value_far_below_double_range():
    key = provmark.Key.generate()
    ids = sample_text(key, 3000, VOCAB, 4, True)
    d = provmark.detect(key, ids, vocab_size=VOCAB, dedup=False)
    assert d.log10_p_value < -200 and (d.p_value is None or d.p_value > 0.0)
    # Below the smallest double p is None (0.0 would read as certainty); log10 stays exact.
    d = provmark.detect(key, sample_text(key, 8000, VOCAB, 5, True), vocab_size=VOCAB, dedup=False)
    assert d.log10_p_value < -310 and d.p_value is None
    assert d.to_dict()["p_value"] is None and "e-" in d.to_dict()["p_value_text"]


def cli_binary() -> Path | None:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("debug", "release"):
        b = target / profile / "provmark"
        if b.exists():
            return b
    return None


@pytest.mark.skipif(cli_binary() is None, reason="the provmark CLI is not built")
def test_fields_equal_cli_json(tmp_path):
    key = provmark.Key.generate()
    path = tmp_path / "k.json"
    key.save(path)
    ids = sample_text(key, 200, VOCAB, 2, True)
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(ids))
    out = subprocess.run(
        [str(cli_binary()), "detect", "--key", str(path), "--ids", "--json", str(ids_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cli = json.loads(out)
    mine = provmark.detect(key, ids).to_dict()
    assert cli.pop("input") == str(ids_file)
    assert mine == cli


def test_audit_attributes_the_account():
    master = provmark.MasterKey.generate()
    accounts = [f"dev-{i}" for i in range(20)]
    leaked = master.derive("dev-7")
    audit = provmark.Audit()
    audit.add_accounts(master, accounts)
    for seed in range(10):
        audit.add_document(sample_text(leaked, 100, VOCAB, 100 + seed, True), prompt=[1, 2, 3])
    report = audit.report()
    assert audit.documents == 10
    assert report["attribution"] == "dev-7"
    rows = {r["account"]: r for r in report["rows"]}
    assert rows["dev-7"]["verdict"] == "watermarked"
    assert report["tied"] == [] and report["separations"][0]["separated"]
    assert not report["unlisted_source"] and report["codeword"][0]["account"] == "dev-7"
    assert report["codeword"][0]["consistent"]
    tests = audit.codeword_tests()
    assert [t["account"] for t in tests] == accounts
    assert tests[7] == report["codeword"][0]
    # Coded accounts share a class at 1 position in 16, so an innocent account may reach
    # significance through the classes it shares with dev-7; it is then explained by dev-7.
    # Being flagged beyond that has probability <= 1e-6 per account.
    assert all(
        r["explained_by"] == "dev-7"
        for a, r in rows.items()
        if a != "dev-7" and r["verdict"] == "watermarked"
    )
    with pytest.raises(provmark.InvalidInputError):
        audit.add_predictions([1, 2, 3], [1, 2])


def test_rotation_names_the_one_key_that_fired():
    # Keys rotated per request: each 300-token answer (z about 9 under its key) fires its own
    # key at alpha/3 and no other (an unrelated key's p <= 1e-3 with probability 1e-3 each);
    # text carrying two keys fires neither alone. Fixed seeds.
    keys = [provmark.Key.generate() for _ in range(3)]
    for i, k in enumerate(keys):
        r = provmark.detect_rotation(keys, sample_text(k, 300, VOCAB, 10 + i, True), vocab_size=VOCAB)
        assert r["verdict"] == "watermarked" and r["fired"] == i
        assert [x["key_id"] for x in r["keys"]] == [str(x.key_id) for x in keys]
        assert r["detection"]["scored"] > 250
    mixed = sample_text(keys[0], 300, VOCAB, 20, True) + sample_text(keys[1], 300, VOCAB, 21, True)
    r = provmark.detect_rotation(keys, mixed, vocab_size=VOCAB)
    assert r["verdict"] == "not_watermarked" and r["fired"] is None and r["significant"] == 2
    assert provmark.detect(keys[0], mixed, vocab_size=VOCAB).verdict == "watermarked"
    with pytest.raises(provmark.InvalidParameterError):
        provmark.detect_rotation([], [1, 2, 3])
    with pytest.raises(provmark.InvalidParameterError):
        provmark.detect_rotation([keys[0], keys[0]], [1, 2, 3], vocab_size=VOCAB)
