/*
 * llama_generate.c: generate a chat answer with llama.cpp, watermarked by provmark.
 *
 *   llama_generate --model M.gguf --key K.key --prompt TEXT [--system TEXT] [--tokens N]
 *                  [--temperature T] [--top-p P] [--seed S] [--no-watermark] [--ignore-eos]
 *
 * Prints the answer's text on stdout and, on stderr, provmark's detection of the generated
 * token ids. The sampler chain is llama.cpp's own: for a logit-bias key (kgw, selfhash)
 * provmark first, then temperature, top-p and the seeded draw; for a key that chooses the token
 * (gumbel, synthid, vllm-*) temperature, top-p, then provmark's keyed draw in place of dist. Build (see scripts/llama-cpp.sh, which does this in CI):
 *
 *   cc -std=c11 -O2 -Ibindings/c/include -Ibindings/c/llama -I$LLAMA/include -I$LLAMA/ggml/include \
 *      bindings/c/examples/llama_generate.c bindings/c/llama/provmark_llama.c \
 *      -Ltarget/release -lprovmark_c -L$LLAMA_BUILD/bin -lllama -lggml -lggml-base -o llama_generate
 */
#include "llama.h"
#include "provmark.h"
#include "provmark_llama.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct options {
    const char *model, *key, *prompt, *system;
    int tokens;
    float temperature, top_p;
    uint32_t seed;
    bool watermark, ignore_eos;
};

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --model M.gguf --key K.key --prompt TEXT [--system TEXT] [--tokens N]\n"
            "       [--temperature T] [--top-p P] [--seed S] [--no-watermark] [--ignore-eos]\n",
            argv0);
    return 2;
}

static int parse(int argc, char **argv, struct options *o) {
    *o = (struct options){.tokens = 200, .temperature = 1.0f, .top_p = 1.0f, .seed = 1,
                          .watermark = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-watermark")) { o->watermark = false; continue; }
        if (!strcmp(a, "--ignore-eos")) { o->ignore_eos = true; continue; }
        if (v == NULL) return -1;
        i++;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--key")) o->key = v;
        else if (!strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--tokens")) o->tokens = atoi(v);
        else if (!strcmp(a, "--temperature")) o->temperature = strtof(v, NULL);
        else if (!strcmp(a, "--top-p")) o->top_p = strtof(v, NULL);
        else if (!strcmp(a, "--seed")) o->seed = (uint32_t) strtoul(v, NULL, 10);
        else return -1;
    }
    bool ok = o->model && o->key && o->prompt && o->tokens > 0 && o->temperature >= 0.0f &&
              o->top_p > 0.0f && o->top_p <= 1.0f;
    return ok ? 0 : -1;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void) user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

/* The prompt in the model's chat template, tokenized with its special tokens; NULL on error. */
static llama_token *chat_prompt(const struct llama_model *model, const struct options *o,
                                int *n_out) {
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    struct llama_chat_message msgs[2];
    size_t n_msg = 0;
    if (o->system) msgs[n_msg++] = (struct llama_chat_message){"system", o->system};
    msgs[n_msg++] = (struct llama_chat_message){"user", o->prompt};
    const char *tmpl = llama_model_chat_template(model, NULL);
    int len = llama_chat_apply_template(tmpl, msgs, n_msg, true, NULL, 0);
    if (len < 0) return NULL;
    char *text = malloc((size_t) len + 1);
    if (!text) return NULL;
    llama_chat_apply_template(tmpl, msgs, n_msg, true, text, len + 1);
    int n = -llama_tokenize(vocab, text, len, NULL, 0, true, true);
    llama_token *ids = n > 0 ? malloc((size_t) n * sizeof *ids) : NULL;
    if (ids && llama_tokenize(vocab, text, len, ids, n, true, true) != n) {
        free(ids);
        ids = NULL;
    }
    free(text);
    *n_out = n;
    return ids;
}

int main(int argc, char **argv) {
    struct options o;
    if (parse(argc, argv, &o) != 0) return usage(argv[0]);

    provmark_key *key = provmark_key_load(o.key);
    if (!key) {
        fprintf(stderr, "provmark: %s\n", provmark_last_error());
        return 1;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model *model = llama_model_load_from_file(o.model, llama_model_default_params());
    if (!model) {
        fprintf(stderr, "llama.cpp: cannot load %s\n", o.model);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    int n_prompt = 0;
    llama_token *prompt = chat_prompt(model, &o, &n_prompt);
    if (!prompt) {
        fprintf(stderr, "llama.cpp: cannot apply the chat template\n");
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (n_prompt + o.tokens + 8);
    cp.n_batch = cp.n_ctx;
    const char *threads = getenv("PROVMARK_THREADS");
    if (threads) cp.n_threads = cp.n_threads_batch = atoi(threads);
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama.cpp: cannot create a context\n");
        return 1;
    }

    /* The sampler chain: a logit-bias provmark sampler first (it biases raw logits, before
     * temperature), or provmark's keyed draw last, in place of dist. */
    struct llama_sampler *chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    const bool biases = provmark_key_is_logit_bias(key) == 1;
    struct llama_sampler *pm = NULL;
    if (o.watermark) {
        pm = biases ? provmark_llama_sampler_init(key)
                    : provmark_llama_sampler_init_dist(key, o.seed);
        if (!pm) {
            fprintf(stderr, "provmark: %s\n", provmark_last_error());
            return 1;
        }
        if (biases) llama_sampler_chain_add(chain, pm);
    }
    if (o.ignore_eos) {
        llama_logit_bias ban = {llama_vocab_eos(vocab), -INFINITY};
        llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(n_vocab, 1, &ban));
    }
    if (o.temperature == 0.0f) {
        /* Greedy decoding is never watermarked by a keyed draw (as in provmark and vLLM). */
        if (pm && !biases) {
            llama_sampler_free(pm);
            pm = NULL;
        }
        llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    } else {
        llama_sampler_chain_add(chain, llama_sampler_init_temp(o.temperature));
        llama_sampler_chain_add(chain, llama_sampler_init_top_p(o.top_p, 1));
        llama_sampler_chain_add(chain, pm && !biases ? pm : llama_sampler_init_dist(o.seed));
    }

    uint32_t *out = malloc((size_t) o.tokens * sizeof *out);
    if (!out) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int n_out = 0;
    struct llama_batch batch = llama_batch_get_one(prompt, n_prompt);
    llama_token next;
    while (n_out < o.tokens) {
        if (llama_decode(ctx, batch) != 0) {
            fprintf(stderr, "llama.cpp: decode failed\n");
            return 1;
        }
        next = llama_sampler_sample(chain, ctx, -1); /* also accepts `next` into the chain */
        if (llama_vocab_is_eog(vocab, next)) break;
        out[n_out++] = (uint32_t) next;
        char piece[256];
        int len = llama_token_to_piece(vocab, next, piece, sizeof piece, 0, false);
        if (len > 0) fwrite(piece, 1, (size_t) len, stdout);
        batch = llama_batch_get_one(&next, 1);
    }
    fputc('\n', stdout);

    if (o.watermark) {
        uint64_t failures = provmark_llama_sampler_failures(pm);
        if (failures) fprintf(stderr, "provmark: %llu steps unbiased\n", (unsigned long long) failures);
    }
    provmark_detection d;
    if (provmark_detect(key, out, (size_t) n_out, (size_t) n_vocab, 1e-6, &d) != PROVMARK_OK) {
        fprintf(stderr, "provmark: %s\n", provmark_last_error());
        return 1;
    }
    fprintf(stderr, "provmark: %s tokens=%llu scored=%llu green=%llu z=%.2f log10_p=%.2f\n",
            d.verdict == PROVMARK_VERDICT_WATERMARKED ? "watermarked"
            : d.verdict == PROVMARK_VERDICT_INSUFFICIENT ? "insufficient" : "not-watermarked",
            (unsigned long long) d.tokens, (unsigned long long) d.scored,
            (unsigned long long) d.green, d.z_score, d.log10_p_value);

    free(out);
    free(prompt);
    llama_sampler_free(chain);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    provmark_key_free(key);
    return 0;
}
