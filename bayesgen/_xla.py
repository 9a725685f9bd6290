"""XLA options shared by both sides' drivers.

A program that runs once per fit or posterior and costs little to run (the checks of a
finished fit, a batch of chains' starting states) is compiled without LLVM's optimisation
passes: on Ising 4 x 4 and 32 x 32 the post-fit programs of pseudo-likelihood, MCMLE, NCE
and exact MLE compiled in 6.4 s instead of 9.7 s, ran in 28 ms instead of 17 ms, and gave
the same estimates and standard errors to 1e-16 (2026-12-02, this machine). A loop that
runs long keeps the optimisation: the same option made a 25-dimensional exchange run five
times slower (474 s against 92 s)."""

RUN_ONCE = {"xla_backend_optimization_level": 0}  # jax.jit(..., compiler_options=RUN_ONCE)
