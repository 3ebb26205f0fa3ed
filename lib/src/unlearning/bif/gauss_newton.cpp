#include "unlearn/unlearning/bif/gauss_newton.h"

#include <utility>
#include <vector>

namespace unlearn::bif {

HessianVectorProduct gauss_newton_vp(ClassifierOutputsFn outputs, FlatParameters params) {
  TORCH_CHECK(outputs, "gauss_newton_vp: the outputs function is empty");
  return [outputs = std::move(outputs), params = std::move(params)](const torch::Tensor& v, int64_t term) {
    TORCH_CHECK(v.dim() == 1 && v.size(0) == params.numel(), "gauss_newton_vp: v must be [", params.numel(),
                "], got ", v.sizes());
    torch::AutoGradMode grad_mode(true);  // the solvers iterate under NoGradGuard
    auto out = outputs(term);
    const auto& lp = out.log_proba;
    TORCH_CHECK(lp.defined() && lp.dim() >= 1 && lp.requires_grad(), 
                "gauss_newton_vp: log_proba must be a tensor [..., C] that depends on the parameters");
    const auto& leaves = params.tensors();
    // g(u) = Lᵀu is linear in the cotangent u, so ∂(g(u)·v)/∂u = L v whatever u is (zeros here).
    auto u = torch::zeros_like(lp).requires_grad_(true);
    auto lt_u = params.flatten(torch::autograd::grad({lp}, leaves, {u}, /*retain_graph=*/true,
                                                     /*create_graph=*/true, /*allow_unused=*/true));
    auto lv = torch::autograd::grad({lt_u.mul(v.to(lt_u.dtype())).sum()}, {u}, {}, /*retain_graph=*/true,
                                    /*create_graph=*/false, /*allow_unused=*/true)[0];
    if (!lv.defined()) lv = torch::zeros_like(lp);  // no leaf reaches the outputs
    // Fisher weighting p ⊙ (L v), then Lᵀ(·) through the outputs' graph once more.
    auto weighted = (lp.detach().exp() * lv.detach()) * out.weight;
    auto grads = torch::autograd::grad({lp}, leaves, {weighted}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    return params.flatten(grads).to(v.dtype());
  };
}

HessianVectorProduct sum_of(HessianVectorProduct a, HessianVectorProduct b) {
  TORCH_CHECK(a && b, "sum_of: an operator is empty");
  return [a = std::move(a), b = std::move(b)](const torch::Tensor& v, int64_t term) { return a(v, term) + b(v, term); };
}

}  // namespace unlearn::bif
