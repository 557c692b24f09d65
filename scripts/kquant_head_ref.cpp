// kquant_head_ref.cpp - the reference numbers of the K-quant head test
// (fixtures/kquant/head-*.f32, tests/test_kquant.c): a model evaluated by
// bitnet.cpp's llama.cpp fork on given token ids, writing the output head's
// input (the graph's "result_norm" tensor) and every position's logits, both
// float32 little-endian, [n_tokens][n_embd] then [n_tokens][n_vocab], to OUT.
// Built and run by scripts/make_kquant_golden.sh against bitnet.cpp's static
// libraries; not part of bntk's build.
//
//   kquant_head_ref MODEL.gguf OUT ID...
#include "llama.h"
#include "ggml.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static std::vector<float> head_in;

// Keep the head's input: asked once per tensor (ask = true), then handed the result.
static bool keep_result_norm(struct ggml_tensor *t, bool ask, void *)
{
    bool want = std::strcmp(t->name, "result_norm") == 0;
    if (!ask && want) {
        const float *p = static_cast<const float *>(t->data);
        head_in.assign(p, p + ggml_nelements(t));
    }
    return ask ? want : true;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: kquant_head_ref MODEL.gguf OUT ID...\n");
        return 2;
    }
    std::vector<llama_token> ids;
    for (int i = 3; i < argc; i++)
        ids.push_back(std::atoi(argv[i]));
    const int n = (int)ids.size();
    llama_backend_init();
    llama_model *model = llama_load_model_from_file(argv[1], llama_model_default_params());
    if (!model)
        return 3;
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = 64;
    cp.n_threads = cp.n_threads_batch = 1;
    cp.cb_eval = keep_result_norm;
    llama_context *ctx = llama_new_context_with_model(model, cp);
    llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = ids[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_decode(ctx, b) != 0 || head_in.empty())
        return 1;
    const int nv = llama_n_vocab(model);
    FILE *f = std::fopen(argv[2], "wb");
    if (!f)
        return 3;
    std::fwrite(head_in.data(), sizeof(float), head_in.size(), f);
    for (int i = 0; i < n; i++)
        std::fwrite(llama_get_logits_ith(ctx, i), sizeof(float), nv, f);
    std::fclose(f);
    std::fprintf(stderr, "%d tokens: %zu head inputs, %d logits each\n", n, head_in.size() / n, nv);
    llama_batch_free(b);
    llama_free(ctx);
    llama_free_model(model);
    return 0;
}
