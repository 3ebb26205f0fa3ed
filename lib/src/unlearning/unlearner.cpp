#include "unlearn/unlearning/unlearner.h"

#include <ATen/CPUGeneratorImpl.h>

namespace unlearn {

torch::Generator& ForgetContext::rng() {
  if (!generator.defined()) generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return generator;
}

nlohmann::json Unlearner::summarise(const std::vector<BatchRecord>& batches) const {
  if (batches.size() == 1) return batches.front().certificate;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& b : batches) all.push_back(b.certificate);
  return {{"batches", all}};
}

}  // namespace unlearn
