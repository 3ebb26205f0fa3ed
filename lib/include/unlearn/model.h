#pragma once
// The one contract every inference and unlearning method works on (docs/architecture.md, "The model contract").
//
// θ is one flat parameter vector of P numbers: the thing we are Bayesian about. A model turns
// S samples of θ at once into per-datum log-likelihoods; it never sums over data, because
// unlearning needs the terms of the erased points on their own.
//
// The model's own torch parameters (kernel length-scales, inducing inputs, ...) are
// hyper-parameters: point-estimated while training (type-II maximum likelihood), frozen while
// unlearning.
//
// Example: Bayesian linear regression y = x·θ + ε, ε ~ N(0, σ²), θ ~ N(0, τ² I).
//
//   class MyRegression : public unlearn::Model {
//    public:
//     MyRegression(int64_t d, double noise_std, double prior_std)
//         : d_(d), noise_std_(noise_std), prior_std_(prior_std) {}
//     int64_t num_params() const override { return d_; }
//     torch::Tensor log_likelihood(const torch::Tensor& theta,              // [S, P]
//                                  const unlearn::data::Batch& b) override { // -> [S, B]
//       auto mean = torch::matmul(theta, b.x.t());                          // [S, B]
//       auto r = (b.y.unsqueeze(0) - mean) / noise_std_;
//       return -0.5 * r * r - std::log(noise_std_) - 0.5 * std::log(2 * M_PI);
//     }
//     torch::Tensor log_prior(const torch::Tensor& theta) override {        // [S, P] -> [S]
//       auto z = theta / prior_std_;
//       return (-0.5 * z * z).sum(-1) - d_ * (std::log(prior_std_) + 0.5 * std::log(2 * M_PI));
//     }
//     torch::Tensor init_theta() override { return torch::zeros({d_}, torch::kFloat64); }
//     std::string architecture() const override { return "my_regression(d=" + ... + ")"; }
//    private:
//     int64_t d_; double noise_std_, prior_std_;
//   };
//
// Vectorise over S: a neural network turns θ[S,P] into weights [S,in,out] and uses batched
// matmul; never loop over samples in a hot path.
#include <optional>
#include <string>

#include <torch/torch.h>

#include "unlearn/data/batch.h"

/// The library: the model contract (Model), Gaussian posteriors, the unlearning methods and their
/// Unlearner API, the model and method registries and plugins. Areas with their own vocabulary
/// have sub-namespaces: data, inference, io, bif, distributed, metrics, functional.
///
/// Options structs use LibTorch's TORCH_ARG: an option listed here as a member `T name` (with
/// its default) is read as `opts.name()` and set, chainably, as `opts.name(value)`.
namespace unlearn {

class GaussianPosteriorImpl;  // unlearn/posterior/gaussian.h (which includes this header)

/// A Gaussian prior N(loc, scale_tril·scale_trilᵀ) over θ, for models that have one: it enables
/// the analytic-KL ELBO, closed-form BIF energies and exact conjugate updates.
struct GaussianPrior {
  torch::Tensor loc;         ///< [P]
  torch::Tensor scale_tril;  ///< [P, P] lower triangular, positive diagonal (undefined: see scale_diag)
  /// [P] standard deviations of a diagonal prior. Networks with 10⁴–10⁶ parameters set only this
  /// (a P×P factor would not fit in memory) and leave scale_tril undefined; tril() builds it.
  torch::Tensor scale_diag = {};
  /// L, from scale_tril or else diag(scale_diag) (for small P only).
  torch::Tensor tril() const { return scale_tril.defined() ? scale_tril : torch::diag_embed(scale_diag); }
};

/// The contract every inference and unlearning method works on: a likelihood and a prior over one
/// flat parameter vector θ of P numbers, evaluated for S samples at once and per datum (never
/// summed over data: unlearning needs the erased points' terms alone). Optional capabilities
/// (classifier, local reparameterisation, closed forms) are announced by the has_ / is_ queries.
class Model : public torch::nn::Module {
 public:
  ~Model() override = default;

  /// P, the length of θ.
  virtual int64_t num_params() const = 0;

  /// Per-datum log p(y_i | x_i, θ_s) for every sample and every datum: θ [S, P] -> [S, B].
  virtual torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) = 0;

  /// log p(θ_s): θ [S, P] -> [S].
  virtual torch::Tensor log_prior(const torch::Tensor& theta) = 0;

  /// A starting point for θ ([P]), on the model's device and dtype.
  virtual torch::Tensor init_theta() = 0;

  /// A string that identifies the model's kind and shape; a checkpoint refuses to load into a
  /// model whose architecture differs.
  virtual std::string architecture() const = 0;

  /// Optional (mean-field VI): log p(y_i | x_i, ·) for S draws by the local reparameterisation
  /// trick (Kingma, Salimans & Welling 2015). q = N(loc, diag(variance)) over θ ([P] each); each
  /// layer's pre-activations are drawn from their Gaussian given the layer's input, independently
  /// per datum, instead of drawing the weights. Per datum the draws have the law of θ ~ q, so the
  /// expectation equals that of log_likelihood at θ ~ q; the variance of a minibatch sum is lower
  /// and no per-sample weight tensor is built. -> [S, B], differentiable in loc and variance.
  virtual bool has_local_reparameterisation() const { return false; }
  /// Only when has_local_reparameterisation(): `samples` draws of the per-datum log-likelihoods
  /// under q = N(loc, diag(variance)) ([P] each), from `gen` -> [S, B]; see above. The default
  /// throws c10::Error.
  virtual torch::Tensor local_reparameterised_log_likelihood(const torch::Tensor& loc, const torch::Tensor& variance,
                                                             const data::Batch& batch, int64_t samples,
                                                             torch::Generator& gen) {
    TORCH_CHECK(false, "model '", architecture(), "' has no local reparameterisation");
  }

  /// True for classifiers: the labels are class indices and predict_log_proba answers. Everything
  /// that needs class probabilities (error rates, membership attacks, the Gauss–Newton curvature)
  /// asks this instead of probing predict_log_proba for an exception.
  virtual bool is_classifier() const { return false; }
  /// Classifiers: log p(y = c | x, θ_s), θ [S, P], x [B, ...] -> [S, B, C].
  virtual torch::Tensor predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) {
    TORCH_CHECK(false, "model '", architecture(), "' is not a classifier: predict_log_proba is not available");
  }

  /// Optional: E_q[log p(y_i | x_i, θ)] per datum in closed form for a Gaussian posterior q (or a
  /// deterministic bound on it that the model's variational family optimises, such as the GMM's
  /// collapsed ELBO term): (q, batch) -> [B], differentiable in q's parameters. BIF for VI uses it
  /// instead of Monte Carlo samples when asked (docs/concepts.md, "BIF").
  virtual bool has_expected_log_likelihood() const { return false; }
  /// Only when has_expected_log_likelihood(): the closed-form E_q[log p(y_i | x_i, θ)] (or bound)
  /// described above, -> [B]. The default throws c10::Error.
  virtual torch::Tensor expected_log_likelihood(const GaussianPosteriorImpl& q, const data::Batch& batch) {
    TORCH_CHECK(false, "model '", architecture(), "' has no closed-form expected log-likelihood");
  }

  /// Optional: closed-form Hessians of the negative log-likelihood, summed over chain states and
  /// over the rows of each of `groups` equal consecutive blocks of the batch: thetas [J, P], B
  /// points (B divisible by groups) -> [groups, P, P], entry g = Σ_j Σ_{b in block g}
  /// −∇²_θ log p(z_b | θ_j). SG-MCMC BIF then needs no double-backward pass per Hessian-vector
  /// product.
  virtual bool has_likelihood_hessians() const { return false; }
  /// Only when has_likelihood_hessians(): the grouped Hessian sums described above, thetas [J, P]
  /// -> [groups, P, P]. The default throws c10::Error.
  virtual torch::Tensor likelihood_hessians(const torch::Tensor& thetas, const data::Batch& batch, int64_t groups) {
    TORCH_CHECK(false, "model '", architecture(), "' has no closed-form likelihood Hessians");
  }

  /// The prior as a Gaussian, where it is one (nullopt otherwise).
  virtual std::optional<GaussianPrior> gaussian_prior() { return std::nullopt; }

  /// dtype and device of θ: taken from the model's parameters or buffers, so that nothing
  /// assumes CPU. Models without either override this.
  virtual torch::TensorOptions theta_options() const {
    for (const auto& p : parameters()) return p.options().requires_grad(false);
    for (const auto& b : buffers()) return b.options().requires_grad(false);
    return torch::TensorOptions().dtype(torch::kFloat64);
  }
};

}  // namespace unlearn
