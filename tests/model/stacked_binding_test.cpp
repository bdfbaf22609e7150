// q/k/v bound as row ranges of one stacked weight (Binder::stacked, where a
// backend fuses adjacent linears) give the logits of q/k/v bound one by one,
// for every hf-tiny text case and every quantization at load, on the CPU: a
// backend derived from it asks for stacking and copies what it imports (as a
// device backend does), so the binder's concatenated host copy may go.
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "model/model.h"
#include "model/runner.h"
#include "testing/fixtures.h"

#include "model_test_helpers.h"

namespace mlxs::model {
namespace {

// Counts its imports; `stacks`: asks for stacked q/k/v and copies tensors
// before importing them.
class CountingCpu : public backend::cpu::CpuBackend {
 public:
  CountingCpu(std::shared_ptr<backend::cpu::ThreadPool> pool, bool stacks)
      : CpuBackend(std::move(pool)), stacks_(stacks) {}
  bool fuses_adjacent_linears() const override { return stacks_; }
  core::Result<tensor::Tensor> import_tensor(const tensor::Tensor& host,
                                             bool widen_to_f32) override {
    const Call call(*this);
    if (!stacks_) return CpuBackend::import_tensor(host, widen_to_f32);
    const auto* bytes = static_cast<const std::uint8_t*>(host.data);
    copies_.emplace_back(bytes, bytes + host.nbytes());
    tensor::Tensor copy = host;
    copy.data = copies_.back().data();
    return CpuBackend::import_tensor(copy, widen_to_f32);
  }
  core::Result<tensor::Weight> import_quantized(const tensor::Weight& host) override {
    const Call call(*this);
    return CpuBackend::import_quantized(host);
  }
  int imports = 0;  // the binder's, not the imports' own (a quantized weight's scales)

 private:
  struct Call {
    explicit Call(CountingCpu& b) : b_(b) {
      if (b_.depth_++ == 0) ++b_.imports;
    }
    ~Call() { --b_.depth_; }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    CountingCpu& b_;
  };
  int depth_ = 0;
  bool stacks_;
  std::deque<std::vector<std::uint8_t>> copies_;
};

struct Bound {
  std::unique_ptr<CountingCpu> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Runner> runner;
};

Bound load_bound(const std::string& dir, const std::string& quantization, bool stacks) {
  Bound b;
  b.backend = std::make_unique<CountingCpu>(std::make_shared<backend::cpu::ThreadPool>(2), stacks);
  LoadOptions o;
  o.quantization = quantization;
  o.max_batch_tokens = 64;
  o.max_seqs = 2;
  o.max_logit_rows = 64;
  o.max_context = 64;
  load_model_and_runner(dir, *b.backend, o, b.model, b.runner);
  return b;
}

TEST(StackedBinding, QkvAsOneWeightGivesTheSameLogits) {
  const std::vector<std::int32_t> ids = {1, 7, 3, 11, 5, 2, 9};
  for (const char* name : {"llama", "llama_bf16", "mistral", "qwen2", "qwen3", "gemma2",
                           "gemma3_text", "llama31_rope_scaled_tied", "phi3", "qwen3_moe"}) {
    const std::string dir = testing::fixture_path(std::string("hf-tiny/") + name);
    for (const char* quantization : {"", "int8", "int4", "fp8"}) {
      SCOPED_TRACE(std::string(name) + " quantization '" + quantization + "'");
      Bound alone = load_bound(dir, quantization, false);
      Bound stacked = load_bound(dir, quantization, true);
      ASSERT_TRUE(alone.runner && stacked.runner);
      // Two imports fewer a layer (k and v join q), two more with biases,
      // except where the checkpoint fuses q/k/v already (phi3's qkv_proj:
      // one import either way).
      const ModelConfig& c = alone.model->config();
      const int saved = std::string(name) == "phi3" ? 0 : c.attention_bias ? 4 : 2;
      EXPECT_EQ(alone.backend->imports - stacked.backend->imports,
                saved * static_cast<int>(c.layers));
      const auto a = sequence_logits(*alone.runner, ids);
      const auto s = sequence_logits(*stacked.runner, ids);
      ASSERT_EQ(a.size(), s.size());
      ASSERT_FALSE(a.empty());
      for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], s[i]) << "logit " << i;
    }
  }
}

}  // namespace
}  // namespace mlxs::model
