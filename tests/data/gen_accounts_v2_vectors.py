"""Independent Python implementation of coded accounts (accounts version 2) and of the
integrity tags of key files version 2 (docs/FORMAT.md, "Accounts v2" and "Integrity tags"),
used to produce accounts_v2.json. Standard library only; it reuses the ChaCha8 of
gen_prf_v2_vectors.py (itself written from RFC 8439) and shares no code with the Rust crate.

Run: python3 tests/data/gen_accounts_v2_vectors.py > tests/data/accounts_v2.json
"""
import hashlib
import hmac
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_prf_v2_vectors import keystream_byte, subkey  # noqa: E402

POSITIONS, SYMBOLS = 64, 16


def mac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def derive(secret, label):
    return mac(secret, b"provmark/v1/" + label.encode())


def codeword(master, account):
    return mac(derive(master, "accounts-v2/codeword"), account.encode())


def symbol(cw, j):
    b = cw[j // 2]
    return b & 15 if j % 2 == 0 else b >> 4


def class_key(master, j, c):
    return derive(master, f"accounts-v2/class/{j}/{c}")


def account_secret(master, account):
    return mac(derive(master, "accounts-v2/account"), account.encode())


def long_key_id(secret):
    return "pm2-" + derive(secret, "key-id")[:16].hex()


def position(master, context):
    k = subkey(derive(master, "accounts-v2/position"), "account-position")
    return keystream_byte(k, context, 0) % POSITIONS


def green(master, account, context, token, threshold=64):
    j = position(master, context)
    k = subkey(class_key(master, j, symbol(codeword(master, account), j)), "kgw")
    return keystream_byte(k, context, token) < threshold


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tags(secret, classes):
    tk = derive(secret, "file-tag/v2")
    return {c: mac(tk, c.encode() + b"\0" + canonical(v).encode())[:16].hex() for c, v in classes}


def key_file_classes(fmt, key_id, scheme, normalization, account, valid_from, valid_until, keys):
    return [
        ("format", {"format": fmt, "version": 2, "key_id": key_id}),
        ("scheme", scheme),
        ("tokenizer", {"type": "tiktoken", "name": "o200k_base"}),
        ("normalization", normalization),
        ("account", {"account": account}),
        ("validity", {"valid_from": valid_from, "valid_until": valid_until}),
        ("keys", keys),
    ]


def main():
    masters = [bytes(range(32)), hashlib.sha256(b"provmark accounts v2").digest()]
    contexts = [[464, 3290], [0, 1], [199997, 12], [7, 7]]
    cases = []
    for m in masters:
        for account in ["dev-0614071", "dev-0181629", "", "\u00e9quipe/7"]:
            cw = codeword(m, account)
            sec = account_secret(m, account)
            classes = [class_key(m, j, symbol(cw, j)) for j in range(POSITIONS)]
            pos_key = derive(m, "accounts-v2/position")
            digest = hashlib.sha256(pos_key + b"".join(classes)).hexdigest()
            scheme = {"type": "kgw-coded", "gamma": 0.25, "delta": 2.0, "context": 2}
            kid = long_key_id(sec)
            cases.append({
                "master": m.hex(),
                "account": account,
                "codeword": cw.hex(),
                "key_id": kid,
                "positions": [position(m, c) for c in contexts],
                "contexts": contexts,
                "green_bits_tokens_0_256": [
                    "".join("1" if green(m, account, c, t) else "0" for t in range(256))
                    for c in contexts
                ],
                "tags": tags(sec, key_file_classes(
                    "provmark-key", kid, scheme, "v1", account, "2026-01-01", None,
                    {"sha256": digest})),
            })
    plain = bytes([5] * 32)
    plain_id = "pm1-" + derive(plain, "key-id")[:8].hex()
    plain_scheme = {"type": "kgw", "prf": "v1", "gamma": 0.25, "delta": 2.0, "context": 2}
    plain_tags = tags(plain, key_file_classes(
        "provmark-key", plain_id, plain_scheme, "none", None, None, "2026-06-30", None))
    json.dump({"accounts": cases,
               "plain_key": {"secret": plain.hex(), "key_id": plain_id, "valid_until": "2026-06-30",
                             "tags": plain_tags}},
              sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
