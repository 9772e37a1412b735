/*
 * provmark_llama.h: provmark as a llama.cpp sampler.
 *
 * Compile provmark_llama.c with your program, against your llama.cpp's llama.h, and link
 * libprovmark and libllama. Then, one line in the sampler chain, first (before temperature,
 * top-k/top-p and dist, so the bias acts on the raw logits as in provmark's own engines):
 *
 *     llama_sampler_chain_add(chain, provmark_llama_sampler_init(key));
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

/* A llama.cpp sampler watermarking with `key` (the key may be freed afterwards), or NULL on
 * failure (see provmark_last_error()). The chain that it is added to owns and frees it. */
struct llama_sampler *provmark_llama_sampler_init(const struct provmark_key *key);

/* Steps whose bias failed (a candidate id outside [0, 2^21)); such a step is left unbiased
 * because llama.cpp's apply cannot report errors. 0 for a sampler not made by provmark. */
uint64_t provmark_llama_sampler_failures(const struct llama_sampler *smpl);

#ifdef __cplusplus
}
#endif

#endif /* PROVMARK_LLAMA_H */
