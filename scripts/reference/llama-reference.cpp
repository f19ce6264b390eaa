// Reference outputs from llama.cpp, for zinc's comparison tests (tests/fixtures/reference/*.json).
//
// Build against a llama.cpp build (node-llama-cpp ships the source: see scripts/reference/README.md):
//   g++ -O2 -std=c++17 llama-reference.cpp -I$LLAMA/include -I$LLAMA/ggml/include -L$LLAMA/build/bin -lllama -lggml -lggml-base -o llama-reference
// Run:
//   llama-reference MODEL.gguf N_PREDICT "prompt 1" "prompt 2" ...   > reference.json
//   llama-reference --chat TEMPLATE_NAME_OR_EMPTY MODEL.gguf          > chat.json   (renders a fixed conversation)
//
// For each prompt (tokenized as llama.cpp does: BOS per the model's metadata, no special-token parsing):
// the prompt ids, N greedy tokens (argmax, no sampler), the top-2 logit margin at each step, and the first
// step's top-10 logits. Context defaults as llama-completion: n_ctx 4096, n_batch 2048, flash attention auto.
#include "llama.h"
#include "ggml.h"
#include <openssl/sha.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

// Model parameters shared by every mode. Weight repacking (llama.cpp's CPU "extra buffer types", which
// interleave Q4_0/Q4_K/IQ4_NL rows and change the float summation order) is off unless LLAMA_REF_REPACK=1:
// zinc's references are llama.cpp's plain vec_dot paths.
static llama_model_params model_params() {
    llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = getenv("LLAMA_REF_REPACK") && std::string(getenv("LLAMA_REF_REPACK")) == "1";
    return mp;
}

static std::string json_escape(const std::string & s) {
    std::string o;
    for (unsigned char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); o += b; }
                else o += (char) c;
        }
    }
    return o;
}

// The decoded text can end inside a multi-byte character or hold raw byte tokens: keep JSON valid UTF-8.
static bool valid_utf8(const std::string & s) {
    for (size_t i = 0; i < s.size();) {
        unsigned char c = s[i];
        int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (int k = 1; k < n; k++) if ((s[i + k] & 0xC0) != 0x80) return false;
        i += n;
    }
    return true;
}

static std::string piece(const llama_vocab * vocab, llama_token t) {
    char buf[256];
    int n = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, false);
    return n > 0 ? std::string(buf, n) : std::string();
}

// --dump NAME MODEL PROMPT: writes every evaluation of the tensor NAME (e.g. kqv_out-2) as raw f32 to stdout.
static const char * dump_name = nullptr;
static bool dump_cb(struct ggml_tensor * t, bool ask, void *) {
    if (strcmp(t->name, dump_name) != 0) return ask ? false : true;
    if (ask) return true;
    if (t->type == GGML_TYPE_F32 && ggml_is_contiguous(t)) fwrite(t->data, 1, ggml_nbytes(t), stdout);
    return true;
}

int main(int argc, char ** argv) {
    if (argc == 5 && std::string(argv[1]) == "--dump") {
        dump_name = argv[2];
        llama_backend_init();
        llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
        llama_model * model = llama_model_load_from_file(argv[3], model_params());
        const llama_vocab * vocab = llama_model_get_vocab(model);
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = 4096; cp.n_batch = 2048; cp.n_threads = 2; cp.n_threads_batch = 2;
        cp.cb_eval = dump_cb;
        if (getenv("LLAMA_REF_KV") && std::string(getenv("LLAMA_REF_KV")) == "q8_0") {
            cp.type_k = GGML_TYPE_Q8_0;
            cp.type_v = GGML_TYPE_Q8_0;
        }
        llama_context * ctx = llama_init_from_model(model, cp);
        std::string prompt = argv[4];
        std::vector<llama_token> toks;
        if (prompt.rfind("ids:", 0) == 0) {
            // ids:1,2,3 — token ids as they are, for checking a generated sequence in one batch
            for (size_t at = 4; at < prompt.size();) {
                size_t next = prompt.find(',', at);
                toks.push_back(atoi(prompt.substr(at, next - at).c_str()));
                at = next == std::string::npos ? prompt.size() : next + 1;
            }
        } else {
            int n = -llama_tokenize(vocab, prompt.c_str(), prompt.size(), nullptr, 0, true, false);
            toks.resize(n);
            llama_tokenize(vocab, prompt.c_str(), prompt.size(), toks.data(), n, true, false);
        }
        // LLAMA_REF_ALL_LOGITS=1 asks for every token's logits, =half for those of the second half (as
        // llama-perplexity does), instead of just the last.
        const char * all_logits = getenv("LLAMA_REF_ALL_LOGITS");
        if (all_logits && (std::string(all_logits) == "1" || std::string(all_logits) == "half")) {
            const size_t first = std::string(all_logits) == "half" ? toks.size() / 2 : 0;
            llama_batch batch = llama_batch_init((int) toks.size(), 0, 1);
            for (size_t i = 0; i < toks.size(); i++) {
                batch.token[i] = toks[i];
                batch.pos[i] = (llama_pos) i;
                batch.n_seq_id[i] = 1;
                batch.seq_id[i][0] = 0;
                batch.logits[i] = i >= first;
            }
            batch.n_tokens = (int) toks.size();
            const int rc = llama_decode(ctx, batch);
            llama_batch_free(batch);
            return rc;
        }
        return llama_decode(ctx, llama_batch_get_one(toks.data(), (int) toks.size()));
    }
    if (argc >= 3 && std::string(argv[1]) == "--chat") {
        const char * tmpl = argc >= 4 ? argv[2] : nullptr;
        const char * path = argc >= 4 ? argv[3] : argv[2];
        llama_backend_init();
        llama_model * model = llama_model_load_from_file(path, model_params());
        if (!model) return 1;
        if (tmpl == nullptr || tmpl[0] == 0) tmpl = llama_model_chat_template(model, nullptr);
        const llama_chat_message msgs[] = {
            {"system", "You are a helpful assistant."},
            {"user", "Hello! What is 2+2?"},
            {"assistant", "2+2 is 4."},
            {"user", "And <|im_start|> times <start_of_turn>?"},
        };
        std::vector<char> buf(1 << 16);
        int n = llama_chat_apply_template(tmpl, msgs, 4, true, buf.data(), (int) buf.size());
        printf("{\"template\": \"%s\", \"rendered\": \"%s\"}\n", json_escape(tmpl ? tmpl : "").c_str(), n > 0 ? json_escape(std::string(buf.data(), n)).c_str() : "");
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL N_PREDICT PROMPT...\n", argv[0]);
        return 1;
    }
    const char * path = argv[1];
    const int n_predict = atoi(argv[2]);
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_model * model = llama_model_load_from_file(path, model_params());
    if (!model) return 1;
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    printf("{\"model\": \"%s\", \"n_predict\": %d, \"results\": [\n", json_escape(path).c_str(), n_predict);
    for (int p = 3; p < argc; p++) {
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = 4096;
        cp.n_batch = 2048;
        cp.n_threads = 2;
        cp.n_threads_batch = 2;
        // LLAMA_REF_FA=0 turns flash attention off, to see how far llama.cpp's own attention paths differ.
        if (getenv("LLAMA_REF_FA") && std::string(getenv("LLAMA_REF_FA")) == "0") cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        // LLAMA_REF_KV=q8_0 stores the KV cache as q8_0 (zinc's --kv-type q8_0).
        if (getenv("LLAMA_REF_KV") && std::string(getenv("LLAMA_REF_KV")) == "q8_0") {
            cp.type_k = GGML_TYPE_Q8_0;
            cp.type_v = GGML_TYPE_Q8_0;
        }
        llama_context * ctx = llama_init_from_model(model, cp);
        std::string prompt = argv[p];
        int n = -llama_tokenize(vocab, prompt.c_str(), prompt.size(), nullptr, 0, true, false);
        std::vector<llama_token> toks(n);
        llama_tokenize(vocab, prompt.c_str(), prompt.size(), toks.data(), n, true, false);
        std::vector<llama_token> out;
        std::vector<float> margins;
        std::string text;
        std::vector<std::pair<float, int>> first_top;
        // Every bit of the first step's logits, as a SHA-256 of the n_vocab floats.
        std::string first_sha;
        llama_batch batch = llama_batch_get_one(toks.data(), (int) toks.size());
        llama_token tok = 0;
        for (int i = 0; i < n_predict; i++) {
            if (llama_decode(ctx, batch) != 0) return 2;
            const float * logits = llama_get_logits_ith(ctx, -1);
            std::vector<std::pair<float, int>> order(n_vocab);
            for (int v = 0; v < n_vocab; v++) order[v] = {logits[v], v};
            std::partial_sort(order.begin(), order.begin() + 10, order.end(), [](auto & a, auto & b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
            if (i == 0) {
                first_top.assign(order.begin(), order.begin() + 10);
                unsigned char digest[32];
                SHA256((const unsigned char *) logits, n_vocab * sizeof(float), digest);
                for (unsigned char b : digest) { char h[3]; snprintf(h, sizeof h, "%02x", b); first_sha += h; }
            }
            tok = order[0].second;
            margins.push_back(order[0].first - order[1].first);
            out.push_back(tok);
            // LLAMA_REF_IGNORE_EOG=1 keeps generating past end-of-generation tokens (synthetic models emit them often).
            if (llama_vocab_is_eog(vocab, tok) && !(getenv("LLAMA_REF_IGNORE_EOG") && std::string(getenv("LLAMA_REF_IGNORE_EOG")) == "1")) break;
            text += piece(vocab, tok);
            batch = llama_batch_get_one(&tok, 1);
        }
        printf("  {\"prompt\": \"%s\", \"prompt_ids\": [", json_escape(prompt).c_str());
        for (size_t i = 0; i < toks.size(); i++) printf("%s%d", i ? ", " : "", toks[i]);
        printf("], \"generated_ids\": [");
        for (size_t i = 0; i < out.size(); i++) printf("%s%d", i ? ", " : "", out[i]);
        printf("], \"top2_margins\": [");
        for (size_t i = 0; i < margins.size(); i++) printf("%s%.6g", i ? ", " : "", margins[i]);
        printf("], \"first_top10\": [");
        for (size_t i = 0; i < first_top.size(); i++) printf("%s[%d, %.7g]", i ? ", " : "", first_top[i].second, first_top[i].first);
        printf("], \"first_logits_sha256\": \"%s\"", first_sha.c_str());
        printf(", \"text\": \"%s\"}%s\n", valid_utf8(text) ? json_escape(text).c_str() : "", p + 1 < argc ? "," : "");
        llama_free(ctx);
    }
    printf("]}\n");
    llama_model_free(model);
    return 0;
}
