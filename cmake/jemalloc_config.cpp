// jemalloc's compiled-in options for unlearn's executables (linked by unlearn_fast_allocator).
//
// jemalloc hands unused dirty pages back to the kernel over time (dirty/muzzy decay). Our hot
// loops allocate and free the same multi-megabyte temporaries every step ([S, N] logits and their
// gradients), so with the default decay each step re-faults and re-zeroes them: on the banknote
// study (S = 1000, N = 960) 70 % of the run was kernel time in page faults, and a step took 31 ms
// instead of 10 ms. Never purging keeps a process's peak footprint until it exits, which suits a
// command-line run. MALLOC_CONF in the environment still overrides this.
extern "C" {
const char* malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
}
