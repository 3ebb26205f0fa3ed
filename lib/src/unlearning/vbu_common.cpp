// Shared machinery of the EUBO and reverse-KL unlearners, and the result's JSON.
#include <chrono>
#include <cmath>

#include "unlearn/unlearning/adjusted_likelihood.h"
#include "vbu_internal.h"

namespace unlearn {

void to_json(nlohmann::json& j, const VbuRun& run) {
  j = nlohmann::json{{"lambda", run.lambda},
                     {"log_lambda", nullptr},
                     {"objective", run.objective},
                     {"fraction_inside", run.fraction_inside},
                     {"effective_sample_size", nullptr},
                     {"seconds", run.seconds},
                     {"steps", run.steps},
                     {"objective_trace", run.objective_trace}};
  if (run.effective_sample_size) j["effective_sample_size"] = *run.effective_sample_size;
  if (std::isfinite(run.log_lambda)) j["log_lambda"] = run.log_lambda;
}

void to_json(nlohmann::json& j, const VbuResult& result) {
  j = nlohmann::json{{"method", result.method},
                     {"seconds", result.seconds},
                     {"steps", result.steps},
                     {"converged", result.converged},
                     {"runs", result.runs}};
}

namespace detail {

bool is_diagonal(const GaussianPosteriorImpl& q, const char* who) {
  const auto family = q.family();
  if (family == "mean_field") return true;
  if (family == "full_rank") return false;
  TORCH_CHECK(false, who, ": posterior family '", family,
              "' is not supported: allowed are mean_field, full_rank");
}

FixedGaussian::FixedGaussian(const GaussianPosteriorImpl& q) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(q.runs() == 0, "q(θ|D) must be a posterior without runs, got ", q.runs(), " runs");
  diagonal = is_diagonal(q, "q(θ|D)");
  dim = q.dim();
  loc = q.loc().detach().clone();
  torch::Tensor half_log_det;
  if (diagonal) {
    scale = q.stddev().detach().clone();
    inv_scale = scale.reciprocal();
    half_log_det = scale.log().sum();
  } else {
    scale = q.scale_tril().detach().clone();
    scale_t = scale.t().contiguous();
    auto eye = torch::eye(dim, scale.options());
    inv_tril = torch::linalg_solve_triangular(scale, eye, /*upper=*/false);
    inv_scale = inv_tril.t().contiguous();
    half_log_det = scale.diagonal().log().sum();
  }
  log_prob_mode = -half_log_det - 0.5 * static_cast<double>(dim) * kLog2Pi;
}

torch::Tensor FixedGaussian::offset(const torch::Tensor& noise) const {
  return diagonal ? noise * scale : torch::matmul(noise, scale_t);
}

GaussianFactor GaussianFactor::of(const GaussianPosteriorImpl& q) {
  GaussianFactor f;
  f.diagonal = is_diagonal(q, "unlearning");
  f.loc = q.loc();
  f.scale = f.diagonal ? q.stddev() : q.scale_tril();
  return f;
}

torch::Tensor GaussianFactor::half_log_det() const {
  return diagonal ? scale.log().sum(-1) : scale.diagonal(0, -2, -1).log().sum(-1);
}

torch::Tensor blocks_transposed(const torch::Tensor& m) {
  const int64_t runs = m.size(0), p = m.size(1);
  // [R, P, P] -> Mᵀ per run [R, P, P] -> [P, R, P] -> [P, R·P].
  return m.transpose(1, 2).permute({1, 0, 2}).reshape({p, runs * p});
}

torch::Tensor affine_all_runs(const torch::Tensor& x, const torch::Tensor& loc,
                              const torch::Tensor& m, bool diagonal) {
  const int64_t samples = x.size(0), runs = loc.size(0), p = loc.size(1);
  if (diagonal) {
    // [1, R, P] + [S, 1, P] ⊙ [1, R, P] -> [S, R, P], one fused op.
    return torch::addcmul(loc.unsqueeze(0), x.unsqueeze(1), m.unsqueeze(0))
        .reshape({samples, runs * p});
  }
  return torch::addmm(loc.reshape({runs * p}), x, blocks_transposed(m));
}

torch::Tensor weighted_outer_sum(const torch::Tensor& d, const torch::Tensor& w) {
  const int64_t samples = d.size(0), p = d.size(1), runs = w.size(0);
  // wd[s, r, :] = w_rs d_s; then dᵀ · wd = [P, R·P] holds Σ_s d_s (w_rs d_s)ᵀ per column block.
  auto wd = (w.t().contiguous().unsqueeze(-1) * d.unsqueeze(1)).reshape({samples, runs * p});
  return torch::mm(d.t(), wd).view({p, runs, p}).permute({1, 0, 2});
}

ErasedSource::ErasedSource(const data::Batch& erased, int64_t chunk_size, int64_t minibatch)
    : erased_(erased),
      chunk_size_(chunk_size),
      minibatch_(minibatch),
      chunks_(functional::chunk_batch(erased, chunk_size)) {
  if (minibatch_ >= erased.x.size(0)) minibatch_ = 0;  // the whole set: exact
  if (minibatch_ > 0) {
    permutation_.resize(erased.x.size(0));
    for (size_t i = 0; i < permutation_.size(); ++i) permutation_[i] = static_cast<int64_t>(i);
  }
}

std::pair<const std::vector<data::Batch>*, double> ErasedSource::next(torch::Generator& gen) {
  if (minibatch_ == 0) return {&chunks_, 1.0};
  const int64_t n = erased_.x.size(0);
  // Partial Fisher–Yates: the first B entries become a uniform random subset (from whatever
  // order the previous step left).
  for (int64_t k = 0; k < minibatch_; ++k) {
    const auto j = k + uniform_index(gen, n - k);
    std::swap(permutation_[k], permutation_[j]);
  }
  auto idx = torch::tensor(std::vector<int64_t>(permutation_.begin(), permutation_.begin() + minibatch_),
                           torch::TensorOptions().dtype(torch::kInt64))
                 .to(erased_.x.device());
  data::Batch b;
  b.x = erased_.x.index_select(0, idx);
  if (erased_.y.defined()) b.y = erased_.y.index_select(0, idx);
  if (erased_.ids.defined()) b.ids = erased_.ids.index_select(0, idx);
  minibatch_chunks_ = functional::chunk_batch(b, chunk_size_);
  return {&minibatch_chunks_, static_cast<double>(n) / static_cast<double>(minibatch_)};
}

}  // namespace detail

void VbuOptions::validate(const char* who) const {
  const auto thresholds = functional::resolve_log_lambdas(lambdas(), log_lambdas());  // checks each
  TORCH_CHECK(!thresholds.empty(), who, ": the list of lambdas is empty");
  TORCH_CHECK(num_samples() >= 1, who, ": num_samples = ", num_samples(), " must be >= 1");
  TORCH_CHECK(max_steps() >= 1, who, ": max_steps = ", max_steps(), " must be >= 1");
  TORCH_CHECK(lr() > 0 && std::isfinite(lr()), who, ": lr = ", lr(), " must be finite and > 0");
  TORCH_CHECK(beta1() >= 0 && beta1() < 1, who, ": beta1 = ", beta1(), " is outside [0, 1)");
  TORCH_CHECK(beta2() >= 0 && beta2() < 1, who, ": beta2 = ", beta2(), " is outside [0, 1)");
  TORCH_CHECK(eps() >= 0 && std::isfinite(eps()), who, ": eps = ", eps(), " must be finite and >= 0");
  TORCH_CHECK(chunk_size() >= 1, who, ": chunk_size = ", chunk_size(), " must be >= 1");
  TORCH_CHECK(erased_batch_size() >= 0, who, ": erased_batch_size = ", erased_batch_size(),
              " must be >= 0 (0: all erased points every step)");
  TORCH_CHECK(report_every() >= 1, who, ": report_every = ", report_every(), " must be >= 1");
  TORCH_CHECK(progress_every() >= 1, who, ": progress_every = ", progress_every(), " must be >= 1");
  TORCH_CHECK(tolerance() >= 0 && std::isfinite(tolerance()), who, ": tolerance = ", tolerance(),
              " must be finite and >= 0 (0: no convergence stop)");
}

namespace detail {

void check_inputs(const char* who, Model& model, const GaussianPosteriorImpl& q_full,
                  const data::Batch& erased) {
  TORCH_CHECK(q_full.runs() == 0, who, ": q(θ|D) must be a posterior without runs, got ",
              q_full.runs(), " runs");
  TORCH_CHECK(q_full.dim() == model.num_params(), who, ": q(θ|D) has ", q_full.dim(),
              " dimensions but model '", model.architecture(), "' has ", model.num_params(),
              " parameters");
  const auto model_dtype = c10::typeMetaToScalarType(model.theta_options().dtype());
  TORCH_CHECK(q_full.loc().scalar_type() == model_dtype, who, ": q(θ|D) is ",
              q_full.loc().scalar_type(), " but model '", model.architecture(), "' works in ",
              model_dtype);
  TORCH_CHECK(erased.x.defined() && erased.x.dim() >= 1 && erased.x.size(0) >= 1, who,
              ": the erased batch is empty");
}

NoiseSource::NoiseSource(int64_t num_samples, int64_t dim, const torch::TensorOptions& options)
    : shape_{num_samples, dim}, options_(options.requires_grad(false)) {}

const torch::Tensor& NoiseSource::next(torch::Generator& gen) {
  if (gen.device().type() == options_.device().type()) {
    out_ = standard_normal(shape_, options_, gen, scratch_);
    return out_;
  }
  // A CPU generator for a CUDA posterior: draw into the reused buffer on the generator's device
  // and copy into a reused one on the posterior's, so the step allocates nothing.
  const auto& drawn = standard_normal(shape_, options_.device(gen.device()), gen, scratch_);
  if (!out_.defined()) out_ = torch::empty(shape_, options_);
  out_.copy_(drawn);
  return out_;
}

namespace {

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

VbuResult run_adam(const std::shared_ptr<GaussianPosteriorImpl>& q, const VbuOptions& options,
                   const data::Batch& erased, const StepFunction& step) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto log_lambdas = functional::resolve_log_lambdas(options.lambdas(), options.log_lambdas());
  const auto reported = functional::reported_lambdas(options.lambdas(), options.log_lambdas());
  const auto runs = static_cast<int64_t>(log_lambdas.size());
  TORCH_CHECK(q->runs() == runs, "run_adam: the posterior has ", q->runs(), " runs for ", runs,
              " lambdas");

  auto params = q->parameters();
  torch::optim::Adam adam(params, torch::optim::AdamOptions(options.lr())
                                      .betas(std::make_tuple(options.beta1(), options.beta2()))
                                      .eps(options.eps()));
  auto gen = make_generator(options.seed());
  ErasedSource source(erased, options.chunk_size(), options.erased_batch_size());
  NoiseSource noise(options.num_samples(), q->dim(), q->loc().options());

  // Window accumulators stay on the device; the host reads them once per window.
  auto acc_options = q->loc().options().requires_grad(false);
  auto acc_objective = torch::zeros({runs}, acc_options);
  auto acc_inside = torch::zeros({runs}, acc_options);
  auto acc_ess = torch::zeros({runs}, acc_options);
  bool have_ess = false;
  int64_t in_window = 0;

  std::vector<std::vector<double>> traces(runs);
  std::vector<double> objective(runs), inside(runs), ess(runs);
  bool converged = false;
  int64_t steps = 0;
  while (steps < options.max_steps()) {
    auto [chunks, scale] = source.next(gen);
    const auto& eps = noise.next(gen);
    StepOutput out = step(eps, *chunks, scale);

    auto grads = torch::autograd::grad({out.loss}, params, /*grad_outputs=*/{},
                                       /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = grads[i];
    adam.step();
    ++steps;
    if (options.on_progress() && (steps % options.progress_every() == 0 || steps == options.max_steps())) {
      options.on_progress()(steps, options.max_steps(), to_vector(out.objective));
    }

    {
      torch::NoGradGuard no_grad;
      acc_objective.add_(out.objective);
      acc_inside.add_(out.inside.sum(-1));
      if (out.ess.defined()) {
        acc_ess.add_(out.ess);
        have_ess = true;
      }
    }
    ++in_window;
    if (in_window < options.report_every() && steps < options.max_steps()) continue;

    // End of a window: one read-back.
    const double n = static_cast<double>(in_window);
    auto window = torch::stack({acc_objective / n,
                                acc_inside / (n * static_cast<double>(options.num_samples())),
                                acc_ess / n});
    auto values = to_vector(window);
    bool all_settled = options.tolerance() > 0;
    for (int64_t r = 0; r < runs; ++r) {
      const double o = values[r];
      TORCH_CHECK(std::isfinite(o), "the objective of the run with ", functional::describe_threshold(log_lambdas[r]),
                  " is not finite (", o, ") in the window ending at step ", steps,
                  ": the erased log-likelihood or the posterior diverged");
      if (traces[r].empty() || std::abs(o - traces[r].back()) >= options.tolerance()) {
        all_settled = false;
      }
      traces[r].push_back(o);
      objective[r] = o;
      inside[r] = values[runs + r];
      ess[r] = values[2 * runs + r];
    }
    acc_objective.zero_();
    acc_inside.zero_();
    acc_ess.zero_();
    in_window = 0;
    if (all_settled) {
      converged = true;
      break;
    }
  }
  for (auto& p : params) p.mutable_grad() = torch::Tensor();

  VbuResult result;
  result.posterior = q;
  result.steps = steps;
  result.converged = converged;
  result.seconds = std::chrono::duration<double>(clock::now() - start).count();
  for (int64_t r = 0; r < runs; ++r) {
    VbuRun run;
    run.log_lambda = log_lambdas[r];
    run.lambda = reported[r];
    run.objective = objective[r];
    run.fraction_inside = inside[r];
    if (have_ess) run.effective_sample_size = ess[r];
    run.seconds = result.seconds;
    run.steps = steps;
    run.objective_trace = std::move(traces[r]);
    run.posterior = q->select_run(r);
    result.runs.push_back(std::move(run));
  }
  return result;
}

}  // namespace detail
}  // namespace unlearn
