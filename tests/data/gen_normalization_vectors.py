#!/usr/bin/env python3
"""Golden vectors for text normalisation v1 (docs/FORMAT.md), computed independently of the
Rust implementation: NFC from Python's `unicodedata`, look-alikes from the `confusable_homoglyphs`
package's copy of Unicode's confusables (pip install confusable-homoglyphs==3.3.1), the
default-ignorable ranges from Unicode's DerivedCoreProperties.txt written out below.

Run: python3 tests/data/gen_normalization_vectors.py > tests/data/normalization_v1.json
"""
import json
import os
import unicodedata

import confusable_homoglyphs

CONF = json.load(
    open(os.path.join(os.path.dirname(confusable_homoglyphs.__file__), "confusables.json"))
)

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15-18: unchanged ranges).
IGNORABLE = [
    (0xAD, 0xAD), (0x34F, 0x34F), (0x61C, 0x61C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
]
SPACES = {0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000}
ALNUM = [chr(c) for c in [*range(0x30, 0x3A), *range(0x41, 0x5B), *range(0x61, 0x7B)]]


def ignorable(c):
    o = ord(c)
    return any(a <= o <= b for a, b in IGNORABLE)


def lookalike(c):
    """The one ASCII letter/digit of c's case confusable with c, if exactly one."""
    if c.isascii() or not c.isalnum():
        return None
    # Confusable with c directly, or through a character both are confusable with (UTS #39
    # confusability is sharing a skeleton: Greek capital iota and I are both confusable with l).
    near = {e["c"] for e in CONF.get(c, [])}
    cands = {a for a in ALNUM if a in near or near & {e["c"] for e in CONF.get(a, [])}}
    if c.isupper():
        cands = {a for a in cands if a.isupper()}
    elif c.islower():
        cands = {a for a in cands if a.islower()}
    else:
        cands = {a for a in cands if a.isdigit()}
    return cands.pop() if len(cands) == 1 else None


def is_mark(c):
    return unicodedata.category(c).startswith("M")


def fold(s):
    ascii_letters = sum(1 for c in s if c.isascii() and c.isalpha())
    other = sum(1 for c in s if not c.isascii() and c.isalpha() and lookalike(c) is None)
    latin = ascii_letters > other
    out, word = [], []

    def flush():
        has_ascii = any(c.isascii() and c.isalpha() for c in word)
        all_foldable = all(c.isascii() or not c.isalpha() or lookalike(c) for c in word)
        f = has_ascii or (latin and all_foldable)
        out.extend((lookalike(c) or c) if f else c for c in word)
        word.clear()

    for c in s:
        if c.isalnum() or (word and is_mark(c)):
            word.append(c)
        else:
            flush()
            out.append(c)
    flush()
    return "".join(out)


def v1(text):
    s = text.replace("\r\n", "\n").replace("\r", "\n")
    s = "".join("\n" if c in "\x85\u2028\u2029" else c for c in s if not ignorable(c))
    s = unicodedata.normalize("NFC", s)
    s = "".join(
        chr(ord(c) - 0xFF01 + 0x21) if 0xFF01 <= ord(c) <= 0xFF5E
        else " " if ord(c) in SPACES else c
        for c in s
    )
    s = fold(s)
    lines = []
    for line in s.split("\n"):
        body = line.lstrip(" ")
        lead = line[: len(line) - len(body)]
        collapsed, prev = [], False
        for c in body:
            if c == " " and prev:
                continue
            prev = c == " "
            collapsed.append(c)
        lines.append(lead + "".join(collapsed))
    return unicodedata.normalize("NFC", "\n".join(lines))


CASES = [
    "Plain ASCII, nothing to do.",
    "The\u200b quick\u200b brown\u200b fox\u200b jumps.",
    "\u202eReversed\u202c and \u2066isolated\u2069 text, soft\u00adhyphen, BOM\ufeff.",
    "Wind\u200cows and j\u200doiners, variation\ufe0f selector.",
    "Th\u0435 qu\u0456ck br\u043ewn f\u043ex, \u0399t \u0391ll \u039fk.",
    "\u0421\u0430t \u0440\u0435ople",
    "\u041c\u0430\u043c\u0430 \u043c\u044b\u043b\u0430 \u0440\u0430\u043c\u0443.",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03ba\u03b5\u03af\u03bc\u03b5\u03bd\u03bf.",
    "\uff34\uff48\uff45 \uff46\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48\uff01",
    "no-break\u00a0space, em\u2003space, thin\u2009space, ideographic\u3000space",
    "windows\r\nline\rendings\u2028and separators\u2029end",
    "cafe\u0301 and re\u0301sume\u0301",
    "    indented  code   stays  indented",
    "trailing spaces  \nnext",
    "Curly \u201cquotes\u201d \u2014 an ellipsis\u2026 \u00bd \u00b2",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u6771\u4eac\u3002",
    "mixed: caf\u0435\u0301 and na\u00efve",
    "emoji \U0001F980 crab and \U0001F469\u200d\U0001F4BB coder",
    "\u0430 word alone, \u0441\u043e\u0440 whole, in English text.",
    "Math \U0001D41A\U0001D41B\U0001D41C letters and \u2160 numerals",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 text with one Latin word: \u0441at.",
    "tabs\tstay\t\tas they are",
]

if __name__ == "__main__":
    vectors = [{"input": c, "v1": v1(c)} for c in CASES]
    print(json.dumps({"normalization": "v1", "vectors": vectors}, ensure_ascii=True, indent=1))
