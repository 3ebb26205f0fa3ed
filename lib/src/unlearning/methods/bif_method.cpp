// bif: Bayesian inference forgetting (Fu, He, Xu & Tao 2021; Fu, He & Tao 2022), one Newton step
// per batch on the energy of VI (Gaussian posteriors) or of the SG-MCMC chain (vi_bif.h,
// sgmcmc_bif.h). docs/concepts.md, "BIF", says what the step is; docs/choosing-a-method.md which
// solver and curvature to use.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "method_support.h"
#include "unlearn/unlearning/methods.h"

namespace unlearn {
namespace {
using io::Range;

// Options that only one kind of posterior uses: giving them for the other is a mistake worth
// naming (the flag maps to the key with '-' for '_').
const std::set<std::string> kChainOnly = {"sample_steps", "hessian_states", "refresh_bank", "minibatch",
                                          "curvature", "curvature_batch", "hessian"};
const std::set<std::string> kGaussianOnly = {"mc_samples", "moment_matched_noise", "vi_energy", "fixed_noise"};

std::string flag(const std::string& key) {
  std::string f = "--" + key;
  for (auto& c : f) c = c == '_' ? '-' : c;
  return f;
}

class BifUnlearner : public Unlearner {
 public:
  BifUnlearner(BifOptions options, std::set<std::string> given) : o_(std::move(options)), given_(std::move(given)) {}
  std::string name() const override { return "bif"; }

  nlohmann::json options() const override {
    const auto& s = o_.vi().solver();
    nlohmann::json j{{"solver", bif::to_string(s.kind())}, {"damping", s.cg().damping()}};
    if (s.kind() == bif::SolverKind::kLissa) {
      j.update({{"lissa_terms", s.lissa().terms()}, {"lissa_guard", s.lissa().guard()},
                {"hvp_batch", o_.vi().energy().hvp_batch_size()}, {"lissa_residual", s.lissa().compute_residual()}});
      if (o_.vi().lissa_c() > 0) j["lissa_c"] = o_.vi().lissa_c();
      else j["lissa_scale"] = s.lissa().scale();
    }
    if (s.kind() == bif::SolverKind::kConjugateGradient) j.update({{"cg_tol", s.cg().tol()}, {"cg_max_iter", s.cg().max_iter()}});
    j.update({{"mc_samples", o_.vi().energy().mc_samples()}, {"vi_energy", to_string(o_.vi_energy())},
              {"fixed_noise", o_.fixed_noise()}});
    if (o_.moment_matched_noise()) j["moment_matched_noise"] = *o_.moment_matched_noise();
    const auto& c = o_.sgmcmc();
    j.update({{"sample_steps", c.sample_steps()}, {"hessian_states", c.hessian_states()},
              {"refresh_bank", c.refresh_samples()}, {"minibatch", c.minibatch_size()},
              {"curvature", bif::to_string(c.curvature())}, {"curvature_batch", c.curvature_batch_size()},
              {"hessian", to_string(o_.hessian())}, {"stop_on_divergence", o_.stop_on_divergence()}});
    return j;
  }

  void check(Model& model, const PosteriorState& state, const ForgetContext& ctx) const override {
    const auto& wrong = state.is_gaussian() ? kChainOnly : kGaussianOnly;
    for (const auto& key : given_) {
      if (!wrong.count(key)) continue;
      if (state.is_gaussian())
        throw io::ConfigError(flag(key) + " applies to SG-MCMC runs (sgld, sghmc); this run holds " + state.describe() +
                              ", whose BIF energy is over the variational parameters: leave " + flag(key) + " out");
      throw io::ConfigError(flag(key) + " applies to Gaussian (VI) posteriors; this run holds " + state.describe() +
                            ": leave " + flag(key) + " out");
    }
    if (state.is_gaussian()) {
      if (o_.vi_energy() == ViEnergyForm::kClosedForm && !model.has_expected_log_likelihood())
        throw io::ConfigError("--vi-energy closed_form needs a model with a closed-form expected log-likelihood; " +
                              model.architecture() + " has none: use monte_carlo");
      return;
    }
    if (o_.sgmcmc().curvature() == bif::Curvature::kGaussNewton && !model.is_classifier())
      throw io::ConfigError("--curvature gauss_newton needs a classifier (softmax outputs); this run's model is " +
                            model.architecture() + ": use --curvature hessian");
    if (o_.hessian() == HessianSource::kClosedForm && !model.has_likelihood_hessians())
      throw io::ConfigError("--hessian closed_form needs a model with closed-form likelihood Hessians; " +
                            model.architecture() + " has none: use autograd");
    if (o_.sgmcmc().minibatch_size() < 0 && !ctx.training)
      throw io::ConfigError("bif on a chain: minibatch -1 means the chain's own batch size, but no training recipe "
                            "was given: set minibatch");
  }

  ForgetResult forget(Model& model, const PosteriorState& state, const data::Dataset& current,
                      const torch::Tensor& erased_ids, ForgetContext& ctx) override {
    const auto removed = current.subset(erased_ids).batch();
    ForgetResult r;
    bif::BifStep step;
    if (state.is_gaussian()) {
      auto q = state.gaussian().copy();
      step = vi_step(model, *q, current, removed, ctx);
      r.state = PosteriorState::gaussian(q);
    } else {
      auto chain = state.chain().clone();
      auto samples = state.samples().clone();
      step = chain_step(model, chain, samples, current, removed, ctx);
      r.state = PosteriorState::chain(chain, samples);
    }
    const double residual = step.solve.residual;
    const double norm = step.solve.solution.norm().item<double>();
    r.certificate = {{"kind", "bif_newton_step"},
                     {"relative_residual", std::isfinite(residual) ? nlohmann::json(residual) : nlohmann::json(nullptr)},
                     {"step_norm", std::isfinite(norm) ? nlohmann::json(norm) : nlohmann::json(nullptr)},
                     {"iterations", step.solve.iterations},
                     {"solver", bif::to_string(state.is_chain() ? o_.sgmcmc().solver().kind() : o_.vi().solver().kind())},
                     {"solve_seconds", step.solve.seconds}};
    if (o_.stop_on_divergence()) refuse_divergence(norm, residual);
    return r;
  }

  nlohmann::json summarise(const std::vector<BatchRecord>& batches) const override {
    double max_residual = 0, max_step = 0;
    bool residual_known = true;
    int64_t iterations = 0;
    nlohmann::json seconds = nlohmann::json::array();
    for (const auto& b : batches) {
      const auto& c = b.certificate;
      if (c["relative_residual"].is_number()) max_residual = std::max(max_residual, c["relative_residual"].get<double>());
      else residual_known = false;
      if (c["step_norm"].is_number()) max_step = std::max(max_step, c["step_norm"].get<double>());
      iterations += c["iterations"].get<int64_t>();
      seconds.push_back(b.seconds);
    }
    return {{"kind", "bif_newton_step"},
            {"batches", batches.size()},
            {"max_relative_residual", residual_known ? nlohmann::json(max_residual) : nlohmann::json(nullptr)},
            {"max_step_norm", max_step},
            {"solver_iterations", iterations},
            {"batch_seconds", seconds}};
  }

 private:
  bif::BifStep vi_step(Model& model, GaussianPosteriorImpl& q, const data::Dataset& current, const data::Batch& removed,
                       ForgetContext& ctx) const {
    auto options = o_.vi();
    options.energy()
        .moment_matched_noise(o_.moment_matched_noise().value_or(options.energy().mc_samples() > model.num_params()))
        .parallel(ctx.parallel.training);
    bif::ExpectedLogLikelihood closed_form;
    if (o_.vi_energy() == ViEnergyForm::kClosedForm) {
      closed_form = [&model](const GaussianPosteriorImpl& post, const data::Batch& b) {
        return model.expected_log_likelihood(post, b);
      };
    }
    if (o_.fixed_noise()) {
      // The same common random numbers for every batch: those the posterior was polished on.
      auto gen = at::make_generator<at::CPUGeneratorImpl>(ctx.seed);
      return bif::vi_bif_step(model, q, current, removed, options, gen, closed_form);
    }
    return bif::vi_bif_step(model, q, current, removed, options, ctx.rng(), closed_form);
  }

  bif::BifStep chain_step(Model& model, inference::ChainState& chain, torch::Tensor& samples,
                          const data::Dataset& current, const data::Batch& removed, ForgetContext& ctx) const {
    auto options = o_.sgmcmc();
    options.parallel(ctx.parallel.training);
    if (options.minibatch_size() < 0) options.minibatch_size(ctx.training->sgmcmc().batch_size());
    const bool closed_form = o_.hessian() == HessianSource::kClosedForm ||
                             (o_.hessian() == HessianSource::kAuto && model.has_likelihood_hessians() &&
                              options.curvature() == bif::Curvature::kHessian && !ctx.parallel &&
                              options.curvature_batch_size() == 0);
    if (closed_form) {
      options.likelihood_hessians([&model](const torch::Tensor& thetas, const data::Batch& b, int64_t groups) {
        return model.likelihood_hessians(thetas, b, groups);
      });
    }
    return bif::sgmcmc_bif_step(model, chain, samples, current, removed, options, ctx.rng());
  }

  // A diverged solve (LiSSA with too large a scale, an ill-conditioned Hessian) must not become a
  // posterior that later requests build on.
  void refuse_divergence(double step_norm, double residual) const {
    const bool finite = std::isfinite(step_norm);
    if (finite && !(std::isfinite(residual) && residual > 1.0)) return;
    const std::string why = !finite ? "the Newton step is not finite"
                                    : fmt::format("the inverse-HVP solve diverged (relative residual {:.3g} > 1)", residual);
    const std::string hint = o_.vi().solver().kind() == bif::SolverKind::kLissa
                                 ? ": LiSSA needs s·λ_max(H) < 2, so lower --lissa-c / --lissa-scale, or use --solver cg or dense"
                                 : ": try --damping > 0";
    throw std::runtime_error("forget --method bif: " + why + hint + "; nothing was written");
  }

  BifOptions o_;
  std::set<std::string> given_;
};

// The keys of docs/config.md, "bif"; shared settings go to both the VI and the SG-MCMC options.
std::unique_ptr<Unlearner> read_bif(const io::JsonObjectReader& r) {
  BifOptions o;
  std::set<std::string> given;
  auto vi = o.vi();
  auto sg = o.sgmcmc();
  auto solver = vi.solver().kind(bif::SolverKind::kConjugateGradient);
  solver.kind(bif::solver_kind_from_string(r.get_enum("solver", "cg", {"cg", "lissa", "dense"})));
  const double damping = r.get<double>("damping", 0.0, Range::non_negative());
  solver.lissa().damping(damping).terms(r.get<int64_t>("lissa_terms", solver.lissa().terms(), Range::closed(1, 1e9)));
  const double guard = r.get<double>("lissa_guard", 0.0, Range::non_negative());
  if (guard > 0 && guard < 1)
    throw io::ConfigError(r.field("lissa_guard") + " = " + fmt::format("{:g}", guard) + " must be 0 (off) or >= 1");
  solver.lissa().guard(guard).compute_residual(r.get<bool>("lissa_residual", true));
  if (r.has("lissa_c") && r.has("lissa_scale"))
    throw io::ConfigError(r.path() + ": give lissa_c (s = c / n) or lissa_scale (s itself), not both");
  double lissa_c = r.get<double>("lissa_c", 1.0, Range::positive());
  if (r.has("lissa_scale")) {
    solver.lissa().scale(r.get<double>("lissa_scale", 1e-3, Range::positive()));
    lissa_c = 0;
  }
  solver.cg().damping(damping).tol(r.get<double>("cg_tol", solver.cg().tol(), Range::positive()));
  solver.cg().max_iter(r.get<int64_t>("cg_max_iter", solver.cg().max_iter(), Range::closed(1, 1e9)));
  solver.dense_damping(damping);
  const int64_t hvp_batch = r.get<int64_t>("hvp_batch", 0, Range::closed(0, 1e12));
  vi.solver(solver).lissa_c(lissa_c);
  vi.energy().mc_samples(r.get<int64_t>("mc_samples", vi.energy().mc_samples(), Range::closed(1, 1e7))).hvp_batch_size(hvp_batch);
  if (r.has("moment_matched_noise")) o.moment_matched_noise(r.get<bool>("moment_matched_noise", false));
  o.vi_energy(vi_energy_form_from_string(r.get_enum("vi_energy", "monte_carlo", {"monte_carlo", "closed_form"})));
  o.fixed_noise(r.get<bool>("fixed_noise", false));
  sg.solver(solver).lissa_c(lissa_c).hvp_batch_size(hvp_batch);
  sg.sample_steps(r.get<int64_t>("sample_steps", sg.sample_steps(), Range::closed(1, 1e7)));
  sg.hessian_states(r.get<int64_t>("hessian_states", sg.hessian_states(), Range::closed(0, 1e7)));
  sg.refresh_samples(r.get<bool>("refresh_bank", false));
  sg.minibatch_size(r.get<int64_t>("minibatch", sg.minibatch_size(), Range::closed(-1, 1e12)));
  sg.curvature(bif::curvature_from_string(r.get_enum("curvature", "hessian", {"hessian", "gauss_newton"})));
  sg.curvature_batch_size(r.get<int64_t>("curvature_batch", 0, Range::closed(0, 1e12)));
  o.hessian(hessian_source_from_string(r.get_enum("hessian", "auto", {"auto", "autograd", "closed_form"})));
  o.stop_on_divergence(r.get<bool>("stop_on_divergence", true));
  o.vi(vi).sgmcmc(sg);
  for (const auto& key : kChainOnly)
    if (r.has(key)) given.insert(key);
  for (const auto& key : kGaussianOnly)
    if (r.has(key)) given.insert(key);
  return std::make_unique<BifUnlearner>(o, given);
}

}  // namespace

std::string to_string(HessianSource source) {
  switch (source) {
    case HessianSource::kAuto:
      return "auto";
    case HessianSource::kAutograd:
      return "autograd";
    case HessianSource::kClosedForm:
      return "closed_form";
  }
  TORCH_CHECK(false, "unknown Hessian source");
}

HessianSource hessian_source_from_string(const std::string& name) {
  for (auto s : {HessianSource::kAuto, HessianSource::kAutograd, HessianSource::kClosedForm})
    if (to_string(s) == name) return s;
  TORCH_CHECK(false, "Hessian source \"", name, "\" is unknown: allowed are auto, autograd, closed_form");
}

std::string to_string(ViEnergyForm form) { return form == ViEnergyForm::kClosedForm ? "closed_form" : "monte_carlo"; }

ViEnergyForm vi_energy_form_from_string(const std::string& name) {
  if (name == "monte_carlo") return ViEnergyForm::kMonteCarlo;
  if (name == "closed_form") return ViEnergyForm::kClosedForm;
  TORCH_CHECK(false, "VI energy \"", name, "\" is unknown: allowed are monte_carlo, closed_form");
}

std::unique_ptr<Unlearner> bif_unlearner(BifOptions options) {
  return std::make_unique<BifUnlearner>(std::move(options), std::set<std::string>{});
}

namespace detail {
void register_bif_method() {
  register_builtin_method({"bif", "Bayesian inference forgetting: a Newton step on the VI or SG-MCMC energy", read_bif});
}
}  // namespace detail

}  // namespace unlearn
