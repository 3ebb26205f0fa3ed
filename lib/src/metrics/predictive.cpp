#include "unlearn/metrics/predictive.h"

#include <cmath>

namespace unlearn::metrics {

torch::Tensor predictive_probs(Model& model, const torch::Tensor& theta, const torch::Tensor& x,
                               int64_t chunk) {
  TORCH_CHECK(theta.dim() == 2, "predictive_probs: theta must be [S, P], got ", theta.sizes());
  TORCH_CHECK(chunk >= 1, "predictive_probs: chunk = ", chunk, " must be >= 1");
  torch::NoGradGuard no_grad;
  const double log_s = std::log(static_cast<double>(theta.size(0)));
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < x.size(0); start += chunk) {
    auto xb = x.narrow(0, start, std::min(chunk, x.size(0) - start));
    auto lp = model.predict_log_proba(theta, xb);  // [S, b, C]
    parts.push_back((torch::logsumexp(lp, 0) - log_s).exp());
  }
  return torch::cat(parts, 0);
}

torch::Tensor predictive_probs(Model& model, const GaussianPosteriorImpl& posterior,
                               const torch::Tensor& x, int64_t num_samples, torch::Generator& gen) {
  TORCH_CHECK(posterior.runs() == 0, "predictive_probs takes a posterior without runs");
  torch::NoGradGuard no_grad;
  return predictive_probs(model, posterior.rsample(num_samples, gen), x);
}

torch::Tensor categorical_kl(const torch::Tensor& p, const torch::Tensor& q, double floor) {
  TORCH_CHECK(p.sizes() == q.sizes(), "categorical_kl: shapes differ: ", p.sizes(), " vs ", q.sizes());
  auto terms = torch::where(p > 0, p * (p.log() - q.clamp_min(floor).log()), torch::zeros_like(p));
  return terms.sum(-1);
}

MeanStd mean_std(const torch::Tensor& values) {
  auto v = values.to(torch::kFloat64);
  return {v.mean().item<double>(), v.std(/*unbiased=*/false).item<double>()};
}

MeanStd averaged_kl(const torch::Tensor& reference_probs, const torch::Tensor& probs) {
  return mean_std(categorical_kl(reference_probs, probs));
}

double error_rate(const torch::Tensor& probs, const torch::Tensor& labels) {
  return probs.argmax(-1).ne(labels.to(torch::kLong)).to(torch::kFloat64).mean().item<double>();
}

double mean_l1_distance(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().sum(-1).mean().item<double>();
}

torch::Tensor true_label_probs(const torch::Tensor& probs, const torch::Tensor& labels) {
  return probs.gather(-1, labels.to(torch::kLong).unsqueeze(-1)).squeeze(-1);
}

MembershipAttack membership_attack(const torch::Tensor& member, const torch::Tensor& nonmember,
                                   const torch::Tensor& target) {
  TORCH_CHECK(member.numel() > 0 && nonmember.numel() > 0,
              "membership_attack needs members and non-members, got ", member.numel(), " and ",
              nonmember.numel());
  auto m = std::get<0>(member.to(torch::kFloat64).flatten().sort());
  auto n = std::get<0>(nonmember.to(torch::kFloat64).flatten().sort());
  // Candidate thresholds: every observed score (and +inf: nobody is a member).
  auto candidates = torch::cat({m, n, torch::full({1}, INFINITY, m.options())});
  // TPR(τ) = #{member ≥ τ}/|M|, TNR(τ) = #{non-member < τ}/|N|, by binary search on sorted scores.
  auto tpr = 1.0 - torch::searchsorted(m, candidates, /*out_int32=*/false, /*right=*/false)
                       .to(torch::kFloat64) / static_cast<double>(m.numel());
  auto tnr = torch::searchsorted(n, candidates, false, false).to(torch::kFloat64) /
             static_cast<double>(n.numel());
  auto balanced = 0.5 * (tpr + tnr);
  auto best = balanced.argmax().item<int64_t>();
  MembershipAttack out;
  out.threshold = candidates[best].item<double>();
  out.balanced_accuracy = balanced[best].item<double>();
  out.target_nonmember_fraction =
      target.numel() == 0 ? 0.0
                          : (target.to(torch::kFloat64) < out.threshold).to(torch::kFloat64).mean().item<double>();
  return out;
}

double knn_kl_estimate(const torch::Tensor& x, const torch::Tensor& y) {
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2 && x.size(1) == y.size(1),
              "knn_kl_estimate: x [n, d] and y [m, d] must share d, got ", x.sizes(), " and ", y.sizes());
  TORCH_CHECK(x.size(0) >= 2 && y.size(0) >= 1, "knn_kl_estimate needs n >= 2 and m >= 1, got n = ",
              x.size(0), ", m = ", y.size(0));
  auto xx = x.to(torch::kFloat64), yy = y.to(torch::kFloat64);
  const double n = static_cast<double>(xx.size(0)), m = static_cast<double>(yy.size(0));
  const double d = static_cast<double>(xx.size(1));
  auto dxx = torch::cdist(xx, xx);
  dxx.fill_diagonal_(INFINITY);
  auto rho = std::get<0>(dxx.min(1));
  auto nu = std::get<0>(torch::cdist(xx, yy).min(1));
  TORCH_CHECK(rho.min().item<double>() > 0 && nu.min().item<double>() > 0,
              "knn_kl_estimate: duplicate samples (a nearest-neighbour distance of 0); the 1-NN "
              "estimator needs continuous, distinct samples");
  return (d / n) * (nu.log() - rho.log()).sum().item<double>() + std::log(m / (n - 1.0));
}

}  // namespace unlearn::metrics
