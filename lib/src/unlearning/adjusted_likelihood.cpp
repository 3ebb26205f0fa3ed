#include "unlearn/unlearning/adjusted_likelihood.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace unlearn::functional {

void check_lambda(double lambda) {
  // Written so that NaN fails too.
  TORCH_CHECK(lambda >= 0.0 && lambda <= 1.0, "lambda = ", lambda, " is outside [0, 1]");
}

void check_log_lambda(double log_lambda) {
  TORCH_CHECK(log_lambda <= 0.0, "log_lambda = ", log_lambda,
              " must be <= 0 (the log of a threshold lambda in [0, 1]; -inf for lambda = 0)");
}

std::vector<double> resolve_log_lambdas(c10::ArrayRef<double> lambdas, c10::ArrayRef<double> log_lambdas) {
  if (!log_lambdas.empty()) {
    for (double l : log_lambdas) check_log_lambda(l);
    return log_lambdas.vec();
  }
  TORCH_CHECK(!lambdas.empty(), "the list of lambdas is empty: give at least one lambda in [0, 1]");
  std::vector<double> logs;
  logs.reserve(lambdas.size());
  for (double lambda : lambdas) {
    check_lambda(lambda);
    logs.push_back(lambda == 0.0 ? -std::numeric_limits<double>::infinity() : std::log(lambda));
  }
  return logs;
}

std::vector<double> reported_lambdas(c10::ArrayRef<double> lambdas, c10::ArrayRef<double> log_lambdas) {
  if (log_lambdas.empty()) return lambdas.vec();
  std::vector<double> out;
  for (double l : log_lambdas) out.push_back(std::exp(l));
  return out;
}

std::string describe_threshold(double log_lambda) {
  // exp underflows to a subnormal below ln(DBL_MIN) ≈ −708.4: name such thresholds by their log.
  if (std::isinf(log_lambda) || log_lambda >= std::log(std::numeric_limits<double>::min())) {
    std::ostringstream s;
    s << "lambda = " << std::exp(log_lambda);
    return s.str();
  }
  std::ostringstream s;
  s << "ln lambda = " << log_lambda;
  return s.str();
}

torch::Tensor log_lambdas(c10::ArrayRef<double> lambdas, const torch::TensorOptions& options) {
  return log_lambda_tensor(LogLambdas{resolve_log_lambdas(lambdas, {})}, options);
}

torch::Tensor log_lambda_tensor(const LogLambdas& log_lambdas, const torch::TensorOptions& options) {
  const auto logs = resolve_log_lambdas({}, log_lambdas.values);
  return torch::tensor(logs, torch::TensorOptions().dtype(torch::kFloat64)).to(options.requires_grad(false));
}

torch::Tensor adjusted_likelihood_mask(const torch::Tensor& log_q, const torch::Tensor& log_q_mode,
                                       const torch::Tensor& log_lambda) {
  TORCH_CHECK(log_q.dim() >= 1, "adjusted_likelihood_mask: log_q must have a sample dimension, got ",
              log_q.sizes());
  torch::NoGradGuard no_grad;
  auto log_ratio = log_q - log_q_mode.unsqueeze(-1);  // log q(θ_s) − log q(mode), [..., S]
  auto threshold = log_lambda.unsqueeze(-1);          // [..., 1]
  // λ = 0 keeps everything, even a sample whose log q is −∞ or NaN.
  return (log_ratio > threshold).logical_or_(torch::isneginf(threshold));
}

torch::Tensor adjusted_likelihood_mask(const torch::Tensor& log_q, const torch::Tensor& log_q_mode,
                                       double lambda) {
  return adjusted_likelihood_mask(log_q, log_q_mode, log_lambdas({lambda}, log_q.options())[0]);
}

torch::Tensor gaussian_adjusted_likelihood_mask(const torch::Tensor& mahalanobis_sq,
                                                const torch::Tensor& log_lambda) {
  TORCH_CHECK(mahalanobis_sq.dim() >= 1,
              "gaussian_adjusted_likelihood_mask: needs a sample dimension, got ",
              mahalanobis_sq.sizes());
  torch::NoGradGuard no_grad;
  // 2 ln(1/λ); +∞ for λ = 0, which every finite M² is below: one comparison (hot loops).
  return mahalanobis_sq < (-2.0 * log_lambda).unsqueeze(-1);
}

std::vector<data::Batch> chunk_batch(const data::Batch& batch, int64_t chunk_size) {
  TORCH_CHECK(chunk_size >= 1, "chunk_size = ", chunk_size, " must be >= 1");
  TORCH_CHECK(batch.x.defined() && batch.x.dim() >= 1, "the erased batch has no inputs x");
  const int64_t n = batch.x.size(0);
  TORCH_CHECK(!batch.y.defined() || batch.y.size(0) == n, "the erased batch has ", n,
              " inputs but ", batch.y.size(0), " targets");
  std::vector<data::Batch> chunks;
  for (int64_t start = 0; start < n; start += chunk_size) {
    const int64_t len = std::min(chunk_size, n - start);
    data::Batch c;
    c.x = batch.x.narrow(0, start, len);
    if (batch.y.defined()) c.y = batch.y.narrow(0, start, len);
    if (batch.ids.defined()) c.ids = batch.ids.narrow(0, start, len);
    chunks.push_back(std::move(c));
  }
  return chunks;
}

torch::Tensor erased_log_likelihood(Model& model, const torch::Tensor& theta,
                                    const std::vector<data::Batch>& chunks) {
  TORCH_CHECK(theta.dim() == 2, "erased_log_likelihood: theta must be [S, P], got ",
              theta.sizes());
  TORCH_CHECK(!chunks.empty(), "erased_log_likelihood: no erased data");
  torch::Tensor total;
  for (const auto& chunk : chunks) {
    auto ll = model.log_likelihood(theta, chunk);
    TORCH_CHECK(ll.dim() == 2 && ll.size(0) == theta.size(0) && ll.size(1) == chunk.x.size(0),
                "model '", model.architecture(), "' returned log-likelihoods of shape ",
                ll.sizes(), " for ", theta.size(0), " samples and ", chunk.x.size(0),
                " data: expected [S, B]");
    auto s = ll.sum(-1);
    total = total.defined() ? total + s : s;
  }
  return total;
}

torch::Tensor erased_log_likelihood(Model& model, const torch::Tensor& theta,
                                    const data::Batch& erased, int64_t chunk_size) {
  return erased_log_likelihood(model, theta, chunk_batch(erased, chunk_size));
}

}  // namespace unlearn::functional
