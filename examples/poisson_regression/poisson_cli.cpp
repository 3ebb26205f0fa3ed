// The other way in: a user's own `unlearn` with the model kind linked in (unlearn::cli). It has
// every subcommand of the stock binary, with "poisson" registered before they run.
#include <unlearn/cli.h>

#include "poisson_regression.h"

int main(int argc, char** argv) {
  unlearn::register_model_kind(poisson::poisson_kind());
  return unlearn::cli::run_cli(argc, argv);
}
