#include "unlearn/inference/sgmcmc.h"

#include <ATen/CPUGeneratorImpl.h>

#include "unlearn/inference/optimizer_state.h"
#include "unlearn/inference/sghmc.h"
#include "unlearn/inference/sgld.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/generator_state.h"

namespace unlearn::inference {
namespace {

const SGMCMCOptions& validated(const SGMCMCOptions& options) {
  options.validate();
  return options;
}

template <typename T>
T meta_field(const io::Checkpoint& checkpoint, const std::string& key) {
  TORCH_CHECK(checkpoint.metadata.contains(key), "checkpoint (architecture \"", checkpoint.architecture,
              "\") has no metadata \"", key, "\"");
  return checkpoint.metadata.at(key).get<T>();
}

}  // namespace

std::string to_string(Sampler sampler) {
  switch (sampler) {
    case Sampler::kSGLD:
      return "sgld";
    case Sampler::kSGHMC:
      return "sghmc";
  }
  TORCH_CHECK(false, "unknown sampler");
}

Sampler sampler_from_string(const std::string& name) {
  if (name == "sgld") return Sampler::kSGLD;
  if (name == "sghmc") return Sampler::kSGHMC;
  TORCH_CHECK(false, "SG-MCMC: sampler = \"", name, "\" is unknown: allowed are \"sgld\", \"sghmc\"");
}

SGLDOptions sgld_options(const SGMCMCOptions& o) {
  return SGLDOptions(o.lr()).offset(o.schedule_offset()).decay(o.schedule_decay()).temperature(o.temperature());
}

SGHMCOptions sghmc_options(const SGMCMCOptions& o) {
  return SGHMCOptions(o.lr())
      .offset(o.schedule_offset())
      .decay(o.schedule_decay())
      .friction(o.friction())
      .temperature(o.temperature());
}

SGMCMCOptions read_sgmcmc_options(const io::JsonObjectReader& t, SGMCMCOptions o) {
  using io::Range;
  o.steps(t.get<int64_t>("steps", o.steps(), Range::steps()));
  o.batch_size(t.get<int64_t>("batch_size", o.batch_size(), Range::count(0)));
  o.lr(t.get<double>("lr", o.lr(), Range::positive()));
  o.schedule_offset(t.get<double>("schedule_offset", o.schedule_offset(), Range::positive()));
  o.schedule_decay(t.get<double>("schedule_decay", o.schedule_decay(), Range::non_negative()));
  if (o.sampler() == Sampler::kSGHMC) o.friction(t.get<double>("friction", o.friction(), Range::left_open(0, 1)));
  o.temperature(t.get<double>("temperature", o.temperature(), Range::non_negative()));
  auto b = t.object("bank");
  auto bank = o.bank();
  bank.burn_in(b.get<int64_t>("burn_in", bank.burn_in(), Range::steps(0)));
  bank.thinning(b.get<int64_t>("thinning", bank.thinning(), Range::steps()));
  bank.capacity(b.get<int64_t>("capacity", bank.capacity(), Range::count(2)));
  if (bank.burn_in() >= o.steps())
    throw io::ConfigError(b.field("burn_in") + " = " + std::to_string(bank.burn_in()) +
                          " leaves no sample: it must be < " + t.field("steps") + " = " + std::to_string(o.steps()));
  o.bank(bank);
  return o;
}

void SGMCMCOptions::validate() const {
  TORCH_CHECK(steps() >= 0, "SG-MCMC: steps = ", steps(), " must be >= 0");
  TORCH_CHECK(batch_size() >= 0, "SG-MCMC: batch_size = ", batch_size(), " must be >= 0 (0: full batch)");
  if (sampler() == Sampler::kSGLD) {
    sgld_options(*this).validate();
  } else {
    sghmc_options(*this).validate();
  }
  bank().validate();
}

torch::Tensor sgmcmc_energy(Model& model, const torch::Tensor& theta, const data::Batch& batch, double data_scale) {
  TORCH_CHECK(theta.dim() == 1 && theta.size(0) == model.num_params(), "SG-MCMC: theta must be [", model.num_params(),
              "], got ", theta.sizes());
  TORCH_CHECK(batch.size() > 0, "SG-MCMC: the batch is empty");
  auto row = theta.unsqueeze(0);  // [1, P]: the contract is vectorised over samples
  auto ll = model.log_likelihood(row, batch);
  TORCH_CHECK(ll.dim() == 2 && ll.size(0) == 1 && ll.size(1) == batch.size(), "model '", model.architecture(),
              "': log_likelihood returned shape ", ll.sizes(), " for theta [1, P] and a batch of ", batch.size());
  auto lp = model.log_prior(row);
  TORCH_CHECK(lp.numel() == 1, "model '", model.architecture(), "': log_prior returned shape ", lp.sizes(),
              " for theta [1, P]");
  auto data_term = ll.sum();
  if (data_scale != 1.0) data_term = data_term * data_scale;
  return -(lp.sum() + data_term);
}

SGMCMCTrainer::SGMCMCTrainer(std::shared_ptr<Model> model, data::Dataset data, SGMCMCOptions options,
                             std::optional<torch::Tensor> init_theta, std::optional<torch::Generator> generator)
    : model_(std::move(model)),
      options_(validated(options)),
      generator_(generator ? *generator : at::detail::createCPUGenerator(options.seed())),
      sampler_(data,
               data::MinibatchSamplerOptions(options.batch_size() > 0 ? options.batch_size()
                                                                      : std::max<int64_t>(data.size(), 1)),
               generator_),
      bank_(options.bank()) {
  TORCH_CHECK(model_ != nullptr, "SG-MCMC: the model is null");
  TORCH_CHECK(generator_.defined(), "SG-MCMC: the generator is undefined");
  torch::Tensor start = init_theta ? *init_theta : model_->init_theta();
  TORCH_CHECK(start.defined() && start.dim() == 1 && start.size(0) == model_->num_params(),
              "SG-MCMC: the initial theta must be [", model_->num_params(), "], got ",
              start.defined() ? start.sizes() : c10::IntArrayRef{});
  theta_ = start.detach().clone().requires_grad_(true);
  if (options_.sampler() == Sampler::kSGLD) {
    optimizer_ = std::make_unique<SGLD>(std::vector<torch::Tensor>{theta_}, sgld_options(options_), generator_);
  } else {
    optimizer_ = std::make_unique<SGHMC>(std::vector<torch::Tensor>{theta_}, sghmc_options(options_), generator_);
  }
}

double SGMCMCTrainer::next_step_size() const {
  if (auto* sgld = dynamic_cast<const SGLD*>(optimizer_.get())) return sgld->next_step_size(theta_);
  return static_cast<const SGHMC&>(*optimizer_).next_step_size(theta_);
}

torch::Tensor SGMCMCTrainer::step() {
  auto batch = sampler_.next();
  double scale = static_cast<double>(sampler_.dataset().size()) / static_cast<double>(batch.size());
  if (data_parallel_) std::tie(batch, scale) = data_parallel_.local_batch(batch, scale);  // data_parallel.h
  auto energy = sgmcmc_energy(*model_, theta_, batch, scale);
  optimizer_->zero_grad();
  // Only θ: the model's hyper-parameters are frozen and get no gradient.
  energy.backward({}, /*retain_graph=*/false, /*create_graph=*/false, at::TensorList(theta_));
  auto reported = data_parallel_ ? detail::average_step(data_parallel_, {theta_}, energy) : energy.detach();
  optimizer_->step();
  ++step_;
  bank_.offer(step_, theta_.detach());
  last_energy_ = reported;
  return last_energy_;
}

int64_t SGMCMCTrainer::train(const TrainingCallbacks& callbacks) {
  callbacks.validate();
  while (step_ < options_.steps()) {
    step();
    const bool last = step_ == options_.steps();
    if (!callbacks.after_step(step_, last, [&] { return last_energy_.item<double>(); })) break;
  }
  return step_;
}

void SGMCMCTrainer::save_state(io::Checkpoint& checkpoint, const std::string& prefix) const {
  checkpoint.tensors[prefix + "theta"] = theta_.detach().to(torch::kCPU, false, /*copy=*/true);
  checkpoint.metadata[prefix + "sampler"] = to_string(options_.sampler());
  save_optimizer(checkpoint, prefix + "optimizer", *optimizer_);
  checkpoint.tensors[prefix + "generator"] = io::generator_state(generator_);
  const auto s = sampler_.state();
  checkpoint.metadata[prefix + "minibatch"] = {
      {"epoch", s.epoch}, {"position", s.position}, {"num_rows", s.num_rows}, {"batch_size", s.batch_size}};
  if (s.epoch_generator_state.defined()) {
    checkpoint.tensors[prefix + "minibatch/epoch_generator"] = s.epoch_generator_state.clone();
  } else {
    checkpoint.tensors.erase(prefix + "minibatch/epoch_generator");
  }
  bank_.save_state(checkpoint, prefix);
  checkpoint.metadata[prefix + "step"] = step_;
}

void SGMCMCTrainer::load_state(const io::Checkpoint& checkpoint, const std::string& prefix) {
  const auto kind = meta_field<std::string>(checkpoint, prefix + "sampler");
  TORCH_CHECK(kind == to_string(options_.sampler()), "SG-MCMC::load_state: the checkpoint holds a \"", kind,
              "\" chain, this trainer runs \"", to_string(options_.sampler()), "\"");
  const auto minibatch = meta_field<nlohmann::json>(checkpoint, prefix + "minibatch");
  const int64_t step = meta_field<int64_t>(checkpoint, prefix + "step");
  TORCH_CHECK(step >= 0, "SG-MCMC::load_state: step = ", step, " must be >= 0");
  const auto& theta = checkpoint.at(prefix + "theta");
  TORCH_CHECK(theta.sizes() == theta_.sizes(), "SG-MCMC::load_state: \"", prefix, "theta\" has shape ", theta.sizes(),
              ", expected ", theta_.sizes());

  data::SamplerState s;
  s.epoch = minibatch.at("epoch").get<int64_t>();
  s.position = minibatch.at("position").get<int64_t>();
  s.num_rows = minibatch.at("num_rows").get<int64_t>();
  s.batch_size = minibatch.at("batch_size").get<int64_t>();
  TORCH_CHECK(s.num_rows == sampler_.dataset().size() && s.batch_size == sampler_.options().batch_size(),
              "SG-MCMC::load_state: the checkpoint was written for ", s.num_rows, " rows in batches of ", s.batch_size,
              ", this trainer has ", sampler_.dataset().size(), " rows in batches of ",
              sampler_.options().batch_size());
  s.generator_state = checkpoint.at(prefix + "generator");
  if (checkpoint.has(prefix + "minibatch/epoch_generator")) {
    s.epoch_generator_state = checkpoint.at(prefix + "minibatch/epoch_generator");
  }
  // Into a separate bank first: its checks (options, shapes) then cannot leave this trainer half
  // loaded; the optimizer's own load checks shapes and options before changing anything.
  SampleBank bank(options_.bank());
  bank.load_state(checkpoint, prefix, theta_.device());
  load_optimizer(checkpoint, prefix + "optimizer", *optimizer_);
  bank_ = std::move(bank);
  {
    torch::NoGradGuard no_grad;
    theta_.copy_(theta);
  }
  sampler_.load_state(s);
  io::set_generator_state(generator_, checkpoint.at(prefix + "generator"));
  step_ = step;
  last_energy_ = torch::Tensor();
}

ChainState ChainState::clone() const {
  ChainState c = *this;
  if (theta.defined()) c.theta = theta.detach().clone();
  if (velocity.defined()) c.velocity = velocity.detach().clone();
  return c;
}

ChainState chain_state_of(SGMCMCTrainer& chain) {
  ChainState s;
  s.theta = chain.theta().detach().clone();
  s.temperature = chain.options().temperature();
  s.sampler = chain.options().sampler();
  auto& opt = chain.optimizer();
  if (auto* sgld = dynamic_cast<SGLD*>(&opt)) {
    const auto& o = static_cast<const SGLDOptions&>(sgld->param_groups().at(0).options());
    const int64_t t = sgld->step_count(chain.theta());
    s.step_size = o.step_size(std::max<int64_t>(t - 1, 0));
    s.temperature = o.temperature();
  } else {
    auto& sghmc = dynamic_cast<SGHMC&>(opt);
    const auto& o = static_cast<const SGHMCOptions&>(sghmc.param_groups().at(0).options());
    const int64_t t = sghmc.step_count(chain.theta());
    s.step_size = o.step_size(std::max<int64_t>(t - 1, 0));
    s.friction = o.friction();
    s.temperature = o.temperature();
    s.velocity = sghmc.velocity(chain.theta()).detach().clone();
  }
  return s;
}

}  // namespace unlearn::inference
