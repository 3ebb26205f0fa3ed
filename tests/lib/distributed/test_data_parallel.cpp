// Data parallelism on loopback: W ranks as W threads of this process, each with its own c10d
// TCPStore client and ProcessGroupGloo (exactly what W processes do, without process start-up).
// Tolerance: float64 throughout; W = 2 and W = 1 differ only by summation order, so every
// posterior parameter must agree to 1e-9 (absolute) after the runs below, and the ranks of one
// run must agree bit for bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <thread>

#include "lib/inference/inference_test_models.h"
#include "unlearn/distributed/cluster.h"
#include "unlearn/distributed/data_parallel.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/unlearning/bif/sgmcmc_bif.h"
#include "unlearn/unlearning/bif/vi_bif.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/exact_conjugate.h"
#include "unlearn/unlearning/methods.h"
#include "unlearn/unlearning/request.h"
#include "unlearn/unlearning/reverse_kl.h"

namespace unlearn::distributed {
namespace {

using inference_test::ConjugateRegression;
using inference_test::regression_data;

constexpr double kTol = 1e-9;
// Chains: W = 2 sums each gradient in another order than W = 1 (≈1e-16 relative per step), and
// 300 SG-MCMC steps carry those roundings along, SGHMC's momentum accumulating them: measured
// 1.5e-9 on θ with Debian's OpenBLAS (OpenMP build), so 1e-8; a wrong shard or a missing
// all-reduce changes the minibatch gradients themselves, orders of magnitude more.
constexpr double kChainTol = 1e-8;

/// Runs fn(cluster) on `world` threads joined over loopback; returns each rank's result. An
/// exception on any rank fails the test with its message.
template <typename Result>
std::vector<Result> on_ranks(int64_t world, const std::function<Result(const std::shared_ptr<Cluster>&)>& fn,
                             double timeout_s = 30.0) {
  const auto rendezvous = "127.0.0.1:" + std::to_string(find_free_port());
  std::vector<Result> results(world);
  std::vector<std::string> errors(world);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto cluster = connect(ClusterOptions().world_size(world).rank(r).rendezvous(rendezvous).timeout_s(timeout_s));
        results[r] = fn(cluster);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int64_t r = 0; r < world; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
  return results;
}

std::vector<torch::Tensor> posterior_tensors(GaussianPosteriorImpl& q) {
  std::vector<torch::Tensor> out;
  for (auto& p : q.parameters()) out.push_back(p.detach().clone());
  return out;
}

void expect_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, double tol,
                  const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = (a[i] - b[i]).abs().max().item<double>();
    EXPECT_LE(diff, tol) << what << ", tensor " << i;
  }
}

void expect_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << what << ", tensor " << i;
}

// ---- sharding ------------------------------------------------------------------------------

TEST(Sharding, IdModWorldSizeDisjointAndCovering) {
  auto ids = torch::tensor({5, -3, 0, 12, 7, 100, -8}, torch::kLong);
  auto x = torch::arange(7, torch::kFloat64).unsqueeze(1);
  data::Dataset ds(x, torch::zeros({7}), ids);
  EXPECT_TRUE(torch::equal(owner_of(ids, 3), torch::tensor({2, 0, 0, 0, 1, 1, 1}, torch::kLong)));
  int64_t total = 0;
  for (int64_t r = 0; r < 3; ++r) {
    auto s = shard(ds, 3, r);
    total += s.size();
    EXPECT_TRUE((owner_of(s.ids(), 3) == r).all().item<bool>());
  }
  EXPECT_EQ(total, 7);
  EXPECT_TRUE(torch::equal(shard(ds, 3, 1).ids(), torch::tensor({7, 100, -8}, torch::kLong)));  // order kept
}

TEST(Cluster, LocalIsANoOpAndCollectivesReduceOverLoopback) {
  auto local = local_cluster();
  std::vector<torch::Tensor> t{torch::ones({3})};
  local->all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t[0], torch::ones({3})));

  auto sums = on_ranks<std::vector<torch::Tensor>>(2, [](const std::shared_ptr<Cluster>& c) {
    const double r = static_cast<double>(c->rank());
    std::vector<torch::Tensor> v{torch::full({2, 2}, r + 1, torch::kFloat64), torch::full({3}, r, torch::kFloat32),
                                 torch::full({1}, 10 + c->rank(), torch::kLong), torch::full({2}, r + 1, torch::kFloat64)};
    c->all_reduce_sum(v);
    std::vector<torch::Tensor> m{torch::full({2}, r * 4.0, torch::kFloat64)};
    c->all_reduce_max(m);
    v.push_back(m[0]);
    std::vector<torch::Tensor> b{torch::full({2}, r + 7.0, torch::kFloat64)};
    c->broadcast(b, 1);
    v.push_back(b[0]);
    c->barrier();
    c->check_same(42, "a constant");
    return v;
  });
  for (const auto& v : sums) {
    EXPECT_TRUE(torch::equal(v[0], torch::full({2, 2}, 3.0, torch::kFloat64)));
    EXPECT_TRUE(torch::equal(v[1], torch::full({3}, 1.0f, torch::kFloat32)));
    EXPECT_EQ(v[2].item<int64_t>(), 21);
    EXPECT_TRUE(torch::equal(v[3], torch::full({2}, 3.0, torch::kFloat64)));
    EXPECT_TRUE(torch::equal(v[4], torch::full({2}, 4.0, torch::kFloat64)));
    EXPECT_TRUE(torch::equal(v[5], torch::full({2}, 8.0, torch::kFloat64)));
  }
}

TEST(Cluster, CheckSameFailsOnEveryRankNamingTheValue) {
  auto msgs = on_ranks<std::string>(2, [](const std::shared_ptr<Cluster>& c) {
    try {
      c->check_same(c->rank() == 0 ? 100 : 99, "the seed");
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("no error");
  });
  for (const auto& m : msgs) EXPECT_NE(m.find("the seed differs between ranks (from 99 to 100"), std::string::npos) << m;
}

// ---- failure: a dead or stalled rank --------------------------------------------------------

TEST(Cluster, ADeadRankFailsTheOthersAtOnceAndAStalledOneAfterTheTimeout) {
  for (const bool stall : {false, true}) {
    const auto rendezvous = "127.0.0.1:" + std::to_string(find_free_port());
    std::string error;
    double seconds = 0;
    std::thread peer([&] {
      auto c = connect(ClusterOptions().world_size(2).rank(1).rendezvous(rendezvous).timeout_s(1.0));
      std::vector<torch::Tensor> t{torch::ones({4})};
      c->all_reduce_sum(t);
      if (stall) std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      // leaving the scope closes rank 1's sockets: what a killed process does
    });
    try {
      auto c = connect(ClusterOptions().world_size(2).rank(0).rendezvous(rendezvous).timeout_s(1.0));
      std::vector<torch::Tensor> t{torch::ones({4})};
      c->all_reduce_sum(t);
      auto t0 = std::chrono::steady_clock::now();
      try {
        c->all_reduce_sum(t);
      } catch (const c10::Error& e) {
        error = e.what_without_backtrace();
      }
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } catch (const std::exception& e) {
      error = std::string("setup: ") + e.what();
    }
    peer.join();
    EXPECT_NE(error.find("rank 0 of 2: all_reduce_sum failed: another rank died or stalled beyond the timeout of 1 s"),
              std::string::npos)
        << (stall ? "stall: " : "death: ") << error;
    EXPECT_LT(seconds, 2.4) << (stall ? "stall" : "death");
  }
}

TEST(Cluster, RendezvousWithAMissingRankTimesOut) {
  auto t0 = std::chrono::steady_clock::now();
  try {
    connect(ClusterOptions().world_size(2).rank(0).rendezvous("127.0.0.1:" + std::to_string(find_free_port())).timeout_s(1.0));
    ADD_FAILURE() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("rendezvous at 127.0.0.1:"), std::string::npos)
        << e.what_without_backtrace();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  EXPECT_THROW(ClusterOptions().world_size(2).rank(0).rendezvous("nohost").validate(), c10::Error);
  EXPECT_THROW(ClusterOptions().world_size(2).rank(2).validate(), c10::Error);
}

// ---- VI and SG-MCMC: W = 2 equals W = 1 ------------------------------------------------------

struct ViRun {
  std::vector<torch::Tensor> posterior;
  double objective = 0;
};

ViRun train_vi(const std::shared_ptr<Cluster>& cluster, int64_t batch_size, bool plain) {
  auto data = regression_data(101, 3, 0.5, 11);  // 101 rows: shards of 51 and 50
  auto model = std::make_shared<ConjugateRegression>(3, 0.5, 1.0);
  auto q = std::make_shared<FullRankGaussianImpl>(GaussianOptions(3));
  auto options = inference::VIOptions().num_samples(40).steps(150).lr(0.02).batch_size(batch_size).seed(5);
  std::unique_ptr<inference::VITrainer> trainer;
  if (plain) {
    trainer = std::make_unique<inference::VITrainer>(model, q, data, options);
  } else {
    auto sharded = shard_for_training(cluster, data);
    trainer = std::make_unique<inference::VITrainer>(model, q, sharded.index, options);
    trainer->set_data_parallel(sharded.parallel);
  }
  trainer->train();
  return {posterior_tensors(*q), trainer->last_objective().item<double>()};
}

TEST(DataParallelVI, TwoRanksEqualOneProcessFullBatchAndMinibatch) {
  for (int64_t batch : {0, 16}) {
    auto reference = train_vi(nullptr, batch, /*plain=*/true);
    auto one = on_ranks<ViRun>(1, [&](const auto& c) { return train_vi(c, batch, false); });
    expect_equal(one[0].posterior, reference.posterior, "W = 1 through the distributed path");
    auto two = on_ranks<ViRun>(2, [&](const auto& c) { return train_vi(c, batch, false); });
    expect_equal(two[0].posterior, two[1].posterior, "the two ranks");
    expect_close(two[0].posterior, reference.posterior, kTol, "W = 2 vs W = 1, batch " + std::to_string(batch));
    EXPECT_NEAR(two[0].objective, reference.objective, 1e-8 * std::abs(reference.objective));
    EXPECT_EQ(two[0].objective, two[1].objective);
  }
}

struct ChainRun {
  std::vector<torch::Tensor> state;  // θ and the bank
};

ChainRun run_chain(const std::shared_ptr<Cluster>& cluster, const std::string& sampler, bool plain) {
  auto data = regression_data(101, 3, 0.5, 12);
  auto model = std::make_shared<ConjugateRegression>(3, 0.5, 1.0);
  auto options = inference::SGMCMCOptions().sampler(inference::sampler_from_string(sampler)).lr(2e-3).batch_size(20).steps(300).seed(9).bank(
      inference::SampleBankOptions().burn_in(100).thinning(10));
  std::unique_ptr<inference::SGMCMCTrainer> chain;
  if (plain) {
    chain = std::make_unique<inference::SGMCMCTrainer>(model, data, options);
  } else {
    auto sharded = shard_for_training(cluster, data);
    chain = std::make_unique<inference::SGMCMCTrainer>(model, sharded.index, options);
    chain->set_data_parallel(sharded.parallel);
  }
  chain->train();
  return {{chain->theta().detach().clone(), chain->bank().samples()}};
}

TEST(DataParallelSGMCMC, TwoRanksEqualOneProcessWithTheSameNoise) {
  for (const std::string sampler : {"sgld", "sghmc"}) {
    auto reference = run_chain(nullptr, sampler, true);
    auto two = on_ranks<ChainRun>(2, [&](const auto& c) { return run_chain(c, sampler, false); });
    expect_equal(two[0].state, two[1].state, sampler + ": the two ranks");
    expect_close(two[0].state, reference.state, kChainTol, sampler + ": W = 2 vs W = 1");
    EXPECT_EQ(reference.state[1].size(0), 20);
  }
}

// ---- unlearning: W = 2 equals W = 1 ---------------------------------------------------------

struct ForgetFixture {
  data::Dataset data = regression_data(60, 3, 0.5, 13);
  std::shared_ptr<ConjugateRegression> model = std::make_shared<ConjugateRegression>(3, 0.5, 1.0);
  std::shared_ptr<GaussianPosteriorImpl> q_full;
  ForgetFixture() {
    auto [mean, cov] = exact_conjugate_posterior(*model, data.batch());
    q_full = std::make_shared<FullRankGaussianImpl>(GaussianOptions(3));
    q_full->set_moments(mean, cov);
  }
};

std::vector<torch::Tensor> forget(const std::shared_ptr<Cluster>& cluster, const std::string& method,
                                  const torch::Tensor& ids) {
  ForgetFixture f;
  data::Batch erased;
  ErasedLogLikelihoodFn sum;
  if (cluster) {
    auto local = shard(f.data, cluster->world_size(), cluster->rank());
    auto share = erased_share(cluster, local, ids);
    erased = share.erased;
    sum = share.sum;
  } else {
    erased = f.data.subset(ids).batch();
  }
  VbuResult res;
  if (method == "eubo") {
    res = eubo_unlearn(*f.model, *f.q_full, erased,
                       EuboOptions().lambdas({1e-3, 0.0}).num_samples(200).max_steps(200).lr(0.01).seed(3)
                           .report_every(50).erased_log_likelihood(sum));
  } else if (method == "rkl") {
    res = reverse_kl_unlearn(*f.model, *f.q_full, erased,
                             ReverseKlOptions().lambdas({0.0}).num_samples(200).max_steps(200).lr(0.01).seed(3)
                                 .report_every(50).erased_log_likelihood(sum));
  } else {
    res = reverse_kl_closed_form(*f.model, *f.q_full, erased,
                                 ReverseKlClosedFormOptions().lambdas({1e-3, 0.0}).num_samples(4000)
                                     .sample_chunk(1000).seed(3).erased_log_likelihood(sum));
  }
  auto out = posterior_tensors(*res.posterior);
  out.push_back(torch::tensor(res.runs.at(0).objective, torch::kFloat64));
  return out;
}

TEST(DataParallelUnlearning, EuboAndReverseKlOnTwoRanksEqualOneProcess) {
  // {3, 17, 42, 8}: both ranks hold some; {4, 8, 10}: rank 1 holds none (ids mod 2 = 0).
  for (const auto& ids : {torch::tensor({3, 17, 42, 8}, torch::kLong), torch::tensor({4, 8, 10}, torch::kLong)}) {
    for (const std::string method : {"eubo", "rkl", "rkl_closed"}) {
      auto reference = forget(nullptr, method, ids);
      auto two = on_ranks<std::vector<torch::Tensor>>(2, [&](const auto& c) { return forget(c, method, ids); });
      expect_equal(two[0], two[1], method + ": the two ranks");
      expect_close(two[0], reference, kTol, method + ": W = 2 vs W = 1");
    }
  }
}

// ---- BIF: gradient sums and HVPs all-reduced, W = 2 equals W = 1 -----------------------------

bif::InverseHvpOptions bif_solver(const std::string& solver) {
  if (solver == "cg") {
    return bif::InverseHvpOptions().kind(bif::SolverKind::kConjugateGradient).cg(bif::CgOptions().tol(1e-12));
  }
  if (solver == "dense") return bif::InverseHvpOptions().kind(bif::SolverKind::kDense);
  return bif::InverseHvpOptions().lissa(bif::LissaOptions().terms(24));  // minibatch terms, see below
}

// VI-BIF on the fixture's posterior: removal batches of 2; LiSSA draws a fresh minibatch of 16
// ids per term (s = 0.1/n: s·λ_max ≈ 0.4 here), CG and dense use the whole current set.
std::vector<torch::Tensor> vi_bif(const std::shared_ptr<Cluster>& cluster, const std::string& solver,
                                  const torch::Tensor& ids) {
  ForgetFixture f;
  data::Dataset current = f.data;
  inference::DataParallel parallel;
  if (cluster) {
    auto sharded = shard_for_training(cluster, f.data);
    current = sharded.index;
    parallel = sharded.parallel;
  }
  const bool lissa = solver == "lissa";
  auto method = bif_unlearner(BifOptions().moment_matched_noise(false).vi(
      bif::ViBifOptions()
          .energy(bif::ViEnergyOptions().mc_samples(16).hvp_batch_size(lissa ? 16 : 0))
          .solver(bif_solver(solver))
          .lissa_c(lissa ? 0.1 : 0.0)));
  ForgetContext ctx;
  ctx.seed = 5;
  ctx.parallel.training = parallel;  // the bif method hands it to the energy
  auto result = forget_request(*method, *f.model, PosteriorState::gaussian(f.q_full->copy()), current, ids, ctx,
                               RequestOptions().batch_size(2));
  return posterior_tensors(result.state.gaussian());
}

// SGLD / SGHMC chain trained (data-parallel when cluster is set), then forgotten with BIF.
std::vector<torch::Tensor> chain_bif(const std::shared_ptr<Cluster>& cluster, const std::string& sampler,
                                     const std::string& solver, const torch::Tensor& ids) {
  auto data = regression_data(101, 3, 0.5, 12);
  auto model = std::make_shared<ConjugateRegression>(3, 0.5, 1.0);
  auto options = inference::SGMCMCOptions().sampler(inference::sampler_from_string(sampler)).lr(2e-3).batch_size(20).steps(200).seed(9).bank(
      inference::SampleBankOptions().burn_in(100).thinning(10));
  data::Dataset index = data;
  inference::DataParallel parallel;
  if (cluster) {
    auto sharded = shard_for_training(cluster, data);
    index = sharded.index;
    parallel = sharded.parallel;
  }
  inference::SGMCMCTrainer chain(model, index, options);
  chain.set_data_parallel(parallel);
  chain.train();
  const bool lissa = solver == "lissa";
  auto method = bif_unlearner(BifOptions().sgmcmc(bif::SgmcmcBifOptions()
                                                       .solver(bif_solver(solver))
                                                       .sample_steps(4)
                                                       .hessian_states(2)
                                                       .hvp_batch_size(lissa ? 16 : 0)
                                                       .lissa_c(lissa ? 0.1 : 0.0)
                                                       .refresh_samples(true)));
  ForgetContext ctx;
  ctx.seed = 4;
  ctx.parallel.training = parallel;
  // The chain's recipe: BIF's sampler steps take the chain's own minibatch size from it.
  ctx.training = std::make_shared<TrainingRecipe>(
      TrainingRecipe()
          .method(options.sampler() == inference::Sampler::kSGLD ? TrainingMethod::kSGLD : TrainingMethod::kSGHMC)
          .sgmcmc(options));
  auto state = PosteriorState::chain(inference::chain_state_of(chain), chain.bank().samples());
  auto result = forget_request(*method, *model, state, index, ids, ctx, RequestOptions().batch_size(3));
  return {result.state.chain().theta.clone(), result.state.samples()};
}

TEST(DataParallelBif, GradientSumsAndHvpsOnTwoRanksEqualOneProcess) {
  // {3, 17, 42, 8, 5}: both ranks hold some of each batch; {4, 8, 10, 12}: rank 1 holds none.
  for (const auto& ids : {torch::tensor({3, 17, 42, 8, 5}, torch::kLong), torch::tensor({4, 8, 10, 12}, torch::kLong)}) {
    for (const std::string solver : {"lissa", "cg", "dense"}) {
      auto reference = vi_bif(nullptr, solver, ids);
      auto two = on_ranks<std::vector<torch::Tensor>>(2, [&](const auto& c) { return vi_bif(c, solver, ids); });
      expect_equal(two[0], two[1], "VI-BIF " + solver + ": the two ranks");
      expect_close(two[0], reference, kTol, "VI-BIF " + solver + ": W = 2 vs W = 1");
      // The step moved the posterior: equality is not that of two untouched copies.
      EXPECT_GT((reference[0] - ForgetFixture().q_full->parameters()[0]).abs().max().item<double>(), 1e-4) << solver;
    }
    for (const std::string sampler : {"sgld", "sghmc"}) {
      for (const std::string solver : {"lissa", "cg"}) {
        auto reference = chain_bif(nullptr, sampler, solver, ids);
        auto two = on_ranks<std::vector<torch::Tensor>>(2, [&](const auto& c) { return chain_bif(c, sampler, solver, ids); });
        expect_equal(two[0], two[1], sampler + "-BIF " + solver + ": the two ranks");
        expect_close(two[0], reference, kTol, sampler + "-BIF " + solver + ": W = 2 vs W = 1");
        EXPECT_TRUE(torch::isfinite(reference[1]).all().item<bool>());
      }
    }
  }
}

}  // namespace
}  // namespace unlearn::distributed
