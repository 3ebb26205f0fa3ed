#pragma once
// The Fashion-MNIST study of the BIF papers (issue 7), private to studies/: its state and its
// parts, one file each —
//   fmnist_data.cpp     the data, the model and the removals (which ids, what remains)
//   fmnist_forget.cpp   one removal forgotten through forget_request, and what its solves did
//   fmnist_vi.cpp       the VI posterior: origin, target, BIF, and EUBO / reverse KL
//   fmnist_chain.cpp    the SG-MCMC chains: origin, target, BIF
//   fmnist_study.cpp    the order of the parts, the rows, the timings and the output files
// Data parallel (--world-size W): every rank loads every row; each trains and forgets on its shard
// (ids mod W) over the index sets, so that every rank holds the one-process posterior. Rank 0
// evaluates and writes.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fmnist_bif/fmnist_bif_config.h"
#include "fmnist_bif/fmnist_eval.h"
#include "unlearn/distributed/data_parallel.h"
#include "unlearn/studies/studies.h"
#include "unlearn/unlearning/methods.h"
#include "unlearn/unlearning/request.h"
#include "unlearn/unlearning/training.h"

namespace unlearn::studies {

/// One removal: the erased ids, what remains, its shards and the sets it is judged on.
struct Removal {
  int64_t removed = 0, requests = 0;
  torch::Tensor erased;
  data::Dataset remaining;
  distributed::ShardedData sharded;
  EvalSets sets;
};

/// What a method's forgetting of one removal produced, next to its retrain.
struct Outcome {
  Predictive origin, processed, target;
  double forget_seconds = 0, retrain_seconds = 0;
};

class FmnistStudy {
 public:
  FmnistStudy(const nlohmann::json& config, const StudyContext& ctx);
  void run();

 private:
  // fmnist_data.cpp
  void load();
  Removal make_removal(int64_t count) const;
  // fmnist_forget.cpp
  RequestResult forget_in_requests(const std::string& method, Unlearner& unlearner, const PosteriorState& origin,
                                   const Removal& r, uint64_t seed);
  void record_solves(const std::string& method, const Removal& r, const RequestResult& request);
  void note_divergence(const std::string& method, const RequestResult& request);
  bif::InverseHvpOptions solver_options(const std::string& method) const;
  // fmnist_vi.cpp
  TrainingRecipe vi_recipe() const;
  PosteriorState fit_vi(const distributed::ShardedData& d, uint64_t seed, const std::string& what) const;
  Predictive predict_gaussian(const GaussianPosteriorImpl& post, const EvalSets& sets) const;
  void run_vi();
  void run_vbu(const Removal& r, const PosteriorState& origin, const Predictive& target, double train_s,
               double retrain_s);
  // fmnist_chain.cpp
  void run_chain(const std::string& method);
  // fmnist_study.cpp
  TrainStart train_start(const distributed::ShardedData& d, uint64_t seed, const std::string& what) const;
  void log(const std::string& s) const { ctx_.say(s); }
  void push_row(const FmnistRow& row);
  void add_rows(const std::string& method, const Removal& r, const Outcome& o);
  void record_timing(const std::string& method, double train_s, const Removal& r, double retrain_s, double forget_s,
                     int64_t requests = 0);
  void write_outputs() const;

  const nlohmann::json& json_;
  const FmnistBifConfig c_;
  const StudyContext& ctx_;
  std::shared_ptr<distributed::Cluster> cluster_;
  const bool root_;

  data::Dataset train_, test_;
  std::shared_ptr<Model> model_;
  torch::Tensor permuted_;  // the class's ids in random order: a removal of k takes the first k
  std::vector<int64_t> removed_sizes_;
  distributed::ShardedData sharded_train_;
  ForgetParallel parallel_;  // every forgetting call's data-parallel hooks (empty: one process)
  torch::Tensor init_;

  std::vector<FmnistRow> rows_;
  nlohmann::json timings_ = nlohmann::json::object();
  nlohmann::json diverged_ = nlohmann::json::object();
  // Per method, one entry per removal: how often LiSSA's divergence guard cut the series.
  nlohmann::json guard_ = nlohmann::json::object();
  nlohmann::json solves_ = nlohmann::json::object();  // per method and removal: the solver's iterations
  nlohmann::json vbu_reports_ = nlohmann::json::array();
};

}  // namespace unlearn::studies
