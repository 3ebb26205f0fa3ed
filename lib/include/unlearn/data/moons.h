#pragma once
// Two interleaving half circles, scikit-learn's make_moons algorithm:
//   n_out = n / 2 points (cos t, sin t), t = linspace(0, π, n_out), label 0;
//   n_in = n - n_out points (1 - cos t, 1 - sin t - 0.5), t = linspace(0, π, n_in), label 1;
//   then (optionally) shuffled, then N(0, noise²) added to every coordinate.
//
// It is seeded by a torch::Generator, so it matches scikit-learn's distribution but not
// numpy's draws bit for bit. The exact data set of the paper's moon experiment
// (make_moons(100, noise=0.2, random_state=0)) ships as configs/data/moons_100.csv.
#include <optional>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"

namespace unlearn::data {

/// x float64 [n, 2], y int64 [n] (n / 2 zeros, the rest ones), ids 0..n-1 in the returned
/// order. The shuffle draws first, then the noise (both from `generator`; the default
/// generator when none is given).
Dataset make_moons(int64_t n_samples, double noise = 0.0,
                   std::optional<torch::Generator> generator = std::nullopt, bool shuffle = true);

}  // namespace unlearn::data
