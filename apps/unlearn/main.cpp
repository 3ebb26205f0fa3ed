// `unlearn`: train Bayesian models, erase data from their posteriors, and compare with retraining.
// The command is the library unlearn::cli (unlearn/cli.h); a user's executable can be this file
// plus the registration of its own model kinds.
#include "unlearn/cli.h"

int main(int argc, char** argv) { return unlearn::cli::run_cli(argc, argv); }
