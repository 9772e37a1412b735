"""Independent Python implementation of the SelfHash scheme (docs/FORMAT.md, "SelfHash"),
used to produce the golden vectors in selfhash.json. Builds on the standalone PRF v2 code of
gen_prf_v2_vectors.py (standard library only); shares no code with the Rust implementation.

Run: python3 tests/data/gen_selfhash_vectors.py > tests/data/selfhash.json
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_prf_v2_vectors import keystream_byte, keystream_word, subkey  # noqa: E402


def rank(k_anchor, token):
    """The keyed rank of a token; ties of the word broken by the token id."""
    return (keystream_word(k_anchor, [], token), token)


def anchor(k_anchor, context, token):
    return min((rank(k_anchor, t) for t in list(context) + [token]))[1]


def green(k_green, k_anchor, context, token, threshold):
    a = anchor(k_anchor, context, token)
    stream = [] if a == token else [a]
    return keystream_byte(k_green, stream, token) < threshold


def detect(k_green, k_anchor, tokens, h, threshold):
    """Scored pairs and green count with (anchor, token) dedup."""
    seen = set()
    scored = green_count = 0
    for t in range(h, len(tokens)):
        ctx, tok = tokens[t - h:t], tokens[t]
        a = anchor(k_anchor, ctx, tok)
        if (a, tok) in seen:
            continue
        seen.add((a, tok))
        scored += 1
        green_count += green(k_green, k_anchor, ctx, tok, threshold)
    return scored, green_count


def main():
    secrets = [bytes(32), hashlib.sha256(b"provmark golden key").digest()]
    cases = []
    for s in secrets:
        kg, ka = subkey(s, "selfhash"), subkey(s, "selfhash-anchor")
        for h, threshold, context in [(3, 64, [10, 11, 12]), (1, 128, [5]),
                                      (4, 64, [7, 7, 300, 2]), (3, 64, [0, 299, 150])]:
            vocab = 300
            bits = "".join("1" if green(kg, ka, context, v, threshold) else "0"
                           for v in range(vocab))
            # A repetitive text over 12 tokens, so pairs repeat under other contexts.
            x = 12345
            text = []
            for _ in range(120):
                x = (x * 1103515245 + 12345) % (1 << 31)
                text.append((x >> 16) % 12)
            scored, g = detect(kg, ka, text, h, threshold)
            cases.append({
                "secret": s.hex(),
                "gamma": threshold / 256,
                "context_width": h,
                "context": context,
                "context_anchor": min(rank(ka, t) for t in context)[1],
                "green_bits": bits,
                "text": text,
                "scored": scored,
                "green": g,
                "ranks": {str(t): keystream_word(ka, [], t) for t in sorted(set(context))},
            })
    print(json.dumps({"source": "tests/data/gen_selfhash_vectors.py (independent Python "
                      "implementation)", "scheme": "selfhash", "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
