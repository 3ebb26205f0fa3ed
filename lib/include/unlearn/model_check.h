#pragma once
// A cheap check that a model keeps the contract of unlearn/model.h before anything trains on it or
// writes a run directory: a model from a user's plugin that returns the wrong shape, or NaN at its
// own starting point, is stopped with a message that names the model and the shapes, instead of
// surfacing as a NaN posterior many steps later (docs/extending.md, "A model").
#include <string>

#include "unlearn/data/batch.h"
#include "unlearn/model.h"

namespace unlearn {

/// Evaluates the model at its init_theta() (two copies, so that S > 1 is exercised) on the first
/// rows of `batch` (at most 4) and checks: init_theta() is [P]; log_likelihood is [2, B] and finite;
/// log_prior is [2] and finite; for classifiers predict_log_proba is [2, B, C]. Throws
/// io::ConfigError naming `where` (e.g. "model \"poisson\"") on the first breach.
void check_model_contract(Model& model, const data::Batch& batch, const std::string& where);

}  // namespace unlearn
