"""Independent Python implementation of PRF v2 (docs/FORMAT.md, "PRF v2"), used to produce the
golden vectors in prf_v2.json. Standard library only; ChaCha8 is written out from RFC 8439 with
8 rounds instead of 20 and a caller-chosen counter and nonce. Shares no code with the Rust
implementation (nor with gen_prf_vectors.py).

Run: python3 tests/data/gen_prf_v2_vectors.py > tests/data/prf_v2.json
"""
import hashlib
import hmac
import json
import struct

MASK = 0xFFFFFFFF


def subkey(secret, scheme):
    return hmac.new(secret, b"provmark/v1/prf-v2/" + scheme.encode(), hashlib.sha256).digest()


def key_id(secret):
    return "pm1-" + hmac.new(secret, b"provmark/v1/key-id", hashlib.sha256).digest()[:8].hex()


def chacha8(key, counter, nonce_words):
    def rotl(v, c):
        return ((v << c) & MASK) | (v >> (32 - c))

    def qr(s, a, b, c, d):
        s[a] = (s[a] + s[b]) & MASK
        s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & MASK
        s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & MASK
        s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & MASK
        s[b] = rotl(s[b] ^ s[c], 7)

    init = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    init += list(struct.unpack("<8I", key)) + [counter & MASK] + list(nonce_words)
    w = list(init)
    for _ in range(4):
        qr(w, 0, 4, 8, 12)
        qr(w, 1, 5, 9, 13)
        qr(w, 2, 6, 10, 14)
        qr(w, 3, 7, 11, 15)
        qr(w, 0, 5, 10, 15)
        qr(w, 1, 6, 11, 12)
        qr(w, 2, 7, 8, 13)
        qr(w, 3, 4, 9, 14)
    return struct.pack("<16I", *[(a + b) & MASK for a, b in zip(w, init)])


def context_nonce(k, context):
    h = len(context)
    if h <= 3:
        return (list(context) + [0, 0, 0])[:3]
    x = [0, 0, 0]
    for j in range(0, h, 3):
        block = (list(context[j:j + 3]) + [0, 0, 0])[:3]
        out = chacha8(k, 0x80000000 | (h << 24) | (j // 3), [a ^ b for a, b in zip(x, block)])
        x = list(struct.unpack("<3I", out[:12]))
    return x


def keystream_byte(k, context, pos):
    nonce = context_nonce(k, context)
    base = len(context) << 24
    return chacha8(k, base + pos // 64, nonce)[pos % 64]


def keystream_word(k, context, token):
    pos = 4 * token
    nonce = context_nonce(k, context)
    base = len(context) << 24
    blk = chacha8(k, base + pos // 64, nonce)
    return struct.unpack("<I", blk[pos % 64:pos % 64 + 4])[0]


def main():
    secrets = [bytes(32), bytes(range(32)), hashlib.sha256(b"provmark golden key").digest()]
    contexts = [[], [0], [464], [464, 3290], [1, 2, 3], [1, 2, 3, 4], [9, 8, 7, 6, 5],
                [4294967295, 0, 200018, 7, 7, 7, 7, 7]]
    probe_tokens = [0, 1, 15, 16, 63, 64, 65, 1000, 128255, 200018, 2097151]
    cases = []
    for s in secrets:
        for scheme in ["kgw", "gumbel"]:
            k = subkey(s, scheme)
            for c in contexts:
                nonce = context_nonce(k, c)
                first = chacha8(k, len(c) << 24, nonce)
                cases.append({
                    "secret": s.hex(),
                    "key_id": key_id(s),
                    "scheme": scheme,
                    "subkey": k.hex(),
                    "context": c,
                    "nonce_words": nonce,
                    "first_block": len(c) << 24,
                    "first_bytes": first.hex(),
                    "green_bits_gamma_0_25": "".join("1" if b < 64 else "0" for b in first),
                    "probe_bytes": {str(t): keystream_byte(k, c, t) for t in probe_tokens},
                    "probe_words": {str(t): keystream_word(k, c, t) for t in probe_tokens
                                    if t < (1 << 21)},
                })
    print(json.dumps({"source": "tests/data/gen_prf_v2_vectors.py (independent Python implementation)",
                      "version": "v2", "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
