#include "unlearn/inference/callbacks.h"

#include <c10/util/Exception.h>

namespace unlearn::inference {

void TrainingCallbacks::validate() const {
  TORCH_CHECK(every() >= 1, "TrainingCallbacks: every = ", every(), " must be >= 1");
  TORCH_CHECK(checkpoint_every() >= 0, "TrainingCallbacks: checkpoint_every = ", checkpoint_every(),
              " must be >= 0 (0: never)");
}

}  // namespace unlearn::inference
