/*
 * llama_tokenize.c: llama.cpp's tokenization of each line of a JSON Lines file of strings,
 * written as JSON Lines of {"text": ..., "ids": [...]} (the text echoed verbatim). No BOS/EOS
 * is added; control tokens written in the text (<|im_start|>) are parsed as such, as Hugging
 * Face's tokenizers do for added tokens. This is the independent implementation that pins provmark's GGUF
 * tokenizer: see crates/text/tests/data/smollm2-llama-cpp.jsonl and scripts/llama-cpp.sh.
 *
 *   llama_tokenize MODEL.gguf < texts.jsonl > vectors.jsonl
 *
 * Input lines are JSON string literals; they are decoded by a minimal JSON string parser
 * (\" \\ \/ \b \f \n \r \t \uXXXX with surrogate pairs), enough for the committed inputs.
 */
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_utf8(char **o, unsigned long c) {
    unsigned char *p = (unsigned char *) *o;
    if (c < 0x80) { *p++ = (unsigned char) c; }
    else if (c < 0x800) { *p++ = 0xC0 | (c >> 6); *p++ = 0x80 | (c & 0x3F); }
    else if (c < 0x10000) { *p++ = 0xE0 | (c >> 12); *p++ = 0x80 | ((c >> 6) & 0x3F); *p++ = 0x80 | (c & 0x3F); }
    else { *p++ = 0xF0 | (c >> 18); *p++ = 0x80 | ((c >> 12) & 0x3F); *p++ = 0x80 | ((c >> 6) & 0x3F); *p++ = 0x80 | (c & 0x3F); }
    *o = (char *) p;
}

/* Decodes the JSON string literal at `s` into `out`; returns its length or -1. */
static long json_string(const char *s, char *out) {
    char *o = out;
    if (*s++ != '"') return -1;
    while (*s && *s != '"') {
        if (*s != '\\') { *o++ = *s++; continue; }
        s++;
        switch (*s++) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned long c = strtoul((char[5]){s[0], s[1], s[2], s[3], 0}, NULL, 16);
                s += 4;
                if (c >= 0xD800 && c < 0xDC00 && s[0] == '\\' && s[1] == 'u') {
                    unsigned long lo = strtoul((char[5]){s[2], s[3], s[4], s[5], 0}, NULL, 16);
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                }
                put_utf8(&o, c);
                break;
            }
            default: return -1;
        }
    }
    return *s == '"' ? (long) (o - out) : -1;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void) user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf < texts.jsonl\n", argv[0]);
        return 2;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) return 1;
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    static char line[1 << 16], text[1 << 16];
    static llama_token ids[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0]) continue;
        long len = json_string(line, text);
        if (len < 0) { fprintf(stderr, "bad line: %s\n", line); return 1; }
        int n = llama_tokenize(vocab, text, (int) len, ids, (int) (sizeof ids / sizeof *ids), false, true);
        if (n < 0) return 1;
        printf("{\"text\": %s, \"ids\": [", line);
        for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("]}\n");
    }
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
