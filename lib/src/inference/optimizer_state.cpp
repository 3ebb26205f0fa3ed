#include "unlearn/inference/optimizer_state.h"

#include <cstring>
#include <sstream>

#include "unlearn/inference/sghmc.h"
#include "unlearn/inference/sgld.h"

namespace unlearn::inference {
namespace {

std::string options_type(const torch::optim::OptimizerOptions& options) {
  if (dynamic_cast<const torch::optim::AdamOptions*>(&options)) return "adam";
  if (dynamic_cast<const torch::optim::SGDOptions*>(&options)) return "sgd";
  if (dynamic_cast<const SGLDOptions*>(&options)) return "sgld";
  if (dynamic_cast<const SGHMCOptions*>(&options)) return "sghmc";
  TORCH_CHECK(false, "optimizer options of type ", typeid(options).name(),
              " are not supported: allowed are Adam, SGD, SGLD, SGHMC");
}

template <typename T>
T field(const nlohmann::json& json, const char* key) {
  TORCH_CHECK(json.contains(key), "optimizer options: the saved options lack \"", key, "\": ", json.dump());
  return json.at(key).get<T>();
}

}  // namespace

namespace {

// The archive's layout version: 2 keys each parameter's state by its position ("g0.p3": group 0,
// parameter 3). LibTorch's own Optimizer::save keys it by the parameter's heap address, so two
// identical runs wrote different bytes (docs/architecture.md, "Run directories"); 1 (no "format"
// entry) is that archive, still read.
constexpr int64_t kStateFormat = 2;

std::string param_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }
std::string position_key(size_t group, size_t param) {
  return "g" + std::to_string(group) + ".p" + std::to_string(param);
}

std::unique_ptr<torch::optim::OptimizerParamState> fresh_state(const std::string& type) {
  if (type == "adam") return std::make_unique<torch::optim::AdamParamState>();
  if (type == "sgd") return std::make_unique<torch::optim::SGDParamState>();
  if (type == "sgld") return std::make_unique<SGLDParamState>();
  return std::make_unique<SGHMCParamState>();
}

}  // namespace

torch::Tensor optimizer_state_bytes(const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(kStateFormat));
  const auto& state = optimizer.state();
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      auto it = state.find(param_key(groups[g].params()[i]));
      if (it == state.end()) continue;  // no step taken for this parameter yet
      torch::serialize::OutputArchive one;
      it->second->serialize(one);
      archive.write(position_key(g, i), one);
    }
  }
  std::ostringstream stream;
  archive.save_to(stream);
  const std::string bytes = stream.str();
  auto out = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(out.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return out;
}

void load_optimizer_state_bytes(torch::optim::Optimizer& optimizer, const torch::Tensor& bytes) {
  TORCH_CHECK(bytes.defined() && bytes.scalar_type() == torch::kUInt8 && bytes.dim() == 1,
              "optimizer state must be a 1-D uint8 tensor, got ",
              bytes.defined() ? c10::toString(bytes.scalar_type()) : "an undefined tensor");
  auto cpu = bytes.to(torch::kCPU).contiguous();
  torch::serialize::InputArchive archive;
  archive.load_from(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()), static_cast<size_t>(cpu.numel()));
  c10::IValue format;
  if (!archive.try_read("format", format)) {
    optimizer.load(archive);  // format 1: LibTorch's own archive
    return;
  }
  TORCH_CHECK(format.isInt() && format.toInt() == kStateFormat, "optimizer state: unknown format ", format);
  const auto type = options_type(optimizer.defaults());
  auto& state = optimizer.state();
  state.clear();
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      torch::serialize::InputArchive one;
      if (!archive.try_read(position_key(g, i), one)) continue;
      auto s = fresh_state(type);
      s->serialize(one);
      state[param_key(groups[g].params()[i])] = std::move(s);
    }
  }
}

nlohmann::json optimizer_options_to_json(const torch::optim::OptimizerOptions& options) {
  const std::string type = options_type(options);
  nlohmann::json j{{"type", type}};
  if (type == "adam") {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(options);
    j["lr"] = o.lr();
    j["betas"] = {std::get<0>(o.betas()), std::get<1>(o.betas())};
    j["eps"] = o.eps();
    j["weight_decay"] = o.weight_decay();
    j["amsgrad"] = o.amsgrad();
  } else if (type == "sgd") {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(options);
    j["lr"] = o.lr();
    j["momentum"] = o.momentum();
    j["dampening"] = o.dampening();
    j["weight_decay"] = o.weight_decay();
    j["nesterov"] = o.nesterov();
  } else if (type == "sgld") {
    const auto& o = static_cast<const SGLDOptions&>(options);
    j["lr"] = o.lr();
    j["offset"] = o.offset();
    j["decay"] = o.decay();
    j["temperature"] = o.temperature();
  } else {
    const auto& o = static_cast<const SGHMCOptions&>(options);
    j["lr"] = o.lr();
    j["offset"] = o.offset();
    j["decay"] = o.decay();
    j["friction"] = o.friction();
    j["temperature"] = o.temperature();
  }
  return j;
}

void apply_optimizer_options(const nlohmann::json& json, torch::optim::OptimizerOptions& options) {
  const std::string type = options_type(options);
  const auto saved = field<std::string>(json, "type");
  TORCH_CHECK(saved == type, "optimizer options: saved for a \"", saved, "\" optimizer, this one is \"", type, "\"");
  if (type == "adam") {
    auto& o = static_cast<torch::optim::AdamOptions&>(options);
    auto betas = field<std::vector<double>>(json, "betas");
    TORCH_CHECK(betas.size() == 2, "optimizer options: Adam betas must have 2 entries, got ", betas.size());
    o.lr(field<double>(json, "lr"))
        .betas({betas[0], betas[1]})
        .eps(field<double>(json, "eps"))
        .weight_decay(field<double>(json, "weight_decay"))
        .amsgrad(field<bool>(json, "amsgrad"));
  } else if (type == "sgd") {
    auto& o = static_cast<torch::optim::SGDOptions&>(options);
    o.lr(field<double>(json, "lr"))
        .momentum(field<double>(json, "momentum"))
        .dampening(field<double>(json, "dampening"))
        .weight_decay(field<double>(json, "weight_decay"))
        .nesterov(field<bool>(json, "nesterov"));
  } else if (type == "sgld") {
    auto& o = static_cast<SGLDOptions&>(options);
    o.lr(field<double>(json, "lr"))
        .offset(field<double>(json, "offset"))
        .decay(field<double>(json, "decay"))
        .temperature(field<double>(json, "temperature"));
    o.validate();
  } else {
    auto& o = static_cast<SGHMCOptions&>(options);
    o.lr(field<double>(json, "lr"))
        .offset(field<double>(json, "offset"))
        .decay(field<double>(json, "decay"))
        .friction(field<double>(json, "friction"))
        .temperature(field<double>(json, "temperature"));
    o.validate();
  }
}

void save_optimizer(io::Checkpoint& checkpoint, const std::string& name, const torch::optim::Optimizer& optimizer) {
  nlohmann::json groups = nlohmann::json::array();
  nlohmann::json shapes = nlohmann::json::array();
  for (const auto& group : optimizer.param_groups()) {
    groups.push_back(optimizer_options_to_json(group.options()));
    nlohmann::json group_shapes = nlohmann::json::array();
    for (const auto& p : group.params()) group_shapes.push_back(p.sizes().vec());
    shapes.push_back(group_shapes);
  }
  checkpoint.tensors[name] = optimizer_state_bytes(optimizer);
  checkpoint.metadata[name] = {
      {"type", optimizer_options_to_json(optimizer.defaults())["type"]}, {"groups", groups}, {"shapes", shapes}};
}

void load_optimizer(const io::Checkpoint& checkpoint, const std::string& name, torch::optim::Optimizer& optimizer) {
  TORCH_CHECK(checkpoint.metadata.contains(name), "checkpoint has no optimizer metadata \"", name, "\"");
  const auto& meta = checkpoint.metadata.at(name);
  const auto groups = field<nlohmann::json>(meta, "groups");
  const auto shapes = field<nlohmann::json>(meta, "shapes");
  auto& param_groups = optimizer.param_groups();
  TORCH_CHECK(groups.size() == param_groups.size() && shapes.size() == param_groups.size(), "optimizer \"", name,
              "\" was saved with ", groups.size(), " parameter groups, this one has ", param_groups.size());
  for (size_t g = 0; g < param_groups.size(); ++g) {
    const auto& params = param_groups[g].params();
    TORCH_CHECK(shapes[g].size() == params.size(), "optimizer \"", name, "\": parameter group ", g, " was saved with ",
                shapes[g].size(), " parameters, this one has ", params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      auto saved = shapes[g][i].get<std::vector<int64_t>>();
      TORCH_CHECK(params[i].sizes().vec() == saved, "optimizer \"", name, "\": parameter ", i, " of group ", g,
                  " was saved with shape ", c10::IntArrayRef(saved), ", this one has ", params[i].sizes());
    }
  }
  // Options first: a type mismatch is then an error before any state has changed.
  std::vector<std::unique_ptr<torch::optim::OptimizerOptions>> applied;
  for (size_t g = 0; g < param_groups.size(); ++g) {
    applied.push_back(param_groups[g].options().clone());
    apply_optimizer_options(groups[g], *applied.back());
  }
  load_optimizer_state_bytes(optimizer, checkpoint.at(name));
  for (size_t g = 0; g < param_groups.size(); ++g) param_groups[g].set_options(std::move(applied[g]));
}

}  // namespace unlearn::inference
