"""Independent Python implementation of PRF v1 (docs/FORMAT.md), used to produce the golden
vectors in prf_v1.json. Standard library only; ChaCha8 is written out from RFC 8439 with 8
rounds instead of 20.

Run: python3 tests/data/gen_prf_vectors.py > tests/data/prf_v1.json
"""
import hashlib
import hmac
import json
import struct


def derive(secret, label):
    return hmac.new(secret, b"provmark/v1/" + label.encode(), hashlib.sha256).digest()


def key_id(secret):
    return "pm1-" + derive(secret, "key-id")[:8].hex()


def seed(secret, context):
    k = derive(secret, "kgw-prf")
    msg = b"provmark/prf/v1" + bytes([len(context)]) + b"".join(struct.pack("<I", c) for c in context)
    return hmac.new(k, msg, hashlib.sha256).digest()


def rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)


def chacha8_block(key, counter):
    const = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state = const + list(struct.unpack("<8I", key)) + [counter, 0, 0, 0]
    w = state[:]
    for _ in range(4):  # 4 double rounds = 8 rounds
        qr(w, 0, 4, 8, 12); qr(w, 1, 5, 9, 13); qr(w, 2, 6, 10, 14); qr(w, 3, 7, 11, 15)
        qr(w, 0, 5, 10, 15); qr(w, 1, 6, 11, 12); qr(w, 2, 7, 8, 13); qr(w, 3, 4, 9, 14)
    return struct.pack("<16I", *[(w[i] + state[i]) & 0xFFFFFFFF for i in range(16)])


def token_byte(sd, token):
    return chacha8_block(sd, token // 64)[token % 64]


secrets = [bytes(32), bytes(range(32)), hashlib.sha256(b"provmark golden key").digest()]
contexts = [[], [0], [464], [464, 3290], [1, 2, 3, 4], [4294967295, 0, 200018, 7, 7, 7, 7, 7]]
probe_tokens = [0, 1, 63, 64, 65, 1000, 128255, 200018, 2097151]
cases = []
for s in secrets:
    for c in contexts:
        sd = seed(s, c)
        first = b"".join(chacha8_block(sd, i) for i in range(2))[:64]
        cases.append({
            "secret": s.hex(),
            "key_id": key_id(s),
            "context": c,
            "seed": sd.hex(),
            "first_bytes": first.hex(),
            "green_bits_gamma_0_25": "".join("1" if b < 64 else "0" for b in first),
            "green_bits_gamma_0_5": "".join("1" if b < 128 else "0" for b in first),
            "probe": {str(t): token_byte(sd, t) for t in probe_tokens},
        })
def account_shift(master, account):
    mac = hmac.new(master, b"provmark/v1/account-shift/" + account.encode(), hashlib.sha256).digest()
    return struct.unpack("<I", mac[:4])[0] & ((1 << 20) - 1)


def ledger_fp(secret, context):
    k = derive(secret, "ledger")
    msg = b"provmark/ledger/v1" + bytes([len(context)]) + b"".join(struct.pack("<I", c) for c in context)
    return struct.unpack("<Q", hmac.new(k, msg, hashlib.sha256).digest()[:8])[0]


accounts = []
for s in secrets[1:]:
    for account in ["acme", "customer-42"]:
        shift = account_shift(s, account)
        sd = seed(s, [464, 3290])
        bits = "".join("1" if token_byte(sd, (v + shift) % (1 << 21)) < 64 else "0" for v in range(64))
        independent = derive(s, "account/" + account)
        accounts.append({
            "master": s.hex(),
            "account": account,
            "shift": shift,
            "key_id": key_id(s) + "+%06x" % shift,
            "green_bits_gamma_0_25_context_464_3290": bits,
            "independent_secret": independent.hex(),
            "independent_key_id": key_id(independent),
        })
ledger = [{"secret": s.hex(), "context": c, "fingerprint": str(ledger_fp(s, c))}
          for s in secrets[1:] for c in [[464, 3290], [1, 2, 3, 4]]]
print(json.dumps({"source": "tests/data/gen_prf_vectors.py (independent Python implementation)",
                  "version": "v1", "cases": cases, "accounts": accounts, "ledger": ledger}, indent=1))
