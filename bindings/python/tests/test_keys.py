"""Keys: files (0600, never overwritten, integrity-checked), generation, derivation, secrets
kept out of repr, errors and pickles."""

from __future__ import annotations

import copy
import json
import os
import pickle
import stat

import pytest

import provmark
from conftest import key_json, private_write


def test_save_load_roundtrip(tmp_path):
    key = provmark.Key.generate(gamma=0.5, delta=1.5, context=3)
    path = tmp_path / "k.json"
    key.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = provmark.KeyFile.load(path)
    assert again.key_id == key.key_id
    assert (again.gamma, again.delta, again.context) == (0.5, 1.5, 3)
    assert again.tokenizer == "o200k_base" and again.scheme == "kgw" and again.account is None


def test_never_overwrites(tmp_path):
    path = tmp_path / "k.json"
    path.write_text("precious")
    with pytest.raises(provmark.WouldOverwriteError) as e:
        provmark.Key.generate().save(path)
    assert isinstance(e.value, FileExistsError)
    assert path.read_text() == "precious"


def test_secret_never_shown(tmp_path):
    key = provmark.Key.generate()
    path = tmp_path / "k.json"
    key.save(path)
    secret = json.loads(path.read_text())["secret"]
    for text in (repr(key), str(key), repr(provmark.detect(key, [1, 2, 3, 4], vocab_size=10))):
        assert secret not in text and secret[:16] not in text
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            attempt(key)
    master = provmark.MasterKey.generate()
    with pytest.raises(TypeError):
        pickle.dumps(master)


def test_corrupt_and_edited_files(tmp_path, prf_vectors):
    case = prf_vectors["cases"][0]
    bad = tmp_path / "bad.json"
    private_write(bad, "{not json")
    with pytest.raises(provmark.KeyFormatError):
        provmark.Key.load(bad)
    edited = tmp_path / "edited.json"
    # A key id that does not match the secret: a corrupted or hand-edited file.
    private_write(edited, key_json(case["secret"], "pm1-0000000000000000", 2))
    with pytest.raises(provmark.KeyFormatError) as e:
        provmark.Key.load(edited)
    assert case["secret"] not in str(e.value)
    with pytest.raises(provmark.IoError):
        provmark.Key.load(tmp_path / "missing.json")
    with pytest.raises(provmark.KeyFormatError):
        provmark.Key.from_json("[]")


def test_loose_permissions_warn(tmp_path):
    path = tmp_path / "k.json"
    provmark.Key.generate().save(path)
    os.chmod(path, 0o644)
    with pytest.warns(UserWarning):
        provmark.Key.load(path)


def test_bad_parameters():
    with pytest.raises(provmark.InvalidParameterError):
        provmark.Key.generate(gamma=1.5)
    with pytest.raises(provmark.InvalidParameterError):
        provmark.Key.generate(context=9)
    with pytest.raises(provmark.InvalidParameterError):
        provmark.MasterKey.generate(accounts="some")
    with pytest.raises(provmark.TokenizerError):
        provmark.Key.generate(tokenizer="/no/such/tokenizer.json")


def test_account_vectors(tmp_path, prf_vectors):
    """Derivation reproduces the independent implementation's account key ids."""
    for i, case in enumerate(prf_vectors["accounts"]):
        master_id = case["key_id"].split("+")[0]
        path = tmp_path / f"master-{i}.json"
        private_write(
            path,
            json.dumps(
                {
                    "format": "provmark-master",
                    "version": 1,
                    "key_id": master_id,
                    "accounts": "shifted",
                    "scheme": {"type": "kgw", "prf": "v1", "gamma": 0.25, "delta": 2.0, "context": 2},
                    "tokenizer": {"type": "tiktoken", "name": "o200k_base"},
                    "secret": case["master"],
                }
            ),
        )
        with pytest.warns(UserWarning, match="version 1"):
            master = provmark.MasterKey.load(path)
        assert master.key_id == master_id and master.accounts == "shifted"
        key = master.derive(case["account"])
        assert key.key_id == case["key_id"]
        assert key.account == case["account"]
        ctx = [464, 3290]
        bits = "".join("1" if key.is_green(ctx, t) else "0" for t in range(64))
        assert bits == case["green_bits_gamma_0_25_context_464_3290"]


def test_coded_accounts_and_integrity_tags(tmp_path):
    """Coded account keys hold no master secret and have pm2 ids; an edited field of a tagged
    key file is a KeyFormatError naming the field class."""
    master = provmark.MasterKey.generate()
    assert master.accounts == "coded"
    mpath = tmp_path / "m.json"
    master.save(mpath)
    secret = json.loads(mpath.read_text())["secret"]
    key = master.derive("dev-1")
    assert key.key_id.startswith("pm2-") and key.account == "dev-1"
    kpath = tmp_path / "a.json"
    key.save(kpath)
    text = kpath.read_text()
    assert secret not in text
    assert provmark.Key.load(kpath).key_id == key.key_id
    edited = tmp_path / "edited.json"
    private_write(edited, text.replace('"gamma": 0.25', '"gamma": 0.3'))
    with pytest.raises(provmark.KeyFormatError) as e:
        provmark.Key.load(edited)
    assert "scheme" in str(e.value)


def test_every_scheme_samples_and_detects():
    """Key.sample drives generation under every scheme; detect finds the watermark, another key
    of the same scheme does not. A toy model over 2 000 ids (uniform over a shifting window of
    400) at temperature 1, 300 steps: observed log10 p below -20 for every scheme; the other
    key's p-value is uniform, so a false "watermarked" at 1e-6 has probability 1e-6."""
    import random

    import numpy as np

    rng = random.Random(5)
    keys = [
        provmark.Key.generate(scheme="kgw"),
        provmark.Key.generate(scheme="kgw", prf="v1"),
        provmark.Key.generate(scheme="gumbel"),
        provmark.Key.generate(scheme="synthid"),
        provmark.Key.from_vllm(42, algorithm="gumbel"),
        provmark.Key.from_vllm(42, algorithm="dual_key_gumbel", alpha=0.25),
        provmark.Key.from_vllm(42, algorithm="red_green"),
    ]
    others = [
        provmark.Key.generate(scheme="kgw"),
        provmark.Key.generate(scheme="kgw", prf="v1"),
        provmark.Key.generate(scheme="gumbel"),
        provmark.Key.generate(scheme="synthid"),
        provmark.Key.from_vllm(43, algorithm="gumbel"),
        provmark.Key.from_vllm(43, algorithm="dual_key_gumbel", alpha=0.25),
        provmark.Key.from_vllm(43, algorithm="red_green"),
    ]
    for key, other in zip(keys, others):
        ids: list[int] = []
        for step in range(300):
            logits = np.full(2000, -np.inf, dtype=np.float32)
            lo = (step * 37) % 1600
            logits[lo : lo + 400] = np.linspace(0.0, -4.0, 400, dtype=np.float32)
            ids.append(key.sample(ids, logits, rng.random()))
        mine = provmark.detect(key, ids, vocab_size=2000)
        theirs = provmark.detect(other, ids, vocab_size=2000)
        assert mine.watermarked and mine.log10_p_value < -20, (key, mine)
        assert not theirs.watermarked, (other, theirs)
        assert mine.scheme == key.scheme
        assert repr(key).startswith("Key(") and "secret" not in repr(key)


def test_vllm_keys_detect_vllm_goldens():
    """provmark.detect with a vLLM key reproduces vLLM's published detector results."""
    import json
    import pathlib

    data = json.loads(
        (pathlib.Path(__file__).parents[3] / "tests" / "data" / "vllm_vectors.json").read_text()
    )
    for g in data["upstream_goldens_subset"]:
        if g["scheme"] == "gumbel":
            key = provmark.Key.from_vllm(int(g["detection_key"]), context=g["context_width"])
        else:
            key = provmark.Key.from_vllm(
                int(g["detection_key"]),
                algorithm="dual_key_gumbel",
                context=g["context_width"],
                alpha=g["detection_alpha"],
            )
        d = provmark.detect(key, g["token_ids"], vocab_size=1 << 20, min_tokens=1)
        want = g["expected"]
        assert d.scored == want["num_scored_tokens"], g["id"]
        assert abs(d.score - want["score"]) <= 1e-9 * want["score"], g["id"]
        assert abs(d.p_value - want["p_value"]) <= 1e-9 * want["p_value"], g["id"]


def test_bias_refuses_distortion_free_keys():
    import numpy as np

    key = provmark.Key.generate(scheme="gumbel")
    assert key.gamma is None and key.delta is None and key.context == 2
    with pytest.raises(provmark.InvalidParameterError, match="Key.sample"):
        key.bias([1, 2], np.zeros(100, dtype=np.float32))
    with pytest.raises(provmark.Error):
        provmark.Key.from_vllm(1, algorithm="nope")
    with pytest.raises(OverflowError):
        provmark.Key.from_vllm(1 << 64)
