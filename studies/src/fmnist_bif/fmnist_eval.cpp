// Judging a model in the Fashion-MNIST study (fmnist_eval.h).
#include "fmnist_bif/fmnist_eval.h"

#include "unlearn/metrics/predictive.h"

namespace unlearn::studies {

Predictive predict(Model& model, const torch::Tensor& theta, const EvalSets& sets, int64_t chunk) {
  auto probs = [&](const data::Dataset& d) { return metrics::predictive_probs(model, theta, d.x(), chunk); };
  return {probs(sets.forget), probs(sets.remain), probs(sets.test)};
}

FmnistRow judge(const std::string& method, const std::string& stage, int64_t removed, const Predictive& p,
          const Predictive& target, const EvalSets& sets) {
  FmnistRow r{method, stage, removed};
  r.err_forget = metrics::error_rate(p.forget, sets.forget.y());
  r.err_remain = metrics::error_rate(p.remain, sets.remain.y());
  r.err_test = metrics::error_rate(p.test, sets.test.y());
  r.mia = metrics::membership_attack(metrics::true_label_probs(p.remain, sets.remain.y()),
                                     metrics::true_label_probs(p.test, sets.test.y()),
                                     metrics::true_label_probs(p.forget, sets.forget.y()))
              .target_nonmember_fraction;
  r.l1_forget = metrics::mean_l1_distance(p.forget, target.forget);
  r.l1_remain = metrics::mean_l1_distance(p.remain, target.remain);
  r.l1_test = metrics::mean_l1_distance(p.test, target.test);
  auto all = torch::cat({p.forget, p.remain, p.test}), all_t = torch::cat({target.forget, target.remain, target.test});
  r.l1 = metrics::mean_l1_distance(all, all_t);
  return r;
}

}  // namespace unlearn::studies
