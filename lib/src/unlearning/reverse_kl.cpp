#include "unlearn/unlearning/reverse_kl.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "unlearn/random/normal.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "vbu_internal.h"

namespace unlearn {
namespace F = functional;

// ---- pure functions ---------------------------------------------------------------------------

torch::Tensor functional::self_normalised_log_weights(const torch::Tensor& log_w) {
  return log_w - log_w.logsumexp(-1, /*keepdim=*/true);
}

torch::Tensor functional::effective_sample_size(const torch::Tensor& log_w) {
  return torch::exp(2.0 * log_w.logsumexp(-1) - (2.0 * log_w).logsumexp(-1));
}

namespace {
// Normalised weights [..., S] and the weighted mean [..., P] of θ [..., S, P] (or shared [S, P]).
std::pair<torch::Tensor, torch::Tensor> weights_and_mean(const torch::Tensor& theta,
                                                         const torch::Tensor& log_w) {
  TORCH_CHECK(theta.dim() >= 2, "weighted moments: theta must be [..., S, P], got ", theta.sizes());
  TORCH_CHECK(log_w.size(-1) == theta.size(-2), "weighted moments: ", log_w.size(-1),
              " weights for ", theta.size(-2), " samples");
  auto w = torch::exp(F::self_normalised_log_weights(log_w));
  auto mean = torch::matmul(w.unsqueeze(-2), theta).squeeze(-2);
  return {w, mean};
}
}  // namespace

std::pair<torch::Tensor, torch::Tensor> functional::weighted_gaussian_moments(
    const torch::Tensor& theta, const torch::Tensor& log_w) {
  auto [w, mean] = weights_and_mean(theta, log_w);
  auto diff = theta - mean.unsqueeze(-2);  // centred first: no cancellation
  auto cov = torch::matmul((diff * w.unsqueeze(-1)).transpose(-1, -2), diff);
  return {mean, 0.5 * (cov + cov.transpose(-1, -2))};
}

std::pair<torch::Tensor, torch::Tensor> functional::weighted_diagonal_moments(
    const torch::Tensor& theta, const torch::Tensor& log_w) {
  auto [w, mean] = weights_and_mean(theta, log_w);
  auto diff = theta - mean.unsqueeze(-2);
  auto var = torch::matmul(w.unsqueeze(-2), diff.square()).squeeze(-2);
  return {mean, var};
}

namespace {

// J = −½ tr(Σ⁻¹ G) − log|det L| − (P/2) log 2π with Σ = L Lᵀ, G = C + (m − loc)(m − loc)ᵀ.
// Written as one autograd node with the analytic gradient (the composite costs ~3× the ops,
// and the reverse-KL step is dominated by per-op overhead at P = 20):
//   ∂J/∂loc = Σ⁻¹ (m − loc),   ∂J/∂L = tril(Σ⁻¹ G L⁻ᵀ − L⁻ᵀ).
// m and C are constants here (the caller falls back to the composite when they need gradients).
class WeightedLogProbTril : public torch::autograd::Function<WeightedLogProbTril> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& mean,
                               const torch::Tensor& cov, const torch::Tensor& loc,
                               const torch::Tensor& scale_tril) {
    const int64_t p = loc.size(-1);
    auto eye = torch::eye(p, scale_tril.options()).expand_as(scale_tril);
    auto inv = torch::linalg_solve_triangular(scale_tril, eye, /*upper=*/false);  // L⁻¹
    auto d = mean - loc;
    auto inv_g = torch::matmul(inv, cov + d.unsqueeze(-1) * d.unsqueeze(-2));     // L⁻¹ G
    auto trace = (inv * inv_g).sum({-2, -1});                                     // tr(Σ⁻¹ G)
    ctx->save_for_backward({inv, inv_g, d});
    return -0.5 * trace - scale_tril.diagonal(0, -2, -1).log().sum(-1) -
           0.5 * static_cast<double>(p) * detail::kLog2Pi;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const auto& inv = saved[0];
    const auto& inv_g = saved[1];
    const auto& d = saved[2];
    auto grad = grad_outputs[0].unsqueeze(-1);  // [..., 1]
    auto inv_t = inv.transpose(-1, -2);        // L⁻ᵀ
    auto grad_loc = torch::matmul(inv_t, torch::matmul(inv, d.unsqueeze(-1))).squeeze(-1) * grad;
    auto grad_tril =
        torch::tril(torch::matmul(inv_t, torch::matmul(inv_g, inv_t)) - inv_t) * grad.unsqueeze(-1);
    return {torch::Tensor(), torch::Tensor(), grad_loc, grad_tril};
  }
};

}  // namespace

torch::Tensor functional::weighted_log_prob_tril(const torch::Tensor& weighted_mean,
                                                 const torch::Tensor& weighted_cov,
                                                 const torch::Tensor& loc,
                                                 const torch::Tensor& scale_tril) {
  const int64_t p = loc.size(-1);
  TORCH_CHECK(weighted_mean.size(-1) == p && weighted_cov.size(-1) == p &&
                  weighted_cov.size(-2) == p && scale_tril.size(-1) == p &&
                  scale_tril.size(-2) == p,
              "weighted_log_prob_tril: dimensions disagree: mean ", weighted_mean.sizes(),
              ", cov ", weighted_cov.sizes(), ", loc ", loc.sizes(), ", scale_tril ",
              scale_tril.sizes());
  if (!weighted_mean.requires_grad() && !weighted_cov.requires_grad()) {
    // Broadcast the run dimensions so that the node's gradients have the inputs' shapes.
    auto batch = at::infer_size(at::infer_size(weighted_mean.sizes(), loc.sizes()),
                                scale_tril.sizes().slice(0, scale_tril.dim() - 1));
    std::vector<int64_t> vec(batch.begin(), batch.end());
    std::vector<int64_t> mat(vec);
    mat.push_back(p);
    if (loc.sizes() == c10::IntArrayRef(vec) && scale_tril.sizes() == c10::IntArrayRef(mat)) {
      return WeightedLogProbTril::apply(weighted_mean, weighted_cov, loc, scale_tril);
    }
  }
  // General case (gradients through the moments too, or broadcasting parameters): composite.
  // tr(Σ⁻¹ C) = Σ_ij (L⁻¹)_ij (L⁻¹ C)_ij ; (m − loc)ᵀ Σ⁻¹ (m − loc) = ‖L⁻¹ (m − loc)‖².
  auto eye = torch::eye(p, scale_tril.options().requires_grad(false)).expand_as(scale_tril);
  auto inv = torch::linalg_solve_triangular(scale_tril, eye, /*upper=*/false);
  auto trace = (inv * torch::matmul(inv, weighted_cov)).sum({-2, -1});
  auto u = torch::matmul(inv, (weighted_mean - loc).unsqueeze(-1)).squeeze(-1);
  return -0.5 * (trace + u.square().sum(-1)) - scale_tril.diagonal(0, -2, -1).log().sum(-1) -
         0.5 * static_cast<double>(p) * detail::kLog2Pi;
}

torch::Tensor functional::weighted_log_prob_diag(const torch::Tensor& weighted_mean,
                                                 const torch::Tensor& weighted_var,
                                                 const torch::Tensor& loc,
                                                 const torch::Tensor& scale) {
  const int64_t p = loc.size(-1);
  auto second = weighted_var + (weighted_mean - loc).square();
  return -0.5 * (second / scale.square()).sum(-1) - scale.log().sum(-1) -
         0.5 * static_cast<double>(p) * detail::kLog2Pi;
}

// ---- the per-step objective -------------------------------------------------------------------

ReverseKlObjective::ReverseKlObjective(Model& model, const GaussianPosteriorImpl& q_full,
                             const data::Batch& erased, c10::ArrayRef<double> lambdas,
                             int64_t chunk_size)
    : ReverseKlObjective(model, q_full, erased, LogLambdas{F::resolve_log_lambdas(lambdas, {})}, chunk_size) {}

ReverseKlObjective::ReverseKlObjective(Model& model, const GaussianPosteriorImpl& q_full,
                             const data::Batch& erased, const LogLambdas& log_lambdas,
                             int64_t chunk_size)
    : model_(&model),
      full_(std::make_shared<detail::FixedGaussian>(q_full)),
      chunks_(F::chunk_batch(erased, chunk_size)) {
  detail::check_inputs("ReverseKlObjective", model, q_full, erased);
  log_lambda_ = F::log_lambda_tensor(log_lambdas, q_full.loc().options());
  for (double l : log_lambdas.values) needs_mask_ = needs_mask_ || !std::isinf(l);
}

ReverseKlObjective::Statistics ReverseKlObjective::statistics(const torch::Tensor& noise) const {
  return statistics(noise, chunks_, 1.0);
}

ReverseKlObjective::Statistics ReverseKlObjective::statistics(
    const torch::Tensor& noise, const std::vector<data::Batch>& chunks, double scale) const {
  torch::NoGradGuard no_grad;
  const detail::FixedGaussian& full = *full_;
  const int64_t runs = log_lambda_.size(0);
  TORCH_CHECK(noise.dim() == 2 && noise.size(1) == full.dim,
              "reverse KL: noise must be [S, ", full.dim, "], got ", noise.sizes());
  auto offset = full.offset(noise);  // θ_s − loc = L ε_s, [S, P]
  auto theta = offset + full.loc;
  auto log_lik = erased_log_likelihood_ ? erased_log_likelihood_(*model_, theta, chunks)
                                        : F::erased_log_likelihood(*model_, theta, chunks);  // [S], all runs
  if (scale != 1.0) log_lik = log_lik * scale;

  Statistics stats;
  torch::Tensor log_w;
  if (needs_mask_) {
    // log q(θ_s|D) − log q(loc|D) = −½‖ε_s‖² exactly (θ_s = loc + L ε_s): the log-space test is
    // the Mahalanobis test ‖ε_s‖² < 2 ln(1/λ).
    stats.inside = F::gaussian_adjusted_likelihood_mask(noise.square().sum(-1), log_lambda_);
    log_w = F::self_normalised_log_weights(-torch::where(stats.inside, log_lik, 0.0));
  } else {  // every λ is 0
    stats.inside = torch::ones({runs, noise.size(0)}, noise.options().dtype(torch::kBool));
    log_w = F::self_normalised_log_weights(-log_lik).expand({runs, noise.size(0)});
  }
  auto w = log_w.exp();                   // [R, S], each row sums to one
  stats.ess = w.square().sum(-1).reciprocal();  // (Σw)²/Σw² with Σw = 1
  auto mean = torch::mm(w, offset);       // [R, P], about loc
  if (full.diagonal) {
    stats.covariance = torch::mm(w, offset.square()) - mean.square();
  } else {
    // Second moment about loc (one product for all runs), then the covariance. Centring on
    // loc(q(θ|D)) keeps the subtraction well conditioned: the weighted mean is within a few
    // standard deviations of loc whenever the weights are usable at all.
    auto cov = detail::weighted_outer_sum(offset, w) - mean.unsqueeze(-1) * mean.unsqueeze(-2);
    stats.covariance = 0.5 * (cov + cov.transpose(-1, -2));
  }
  stats.mean = mean + full.loc;
  stats.log_weights = std::move(log_w);
  return stats;
}

torch::Tensor ReverseKlObjective::objective(const GaussianPosteriorImpl& q_v,
                                            const Statistics& stats) const {
  const int64_t runs = log_lambda_.size(0);
  TORCH_CHECK(q_v.runs() == runs, "reverse KL: q_v has ", q_v.runs(), " runs for ", runs,
              " lambdas");
  TORCH_CHECK(detail::is_diagonal(q_v, "reverse KL") == full_->diagonal,
              "reverse KL: q_v and q(θ|D) must be of the same family");
  auto f = detail::GaussianFactor::of(q_v);
  return f.diagonal ? F::weighted_log_prob_diag(stats.mean, stats.covariance, f.loc, f.scale)
                    : F::weighted_log_prob_tril(stats.mean, stats.covariance, f.loc, f.scale);
}

// ---- iterative ---------------------------------------------------------------------------------

VbuResult reverse_kl_unlearn(Model& model, const GaussianPosteriorImpl& q_full,
                             const data::Batch& erased, const ReverseKlOptions& options) {
  options.validate("reverse_kl_unlearn");
  const auto thresholds = functional::resolve_log_lambdas(options.lambdas(), options.log_lambdas());
  detail::check_inputs("reverse_kl_unlearn", model, q_full, erased);

  TORCH_CHECK(!options.erased_log_likelihood() || options.erased_batch_size() == 0,
              "reverse_kl_unlearn: data-parallel runs need erased_batch_size = 0, got ",
              options.erased_batch_size());
  ReverseKlObjective objective(model, q_full, erased, LogLambdas{thresholds}, options.chunk_size());
  objective.set_erased_log_likelihood(options.erased_log_likelihood());
  auto q_v = q_full.replicate(static_cast<int64_t>(thresholds.size()));
  auto step = [&](const torch::Tensor& noise, const std::vector<data::Batch>& chunks,
                  double scale) {
    auto stats = objective.statistics(noise, chunks, scale);
    auto j = objective.objective(*q_v, stats);  // maximised
    return detail::StepOutput{-j.sum(), j.detach(), stats.inside, stats.ess};
  };
  auto result = detail::run_adam(q_v, options, erased, step);
  result.method = "rkl";
  return result;
}

// ---- closed form -------------------------------------------------------------------------------

VbuResult reverse_kl_closed_form(Model& model, const GaussianPosteriorImpl& q_full,
                                 const data::Batch& erased,
                                 const ReverseKlClosedFormOptions& options) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const char* who = "reverse_kl_closed_form";
  const auto logs = F::resolve_log_lambdas(options.lambdas(), options.log_lambdas());
  TORCH_CHECK(options.num_samples() >= 1, who, ": num_samples = ", options.num_samples(),
              " must be >= 1");
  TORCH_CHECK(options.sample_chunk() >= 1, who, ": sample_chunk = ", options.sample_chunk(),
              " must be >= 1");
  TORCH_CHECK(options.chunk_size() >= 1, who, ": chunk_size = ", options.chunk_size(),
              " must be >= 1");
  TORCH_CHECK(options.jitter() >= 0 && std::isfinite(options.jitter()), who, ": jitter = ",
              options.jitter(), " must be finite and >= 0");
  detail::check_inputs(who, model, q_full, erased);

  torch::NoGradGuard no_grad;
  const detail::FixedGaussian full(q_full);
  const auto chunks = F::chunk_batch(erased, options.chunk_size());
  const auto opts = q_full.loc().options().requires_grad(false);
  const auto log_lambda = F::log_lambda_tensor(LogLambdas{logs}, opts);
  const int64_t runs = log_lambda.size(0), dim = full.dim;
  auto gen = make_generator(options.seed());

  // Running sums over blocks, about loc(q(θ|D)) and scaled by exp(−lse): lse = log Σ_s w_s of the
  // unnormalised weights, lse2 = log Σ_s w_s², mean = Σ w̄ (θ − loc), second = Σ w̄ (θ − loc)(…)ᵀ.
  const double inf = std::numeric_limits<double>::infinity();
  auto lse = torch::full({runs}, -inf, opts), lse2 = torch::full({runs}, -inf, opts);
  auto mean = torch::zeros({runs, dim}, opts);
  auto second = full.diagonal ? torch::zeros({runs, dim}, opts) : torch::zeros({runs, dim, dim}, opts);
  auto inside_count = torch::zeros({runs}, opts);
  // The samples are drawn in units of a fixed number of rows, whatever sample_chunk is, so that
  // the result does not depend on the block size (tested): each standard_normal call keys a
  // fresh stream, so drawing per block would tie the numbers to the blocking.
  constexpr int64_t kDrawUnit = 1024;
  torch::Tensor pending;
  int64_t used = 0;
  auto take_rows = [&](int64_t count) {
    std::vector<torch::Tensor> parts;
    while (count > 0) {
      if (!pending.defined() || used == pending.size(0)) {
        pending = standard_normal({kDrawUnit, dim}, opts, gen);
        used = 0;
      }
      const int64_t k = std::min(count, pending.size(0) - used);
      parts.push_back(pending.narrow(0, used, k));
      used += k;
      count -= k;
    }
    return parts.size() == 1 ? parts.front() : torch::cat(parts);
  };
  for (int64_t done = 0; done < options.num_samples();) {
    const int64_t n = std::min(options.sample_chunk(), options.num_samples() - done);
    auto noise = take_rows(n);
    auto offset = full.offset(noise);
    auto theta = offset + full.loc;
    auto log_lik = options.erased_log_likelihood() ? options.erased_log_likelihood()(model, theta, chunks)
                                                   : F::erased_log_likelihood(model, theta, chunks);
    auto inside = F::gaussian_adjusted_likelihood_mask(noise.square().sum(-1), log_lambda);  // [R, n]
    auto log_w = -torch::where(inside, log_lik, 0.0);                                 // [R, n]
    auto block_lse = log_w.logsumexp(-1);
    auto w = torch::exp(log_w - block_lse.unsqueeze(-1));
    auto block_mean = torch::matmul(w, offset);  // [R, P]
    auto block_second = full.diagonal ? torch::matmul(w, offset.square())
                                      : detail::weighted_outer_sum(offset, w);
    auto total = torch::logaddexp(lse, block_lse);
    auto a = torch::exp(lse - total), b = torch::exp(block_lse - total);  // a = 0 on the first block
    mean = a.unsqueeze(-1) * mean + b.unsqueeze(-1) * block_mean;
    auto expand = [&](const torch::Tensor& c) {
      return full.diagonal ? c.unsqueeze(-1) : c.unsqueeze(-1).unsqueeze(-1);
    };
    second = expand(a) * second + expand(b) * block_second;
    lse = total;
    lse2 = torch::logaddexp(lse2, (2.0 * log_w).logsumexp(-1));
    inside_count += inside.sum(-1);
    done += n;
  }

  auto ess = torch::exp(2.0 * lse - lse2);
  torch::Tensor cov;
  if (full.diagonal) {
    cov = second - mean.square() + options.jitter();
  } else {
    cov = second - mean.unsqueeze(-1) * mean.unsqueeze(-2);
    cov = 0.5 * (cov + cov.transpose(-1, -2)) +
          options.jitter() * torch::eye(dim, opts).expand({runs, dim, dim});
  }
  // Which runs have no Gaussian maximiser (a covariance that is not positive definite)?
  auto ok = full.diagonal ? (cov > 0).all(-1)
                          : std::get<1>(torch::linalg_cholesky_ex(cov)).eq(0);
  auto ok_host = ok.to(torch::kCPU);
  auto ess_host = ess.to(torch::kCPU, torch::kFloat64);
  for (int64_t r = 0; r < runs; ++r) {
    TORCH_CHECK(ok_host[r].item<bool>(), who, ": the weighted covariance of the run with ",
                F::describe_threshold(logs[r]), " is not positive definite (effective sample size ",
                ess_host[r].item<double>(), " for ", dim,
                " dimensions): raise num_samples or set a jitter");
  }

  auto q = q_full.replicate(runs);
  q->set_moments(mean + full.loc, cov);
  // The objective at the optimum: Σ w̄ log q(θ_s) = −½ P − ½ log det(2π C) (full-rank), the same
  // with the variances for mean-field.
  auto f = detail::GaussianFactor::of(*q);
  auto objective = full.diagonal
                       ? F::weighted_log_prob_diag(mean + full.loc, cov, f.loc, f.scale)
                       : F::weighted_log_prob_tril(mean + full.loc, cov, f.loc, f.scale);

  VbuResult result;
  result.method = "rkl_closed";
  result.posterior = q;
  result.seconds = std::chrono::duration<double>(clock::now() - start).count();
  auto objective_host = objective.to(torch::kCPU, torch::kFloat64);
  auto inside_host = (inside_count / static_cast<double>(options.num_samples())).to(torch::kCPU);
  const auto reported = F::reported_lambdas(options.lambdas(), options.log_lambdas());
  for (int64_t r = 0; r < runs; ++r) {
    VbuRun run;
    run.log_lambda = logs[r];
    run.lambda = reported[r];
    run.objective = objective_host[r].item<double>();
    run.fraction_inside = inside_host[r].item<double>();
    run.effective_sample_size = ess_host[r].item<double>();
    run.seconds = result.seconds;
    run.steps = 0;
    run.objective_trace = {run.objective};
    run.posterior = q->select_run(r);
    result.runs.push_back(std::move(run));
  }
  return result;
}

}  // namespace unlearn
