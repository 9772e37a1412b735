/*
 * provmark_llama.h: provmark as a llama.cpp sampler.
 *
 * Compile provmark_llama.c with your program, against your llama.cpp's llama.h, and link
 * libprovmark and libllama. Then, one line in the sampler chain, first (before temperature,
 * top-k/top-p and dist, so the bias acts on the raw logits as in provmark's own engines):
 *
 *     llama_sampler_chain_add(chain, provmark_llama_sampler_init(key));
 *
 * (Keys that choose the token themselves — gumbel, synthid, vllm-* — go last instead, in place
 * of llama_sampler_init_dist: provmark_llama_sampler_init_dist below.)
 *
 * The sampler biases cur_p->data[i].logit by token id (the array may be truncated or sorted;
 * it is marked unsorted afterwards) and remembers the tokens that llama_sampler_accept gives
 * it. The first h generated tokens are unbiased unless the prompt's tokens are accepted too.
 */
#ifndef PROVMARK_LLAMA_H
#define PROVMARK_LLAMA_H

#include "llama.h"
#include "provmark.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A llama.cpp sampler biasing with a logit-bias `key` (kgw, selfhash; the key may be freed
 * afterwards), or NULL on failure — also for keys that choose the token themselves (see
 * provmark_key_is_logit_bias(); use provmark_llama_sampler_init_dist). The chain that it is
 * added to owns and frees it. */
struct llama_sampler *provmark_llama_sampler_init(const struct provmark_key *key);

/* A llama.cpp sampler that chooses the token with `key`, for every scheme: it replaces
 * llama_sampler_init_dist as the chain's LAST sampler, after temperature and top-k/top-p,
 * whose output distribution it samples (distortion-free schemes: exactly; gumbel, synthid,
 * vllm-*). `seed` seeds its draws (LLAMA_DEFAULT_SEED: from the operating system). A failed
 * step (counted by provmark_llama_sampler_failures) selects the most likely candidate. */
struct llama_sampler *provmark_llama_sampler_init_dist(const struct provmark_key *key,
                                                       uint32_t seed);

/* Steps whose bias failed (a candidate id outside [0, 2^21)); such a step is left unbiased
 * because llama.cpp's apply cannot report errors. 0 for a sampler not made by provmark. */
uint64_t provmark_llama_sampler_failures(const struct llama_sampler *smpl);

#ifdef __cplusplus
}
#endif

#endif /* PROVMARK_LLAMA_H */
