#pragma once
// Gaussian mixture with known, equal weights and unit covariances; Bayesian over the means:
//   x_i ~ Σ_k (1/K) N(μ_k, I),   μ_k ~ N(0, σ0² I),   k = 1..K.
// θ = the K×d means flattened row-major (μ_1 first): P = K·d. The unsupervised likelihood
// ignores the batch's labels. The model of the BIF papers' GMM experiment (K = 4, d = 2).
//
//   auto gmm = unlearn::models::Gmm(unlearn::models::GmmOptions(4, 2));
//   auto ll = gmm->log_likelihood(theta /*[S, 8]*/, ds.batch());          // [S, N]
#include <string>

#include <torch/torch.h>

#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"

namespace unlearn::models {

struct GmmOptions {
  GmmOptions(int64_t num_components, int64_t dim) : num_components_(num_components), dim_(dim) {}
  /// K, the number of components (>= 1).
  TORCH_ARG(int64_t, num_components);
  /// d, the dimension of the data (>= 1).
  TORCH_ARG(int64_t, dim);
  /// σ0, the prior standard deviation of every coordinate of every mean (> 0).
  TORCH_ARG(double, prior_std) = 1.0;
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat64;
};

class GmmImpl : public Model {
 public:
  explicit GmmImpl(const GmmOptions& options);

  const GmmOptions& options() const { return options_; }
  int64_t num_params() const override { return options_.num_components() * options_.dim(); }
  /// log Σ_k (1/K) N(x_i | μ_k, I) per datum, by log-sum-exp: θ [S, K·d], x [B, d] -> [S, B].
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override;
  torch::Tensor log_prior(const torch::Tensor& theta) override;
  /// The means spread on a circle of radius σ0 in the first two coordinates (symmetric
  /// zeros would be a saddle of the likelihood).
  torch::Tensor init_theta() override;
  std::string architecture() const override;
  std::optional<GaussianPrior> gaussian_prior() override;
  torch::TensorOptions theta_options() const override;

  /// θ [.., K·d] -> means [.., K, d].
  torch::Tensor means(const torch::Tensor& theta) const;

  /// Closed-form Hessian of the negative log-likelihood summed over chain states and over the
  /// rows of each of `groups` equal consecutive blocks of the batch: thetas [J, K·d], B points ->
  /// [groups, K·d, K·d], entry g = Σ_j Σ_{b∈g} −∇²_θ log p(x_b | θ_j), where
  ///   −∇² log p(x | θ) = blockdiag_k r_k (I − e_k e_kᵀ) + A Aᵀ,
  /// e_k = x − μ_k, r_k the responsibilities, A = (r_k e_k)_k. No autograd: two batched products
  /// (what SG-MCMC BIF uses instead of P double-backward passes; groups = LiSSA's minibatches).
  torch::Tensor neg_log_likelihood_hessian(const torch::Tensor& thetas, const data::Batch& batch,
                                           int64_t groups = 1) const;
  /// The Model contract's name for it (SG-MCMC BIF's closed-form Hessians).
  bool has_likelihood_hessians() const override { return true; }
  torch::Tensor likelihood_hessians(const torch::Tensor& thetas, const data::Batch& batch, int64_t groups) override {
    return neg_log_likelihood_hessian(thetas, batch, groups);
  }

  // ---- the mean-field variational family of the papers (closed-form responsibilities) ----------
  // q(μ_k) = N(m_k, diag s_k²) and q(c_i) = Cat(φ_i). With φ at its closed-form optimum
  //   φ_ik ∝ exp(a_ik),  a_ik = −log K − (d/2) log 2π − ½(‖x_i − m_k‖² + Σ_j s_kj²)
  // (the CAVI update), the datum's ELBO term is max_φ Σ_k φ_ik a_ik + H(φ_i) = logsumexp_k a_ik,
  // a lower bound on E_q log p(x_i | θ) (Jensen: E logsumexp ≥ logsumexp E). Deterministic — no
  // Monte Carlo — and differentiable in (m, s).

  /// a_ik: loc [K·d], var [K·d] (marginal variances of θ) -> [B, K].
  torch::Tensor variational_log_weights(const torch::Tensor& loc, const torch::Tensor& var,
                                        const data::Batch& batch) const;
  /// φ_ik = softmax_k a_ik: [B, K].
  torch::Tensor responsibilities(const torch::Tensor& loc, const torch::Tensor& var,
                                 const data::Batch& batch) const;
  /// logsumexp_k a_ik: [B], the closed-form E_q log p(x_i | θ) of this family (a lower bound).
  torch::Tensor variational_expected_log_likelihood(const torch::Tensor& loc, const torch::Tensor& var,
                                                    const data::Batch& batch) const;
  /// The same for a Gaussian posterior over θ (its loc and marginal variances; a full-rank q
  /// enters only through its diagonal): the form bif::ExpectedLogLikelihood expects.
  torch::Tensor variational_expected_log_likelihood(const GaussianPosteriorImpl& q,
                                                    const data::Batch& batch) const;
  /// The Model contract's name for it (VI BIF's closed-form energy, `vi_energy: closed_form`).
  bool has_expected_log_likelihood() const override { return true; }
  torch::Tensor expected_log_likelihood(const GaussianPosteriorImpl& q, const data::Batch& batch) override {
    return variational_expected_log_likelihood(q, batch);
  }

 private:
  GmmOptions options_;
  torch::Tensor device_anchor_;  // empty buffer: carries the model's device and dtype
};
TORCH_MODULE(Gmm);

/// The mean Euclidean distance between two sets of K centres [K, d] under the best one-to-one
/// matching (all K! permutations: K <= 8). The papers' "centre distance".
double matched_centre_distance(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace unlearn::models
