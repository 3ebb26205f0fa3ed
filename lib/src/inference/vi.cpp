#include "unlearn/inference/vi.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "unlearn/random/normal.h"
#include "unlearn/inference/optimizer_state.h"
#include "unlearn/io/generator_state.h"

namespace unlearn::inference {
namespace {

const VIOptions& validated(const VIOptions& options) {
  options.validate();
  return options;
}

int64_t effective_batch_size(const VIOptions& options, const data::Dataset& data) {
  return options.batch_size() > 0 ? options.batch_size() : std::max<int64_t>(data.size(), 1);
}

template <typename T>
T meta_field(const io::Checkpoint& checkpoint, const std::string& key) {
  TORCH_CHECK(checkpoint.metadata.contains(key), "checkpoint (architecture \"", checkpoint.architecture,
              "\") has no metadata \"", key, "\"");
  return checkpoint.metadata.at(key).get<T>();
}

torch::Tensor cpu_copy(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

std::string to_string(Optimizer optimizer) {
  switch (optimizer) {
    case Optimizer::kAdam:
      return "adam";
    case Optimizer::kSGD:
      return "sgd";
  }
  TORCH_CHECK(false, "unknown optimizer");
}

Optimizer optimizer_from_string(const std::string& name) {
  if (name == "adam") return Optimizer::kAdam;
  if (name == "sgd") return Optimizer::kSGD;
  TORCH_CHECK(false, "VI: optimizer = \"", name, "\" is unknown: allowed are \"adam\", \"sgd\"");
}

void VIOptions::validate() const {
  TORCH_CHECK(num_samples() >= 1, "VI: num_samples S = ", num_samples(), " must be >= 1");
  TORCH_CHECK(steps() >= 0, "VI: steps = ", steps(), " must be >= 0");
  TORCH_CHECK(batch_size() >= 0, "VI: batch_size = ", batch_size(), " must be >= 0 (0: full batch)");
  TORCH_CHECK(lr_decay_every() >= 0, "VI: lr_decay_every = ", lr_decay_every(), " must be >= 0 (0: constant lr)");
  TORCH_CHECK(lr_decay() > 0 && lr_decay() <= 1, "VI: lr_decay = ", lr_decay(), " must be in (0, 1]");
  TORCH_CHECK(std::isfinite(lr()) && lr() > 0, "VI: lr = ", lr(), " must be > 0 and finite");
  TORCH_CHECK(std::isfinite(hyper_lr()) && hyper_lr() >= 0, "VI: hyper_lr = ", hyper_lr(),
              " must be >= 0 and finite (0: the same as lr)");
  TORCH_CHECK(beta1() >= 0 && beta1() < 1, "VI: beta1 = ", beta1(), " must be in [0, 1)");
  TORCH_CHECK(beta2() >= 0 && beta2() < 1, "VI: beta2 = ", beta2(), " must be in [0, 1)");
  TORCH_CHECK(std::isfinite(eps()) && eps() >= 0, "VI: eps = ", eps(), " must be >= 0 and finite");
  TORCH_CHECK(momentum() >= 0 && momentum() < 1, "VI: momentum = ", momentum(), " must be in [0, 1)");
}

torch::Tensor negative_elbo(Model& model, const GaussianPosteriorImpl& posterior, const data::Batch& batch,
                            double data_scale, const torch::Tensor& noise,
                            const std::optional<GaussianPrior>& analytic_prior) {
  const int64_t p = posterior.dim();
  const bool runs = posterior.runs() > 0;
  TORCH_CHECK(noise.dim() == (runs ? 3 : 2) && noise.size(-1) == p && (!runs || noise.size(0) == posterior.runs()),
              "negative_elbo: noise must be ", runs ? "[R, S, P]" : "[S, P]", " with P = ", p,
              runs ? " and R = " + std::to_string(posterior.runs()) : std::string(), ", got ", noise.sizes());
  TORCH_CHECK(batch.size() > 0, "negative_elbo: the batch is empty");
  auto theta = posterior.transform(noise);  // [S, P] or [R, S, P]
  auto flat = theta.reshape({-1, p});       // [R·S, P]: one model call for every run and sample
  auto sample_shape = theta.sizes().slice(0, theta.dim() - 1);
  auto ll = model.log_likelihood(flat, batch);
  TORCH_CHECK(ll.dim() == 2 && ll.size(0) == flat.size(0) && ll.size(1) == batch.size(), "model '",
              model.architecture(), "': log_likelihood returned shape ", ll.sizes(), " for theta ", flat.sizes(),
              " and a batch of ", batch.size(), "; expected [S, B]");
  auto data_term = ll.sum(-1).view(sample_shape);
  if (data_scale != 1.0) data_term = data_term * data_scale;
  if (analytic_prior) {
    return posterior.kl_divergence(*analytic_prior) - data_term.mean(-1);
  }
  auto lp = model.log_prior(flat);
  TORCH_CHECK(lp.dim() == 1 && lp.size(0) == flat.size(0), "model '", model.architecture(),
              "': log_prior returned shape ", lp.sizes(), " for theta ", flat.sizes(), "; expected [S]");
  // log q(θ_s) on the posterior's own reparameterised samples: θ_s − loc = L ε_s, so the whitened
  // sample IS ε_s and log q(θ_s) = log q(loc) − ½‖ε_s‖². Same value and same total gradient as
  // posterior.log_prob(θ_s) (d/dφ of the whitened sample is 0 for every φ), without the
  // triangular solve of S samples and its backward.
  auto lq = posterior.log_prob_at_mode().unsqueeze(-1) - 0.5 * noise.square().sum(-1);  // [S] or [R, S]
  return (lq - lp.view(sample_shape) - data_term).mean(-1);
}

// ---- trainer -------------------------------------------------------------------------------

VITrainer::VITrainer(std::shared_ptr<Model> model, std::shared_ptr<GaussianPosteriorImpl> posterior, data::Dataset data,
                     VIOptions options, std::optional<torch::Generator> generator)
    : model_(std::move(model)),
      posterior_(std::move(posterior)),
      options_(validated(options)),
      generator_(generator ? *generator : at::detail::createCPUGenerator(options.seed())),
      sampler_(data, data::MinibatchSamplerOptions(effective_batch_size(options, data)), generator_) {
  TORCH_CHECK(model_ != nullptr, "VI: the model is null");
  TORCH_CHECK(posterior_ != nullptr, "VI: the posterior is null");
  TORCH_CHECK(generator_.defined(), "VI: the generator is undefined");
  TORCH_CHECK(posterior_->dim() == model_->num_params(), "VI: the posterior has ", posterior_->dim(),
              " dimensions, model '", model_->architecture(), "' has ", model_->num_params(), " parameters");
  if (options_.analytic_kl()) {
    TORCH_CHECK(model_->gaussian_prior().has_value(), "VI: analytic_kl needs a Gaussian prior; model '",
                model_->architecture(), "' has none");
  }
  if (options_.local_reparameterisation()) {
    TORCH_CHECK(model_->has_local_reparameterisation(), "VI: local_reparameterisation is set but model '",
                model_->architecture(), "' has none");
    TORCH_CHECK(dynamic_cast<MeanFieldGaussianImpl*>(posterior_.get()) != nullptr && posterior_->runs() == 0,
                "VI: local_reparameterisation needs a mean-field posterior without runs");
    TORCH_CHECK(options_.analytic_kl(), "VI: local_reparameterisation needs analytic_kl (the KL is not sampled)");
    TORCH_CHECK(!options_.train_hyperparameters(), "VI: local_reparameterisation with train_hyperparameters is not supported");
  }
  for (auto& kv : model_->named_parameters(/*recurse=*/true)) {
    if (kv.value().requires_grad()) hypers_.emplace_back(kv.key(), kv.value());
  }
  if (options_.train_hyperparameters()) {
    TORCH_CHECK(!hypers_.empty(), "VI: train_hyperparameters is set but model '", model_->architecture(),
                "' has no trainable torch parameters");
    TORCH_CHECK(posterior_->runs() == 0,
                "VI: train_hyperparameters cannot be combined with runs = ", posterior_->runs(),
                ": the runs would share the hyper-parameters and stop being independent");
  }

  std::vector<torch::Tensor> q_params = posterior_->parameters();
  std::vector<torch::Tensor> h_params;
  if (options_.train_hyperparameters()) {
    for (auto& kv : hypers_) h_params.push_back(kv.second);
  }
  trained_ = q_params;
  trained_.insert(trained_.end(), h_params.begin(), h_params.end());
  const double hyper_lr = options_.hyper_lr() > 0 ? options_.hyper_lr() : options_.lr();

  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (options_.optimizer() == Optimizer::kAdam) {
    auto adam = [&](double lr) {
      return torch::optim::AdamOptions(lr).betas({options_.beta1(), options_.beta2()}).eps(options_.eps());
    };
    groups.emplace_back(q_params, std::make_unique<torch::optim::AdamOptions>(adam(options_.lr())));
    if (!h_params.empty()) groups.emplace_back(h_params, std::make_unique<torch::optim::AdamOptions>(adam(hyper_lr)));
    optimizer_ = std::make_unique<torch::optim::Adam>(std::move(groups), adam(options_.lr()));
  } else {
    auto sgd = [&](double lr) { return torch::optim::SGDOptions(lr).momentum(options_.momentum()); };
    groups.emplace_back(q_params, std::make_unique<torch::optim::SGDOptions>(sgd(options_.lr())));
    if (!h_params.empty()) groups.emplace_back(h_params, std::make_unique<torch::optim::SGDOptions>(sgd(hyper_lr)));
    optimizer_ = std::make_unique<torch::optim::SGD>(std::move(groups), sgd(options_.lr()));
  }
}

torch::Tensor VITrainer::step() {
  // Step decay: the rates of every group shrink by lr_decay once every lr_decay_every steps. The
  // rates are part of the optimizer's saved options, so a resumed trainer continues the schedule.
  if (options_.lr_decay_every() > 0 && step_ > 0 && step_ % options_.lr_decay_every() == 0) {
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(group.options().get_lr() * options_.lr_decay());
  }
  auto batch = sampler_.next();
  double scale = static_cast<double>(sampler_.dataset().size()) / static_cast<double>(batch.size());
  if (data_parallel_) std::tie(batch, scale) = data_parallel_.local_batch(batch, scale);  // data_parallel.h

  std::vector<int64_t> shape{options_.num_samples(), posterior_->dim()};
  if (posterior_->runs() > 0) shape.insert(shape.begin(), posterior_->runs());
  torch::Tensor noise;  // θ's noise; the local reparameterisation draws its own, per pre-activation
  if (!options_.local_reparameterisation()) noise = standard_normal(shape, posterior_->loc().options(), generator_, noise_);

  std::optional<GaussianPrior> prior;
  if (options_.analytic_kl()) {
    if (options_.train_hyperparameters()) {
      prior = model_->gaussian_prior();  // depends on the hyper-parameters being trained
    } else {
      if (!cached_prior_) {  // frozen: read once (after construction or load_state)
        torch::NoGradGuard no_grad;
        auto p = model_->gaussian_prior();
        TORCH_CHECK(p.has_value(), "VI: model '", model_->architecture(), "' no longer has a Gaussian prior");
        auto detached = [](const torch::Tensor& t) { return t.defined() ? t.detach() : t; };
        cached_prior_ = GaussianPrior{p->loc.detach(), detached(p->scale_tril), detached(p->scale_diag)};
      }
      prior = cached_prior_;
    }
  }

  torch::Tensor objective;
  if (options_.local_reparameterisation()) {
    // KL(q‖p) − scale · (1/S) Σ_s Σ_b log p(y_b | x_b, ·) with pre-activations drawn per datum.
    auto ll = model_->local_reparameterised_log_likelihood(posterior_->loc(), posterior_->stddev().square(), batch,
                                                           options_.num_samples(), generator_);
    TORCH_CHECK(ll.dim() == 2 && ll.size(0) == options_.num_samples() && ll.size(1) == batch.size(), "model '",
                model_->architecture(), "': local_reparameterised_log_likelihood returned ", ll.sizes(),
                "; expected [S, B]");
    objective = posterior_->kl_divergence(*prior) - scale * ll.sum(-1).mean();
  } else {
    objective = negative_elbo(*model_, *posterior_, batch, scale, noise, prior);
  }
  optimizer_->zero_grad();
  objective.sum().backward({}, /*retain_graph=*/false, /*create_graph=*/false, at::TensorList(trained_));
  auto reported = data_parallel_ ? detail::average_step(data_parallel_, trained_, objective) : objective.detach();
  optimizer_->step();
  ++step_;
  last_objective_ = reported;
  return last_objective_;
}

int64_t VITrainer::train(const TrainingCallbacks& callbacks) {
  callbacks.validate();
  while (step_ < options_.steps()) {
    step();
    const bool last = step_ == options_.steps();
    if (!callbacks.after_step(step_, last, [&] { return last_objective_.sum().item<double>(); })) break;
  }
  return step_;
}

void VITrainer::save_state(io::Checkpoint& checkpoint, const std::string& prefix) const {
  for (const auto& kv : posterior_->named_parameters()) {
    checkpoint.tensors[prefix + "posterior/" + kv.key()] = cpu_copy(kv.value());
  }
  checkpoint.metadata[prefix + "posterior"] = {
      {"family", posterior_->family()}, {"dim", posterior_->dim()}, {"runs", posterior_->runs()}};
  checkpoint.metadata[prefix + "train_hyperparameters"] = options_.train_hyperparameters();
  if (options_.train_hyperparameters()) {
    for (const auto& kv : hypers_) checkpoint.tensors[prefix + "hyper/" + kv.first] = cpu_copy(kv.second);
  }
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
  checkpoint.metadata[prefix + "step"] = step_;
}

void VITrainer::load_state(const io::Checkpoint& checkpoint, const std::string& prefix) {
  const auto q = meta_field<nlohmann::json>(checkpoint, prefix + "posterior");
  TORCH_CHECK(q.at("family").get<std::string>() == posterior_->family() &&
                  q.at("dim").get<int64_t>() == posterior_->dim() && q.at("runs").get<int64_t>() == posterior_->runs(),
              "VI::load_state: the checkpoint holds a ", q.dump(), " posterior, this trainer's is {\"family\":\"",
              posterior_->family(), "\",\"dim\":", posterior_->dim(), ",\"runs\":", posterior_->runs(), "}");
  const bool hyper = meta_field<bool>(checkpoint, prefix + "train_hyperparameters");
  TORCH_CHECK(hyper == options_.train_hyperparameters(),
              "VI::load_state: the checkpoint was written with "
              "train_hyperparameters = ",
              hyper, ", this trainer has ", options_.train_hyperparameters());
  const auto sampler = meta_field<nlohmann::json>(checkpoint, prefix + "minibatch");
  const int64_t step = meta_field<int64_t>(checkpoint, prefix + "step");
  TORCH_CHECK(step >= 0, "VI::load_state: step = ", step, " must be >= 0");

  // Everything that can fail on a mismatch is checked before any state changes (the optimizer's
  // own load checks its shapes and options first).
  data::SamplerState s;
  s.epoch = sampler.at("epoch").get<int64_t>();
  s.position = sampler.at("position").get<int64_t>();
  s.num_rows = sampler.at("num_rows").get<int64_t>();
  s.batch_size = sampler.at("batch_size").get<int64_t>();
  TORCH_CHECK(s.num_rows == sampler_.dataset().size() && s.batch_size == sampler_.options().batch_size(),
              "VI::load_state: the checkpoint was written for ", s.num_rows, " rows in batches of ", s.batch_size,
              ", this trainer has ", sampler_.dataset().size(), " rows in batches of ",
              sampler_.options().batch_size());
  s.generator_state = checkpoint.at(prefix + "generator");
  if (checkpoint.has(prefix + "minibatch/epoch_generator")) {
    s.epoch_generator_state = checkpoint.at(prefix + "minibatch/epoch_generator");
  }
  std::vector<std::pair<torch::Tensor, std::string>> copies;
  for (const auto& kv : posterior_->named_parameters())
    copies.emplace_back(kv.value(), prefix + "posterior/" + kv.key());
  if (options_.train_hyperparameters()) {
    for (const auto& kv : hypers_) copies.emplace_back(kv.second, prefix + "hyper/" + kv.first);
  }
  for (const auto& [into, key] : copies) {
    const auto& saved = checkpoint.at(key);
    TORCH_CHECK(saved.sizes() == into.sizes(), "VI::load_state: checkpoint tensor \"", key, "\" has shape ",
                saved.sizes(), ", expected ", into.sizes());
  }

  load_optimizer(checkpoint, prefix + "optimizer", *optimizer_);
  {
    torch::NoGradGuard no_grad;
    for (const auto& [into, key] : copies) into.copy_(checkpoint.at(key));
  }
  sampler_.load_state(s);
  io::set_generator_state(generator_, checkpoint.at(prefix + "generator"));
  step_ = step;
  cached_prior_.reset();
  last_objective_ = torch::Tensor();
}

}  // namespace unlearn::inference
