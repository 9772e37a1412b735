/*
 * provmark_llama.c: the llama_sampler_i callbacks of provmark's llama.cpp sampler. Each one
 * forwards to the plain C ABI (provmark.h); all the watermark logic is in Rust.
 *
 * This file is compiled against the program's own llama.h, so the layout of
 * struct llama_sampler_i (which grows between llama.cpp releases) is always the one linked
 * against; designated initialisers leave any newer optional callbacks NULL.
 */
#include "provmark_llama.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

_Static_assert(sizeof(llama_token_data) == sizeof(provmark_token_data),
               "llama_token_data and provmark_token_data must have one layout");
_Static_assert(offsetof(llama_token_data, id) == offsetof(provmark_token_data, id),
               "id offset");
_Static_assert(offsetof(llama_token_data, logit) == offsetof(provmark_token_data, logit),
               "logit offset");
_Static_assert(offsetof(llama_token_data, p) == offsetof(provmark_token_data, p), "p offset");

struct provmark_llama_ctx {
    struct provmark_sampler *sampler;
    uint64_t failures;
};

static const char *pm_name(const struct llama_sampler *smpl) {
    (void) smpl;
    return "provmark";
}

static void pm_accept(struct llama_sampler *smpl, llama_token token) {
    struct provmark_llama_ctx *ctx = smpl->ctx;
    if (provmark_sampler_accept(ctx->sampler, token) != PROVMARK_OK) {
        ctx->failures++;
    }
}

static void pm_apply(struct llama_sampler *smpl, llama_token_data_array *cur_p) {
    struct provmark_llama_ctx *ctx = smpl->ctx;
    if (provmark_sampler_apply(ctx->sampler, (provmark_token_data *) cur_p->data, cur_p->size) !=
        PROVMARK_OK) {
        ctx->failures++;
        return;
    }
    /* Green logits moved up: the array is no longer known to be sorted. */
    cur_p->sorted = false;
}

/* Select mode: the keyed choice among the candidates, as the chain's last sampler. A failed
 * step (which llama.cpp cannot be told of) falls back to the most likely candidate. */
static void pm_select(struct llama_sampler *smpl, llama_token_data_array *cur_p) {
    struct provmark_llama_ctx *ctx = smpl->ctx;
    size_t selected = 0;
    if (provmark_sampler_select(ctx->sampler, (const provmark_token_data *) cur_p->data,
                                cur_p->size, &selected) != PROVMARK_OK) {
        ctx->failures++;
        selected = 0;
        for (size_t i = 1; i < cur_p->size; i++) {
            if (cur_p->data[i].logit > cur_p->data[selected].logit) selected = i;
        }
    }
    cur_p->selected = (int64_t) selected;
}

static void pm_reset(struct llama_sampler *smpl) {
    struct provmark_llama_ctx *ctx = smpl->ctx;
    provmark_sampler_reset(ctx->sampler);
}

static void pm_free(struct llama_sampler *smpl) {
    struct provmark_llama_ctx *ctx = smpl->ctx;
    provmark_sampler_free(ctx->sampler);
    free(ctx);
}

static struct llama_sampler *pm_clone(const struct llama_sampler *smpl);

static struct llama_sampler_i pm_iface = {
    .name = pm_name,
    .accept = pm_accept,
    .apply = pm_apply,
    .reset = pm_reset,
    .clone = pm_clone,
    .free = pm_free,
};

static const char *pm_dist_name(const struct llama_sampler *smpl) {
    (void) smpl;
    return "provmark-dist";
}

static struct llama_sampler_i pm_dist_iface = {
    .name = pm_dist_name,
    .accept = pm_accept,
    .apply = pm_select,
    .reset = pm_reset,
    .clone = pm_clone,
    .free = pm_free,
};

static struct llama_sampler *pm_wrap(struct provmark_sampler *sampler, uint64_t failures,
                                     struct llama_sampler_i *iface) {
    if (sampler == NULL) {
        return NULL;
    }
    struct provmark_llama_ctx *ctx = malloc(sizeof *ctx);
    if (ctx == NULL) {
        provmark_sampler_free(sampler);
        return NULL;
    }
    ctx->sampler = sampler;
    ctx->failures = failures;
    return llama_sampler_init(iface, ctx);
}

static struct llama_sampler *pm_clone(const struct llama_sampler *smpl) {
    const struct provmark_llama_ctx *ctx = smpl->ctx;
    return pm_wrap(provmark_sampler_clone(ctx->sampler), ctx->failures, smpl->iface);
}

struct llama_sampler *provmark_llama_sampler_init(const struct provmark_key *key) {
    /* A NULL key, or a key that chooses the token itself (use the dist sampler). */
    if (provmark_key_is_logit_bias(key) != 1) return NULL;
    return pm_wrap(provmark_sampler_new(key), 0, &pm_iface);
}

struct llama_sampler *provmark_llama_sampler_init_dist(const struct provmark_key *key,
                                                       uint32_t seed) {
    struct provmark_sampler *sampler = provmark_sampler_new(key);
    if (sampler != NULL && seed != LLAMA_DEFAULT_SEED) provmark_sampler_seed(sampler, seed);
    return pm_wrap(sampler, 0, &pm_dist_iface);
}

uint64_t provmark_llama_sampler_failures(const struct llama_sampler *smpl) {
    if (smpl == NULL || (smpl->iface != &pm_iface && smpl->iface != &pm_dist_iface)) {
        return 0;
    }
    const struct provmark_llama_ctx *ctx = smpl->ctx;
    return ctx->failures;
}
