#include "bnn/bnn_common.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "unlearn/random/normal.h"

namespace unlearn::models::bnn {
namespace {
constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;
}  // namespace

void BnnCommonOptions::validate(const char* who) const {
  TORCH_CHECK(std::isfinite(prior_std()) && prior_std() > 0, who, ": prior_std = ", prior_std(),
              " must be finite and > 0");
  TORCH_CHECK(activation() == "relu" || activation() == "tanh", who, ": activation = \"", activation(),
              "\" is unknown: allowed are \"relu\", \"tanh\"");
  TORCH_CHECK(dtype() == torch::kFloat32 || dtype() == torch::kFloat64, who, ": dtype = ", dtype(),
              " must be float32 or float64");
}

// ---- layout ------------------------------------------------------------------------------------

int64_t ParamBlock::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

size_t ParamLayout::add(std::string name, std::vector<int64_t> shape, int64_t fan_in) {
  ParamBlock b{std::move(name), std::move(shape), fan_in, numel_};
  for (auto d : b.shape) TORCH_CHECK(d >= 1, "bnn layout: block ", b.name, " has a dimension ", d, " < 1");
  numel_ += b.numel();
  blocks_.push_back(std::move(b));
  return blocks_.size() - 1;
}

size_t ParamLayout::add_linear(const std::string& name, int64_t in, int64_t out) {
  auto w = add(name + ".weight", {in, out}, in);
  add(name + ".bias", {out}, in);
  return w;
}

size_t ParamLayout::add_conv(const std::string& name, int64_t in, int64_t out, int64_t kernel) {
  auto w = add(name + ".weight", {out, in, kernel, kernel}, in * kernel * kernel);
  add(name + ".bias", {out}, in * kernel * kernel);
  return w;
}

torch::Tensor ParamLayout::view(const torch::Tensor& theta, size_t i) const {
  const auto& b = blocks_.at(i);
  std::vector<int64_t> shape{theta.size(0)};
  shape.insert(shape.end(), b.shape.begin(), b.shape.end());
  return theta.narrow(1, b.offset, b.numel()).reshape(shape);
}

torch::Tensor ParamLayout::default_init(const torch::TensorOptions& options, uint64_t seed) const {
  // Drawn on the CPU in float64 with our own generator, so the same seed gives the same θ on
  // every device and dtype.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto theta = torch::empty({numel_}, torch::kFloat64);
  for (const auto& b : blocks_) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(b.fan_in));
    theta.narrow(0, b.offset, b.numel()).uniform_(-bound, bound, gen);
  }
  return theta.to(options.requires_grad(false));
}

std::string ParamLayout::describe() const {
  std::string s;
  for (const auto& b : blocks_) {
    if (!s.empty()) s += ",";
    s += fmt::format("{}[{}]", b.name, fmt::join(b.shape, ","));
  }
  return s;
}

// ---- functional --------------------------------------------------------------------------------

namespace functional {

torch::Tensor isotropic_gaussian_log_prior(const torch::Tensor& theta, double prior_std) {
  TORCH_CHECK(theta.dim() == 2, "isotropic_gaussian_log_prior: theta must be [S, P], got ", theta.sizes());
  const auto p = static_cast<double>(theta.size(1));
  return -0.5 * theta.square().sum(-1) / (prior_std * prior_std) - p * (std::log(prior_std) + kHalfLog2Pi);
}

torch::Tensor categorical_log_likelihood(const torch::Tensor& logits, const torch::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 3, "categorical_log_likelihood: logits must be [S, B, C], got ", logits.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(1),
              "categorical_log_likelihood: labels must be [B] with B = ", logits.size(1), ", got ", labels.sizes());
  auto idx = labels.to(logits.device(), torch::kLong).view({1, -1, 1}).expand({logits.size(0), logits.size(1), 1});
  // gather − logsumexp rather than log_softmax + gather: no [S, B, C] log-probability tensor is
  // kept for the backward pass.
  return logits.gather(2, idx).squeeze(2) - torch::logsumexp(logits, 2);
}

torch::Tensor sample_preactivation(const torch::Tensor& mean, const torch::Tensor& variance, int64_t samples,
                                   bool has_sample_dim, torch::Generator& gen) {
  std::vector<int64_t> shape(mean.sizes().begin(), mean.sizes().end());
  if (!has_sample_dim) shape.insert(shape.begin(), samples);
  auto eps = standard_normal(shape, mean.options(), gen);
  // variance > 0 always (every weight and bias has a positive variance and the inputs are not all
  // zero only when it matters); the clamp keeps √'s gradient finite on an all-zero input patch.
  auto sd = variance.clamp_min(1e-30).sqrt();
  return has_sample_dim ? mean + sd * eps : mean.unsqueeze(0) + sd.unsqueeze(0) * eps;
}

torch::Tensor activate(const torch::Tensor& x, const std::string& activation) {
  return activation == "tanh" ? torch::tanh(x) : torch::relu(x);
}

}  // namespace functional

// ---- base --------------------------------------------------------------------------------------

BnnBaseImpl::BnnBaseImpl(const BnnCommonOptions& common, const char* who) : common_(common), who_(who) {
  common_.validate(who);
  device_anchor_ = register_buffer("device_anchor", torch::empty({0}, common_.dtype()));
}

torch::TensorOptions BnnBaseImpl::theta_options() const { return device_anchor_.options().requires_grad(false); }

torch::Tensor BnnBaseImpl::checked_theta(const torch::Tensor& theta) const {
  TORCH_CHECK(theta.dim() == 2 && theta.size(1) == num_params(), who_, ": theta must be [S, ", num_params(),
              "], got ", theta.sizes());
  TORCH_CHECK(theta.scalar_type() == device_anchor_.scalar_type(), who_, ": theta is ", theta.scalar_type(),
              ", the model ", device_anchor_.scalar_type());
  return theta;
}

torch::Tensor BnnBaseImpl::log_likelihood(const torch::Tensor& theta, const data::Batch& batch) {
  TORCH_CHECK(batch.y.dim() == 1 && batch.y.size(0) == batch.x.size(0), who_, ": y must be [B] with B = ",
              batch.x.size(0), ", got ", batch.y.sizes());
  return functional::categorical_log_likelihood(logits(theta, batch.x), batch.y);
}

torch::Tensor BnnBaseImpl::local_reparameterised_log_likelihood(const torch::Tensor& loc, const torch::Tensor& variance,
                                                                const data::Batch& batch, int64_t samples,
                                                                torch::Generator& gen) {
  TORCH_CHECK(loc.dim() == 1 && loc.size(0) == num_params() && variance.sizes() == loc.sizes(), who_,
              ": local reparameterisation needs loc and variance of shape [", num_params(), "], got ", loc.sizes(),
              " and ", variance.sizes());
  TORCH_CHECK(samples >= 1, who_, ": samples = ", samples, " must be >= 1");
  TORCH_CHECK(batch.y.dim() == 1 && batch.y.size(0) == batch.x.size(0), who_, ": y must be [B] with B = ",
              batch.x.size(0), ", got ", batch.y.sizes());
  return functional::categorical_log_likelihood(local_logits(loc, variance, batch.x, samples, gen), batch.y);
}

torch::Tensor BnnBaseImpl::predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) {
  return torch::log_softmax(logits(theta, x), 2);
}

torch::Tensor BnnBaseImpl::log_prior(const torch::Tensor& theta) {
  return functional::isotropic_gaussian_log_prior(checked_theta(theta), common_.prior_std());
}

torch::Tensor BnnBaseImpl::init_theta() { return layout_.default_init(theta_options(), common_.init_seed()); }

std::optional<GaussianPrior> BnnBaseImpl::gaussian_prior() {
  auto opts = theta_options();
  GaussianPrior prior;
  prior.loc = torch::zeros({num_params()}, opts);
  prior.scale_diag = torch::full({num_params()}, common_.prior_std(), opts);
  return prior;
}

}  // namespace unlearn::models::bnn
