"""Suite-wide settings that keep the default run (`pytest`: 2 xdist workers, --dist loadfile) short.

1. XLA's backend (LLVM) optimisation is turned down for the tests. The suite is compile bound
   (most tests spend > 80% of their time tracing and compiling small programs that then run for
   milliseconds), and jax_disable_most_optimizations cut the default run's CPU time by ~37%
   (30.8 -> 19.5 CPU-minutes on the 2-core dev VM). It changes only the machine-code generation
   (xla_backend_optimization_level=0, xla_llvm_disable_expensive_passes): the HLO that JAX emits
   and XLA's HLO passes (fusion, simplification) are unchanged, and XLA's CPU backend uses no
   fast-math by default, so the tests check the same computations, with less optimised machine
   code. It is set in the environment too, so the subprocesses the tests start (sharding, sweeps,
   docs snippets) inherit it. To test fully optimised programs: `JAX_DISABLE_MOST_OPTIMIZATIONS=0 pytest`.

2. Heaviest test files first. --dist loadfile hands whole files to the workers in collection order
   (pyproject sets --no-loadscope-reorder: xdist's default orders files by their number of tests,
   which puts the many cheap parametrised error tests first and leaves a heavy file to the end);
   longest-first keeps the two workers' loads even (LPT scheduling). The weights below are rough
   seconds per file on the 2-core dev VM; a file not listed gets DEFAULT_WEIGHT. Stale weights only
   cost balance, never correctness.

3. One JAX persistent compilation cache per test session (docs/sweeps.md): an empty temporary
   directory, created by the first pytest process (the xdist controller, before it starts the
   workers, so both workers and every subprocess a test starts share it) and deleted when that
   process exits. Tests that build the same program (same HLO, same compile options: the cache key)
   in another test, file, worker or subprocess load it instead of compiling it again (measured:
   ~600 of ~2,900 compiles of the default run). Nothing is kept between sessions, so every run
   compiles as from a fresh clone. A JAX_COMPILATION_CACHE_DIR already set is used as is.
"""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _session_cache = tempfile.mkdtemp(prefix="sc_jax_test_jit_cache_")
    atexit.register(shutil.rmtree, _session_cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _session_cache
    # cache every program: the suite's are small (the default keeps only those over 1 s to compile)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import jax  # noqa: E402

jax.config.update("jax_disable_most_optimizations",
                  os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"].lower() not in ("0", "false", "no", ""))
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
for _name in ("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"):
    if _name in os.environ:
        jax.config.update(_name.lower(), type(jax.config.values[_name.lower()])(os.environ[_name]))

DEFAULT_WEIGHT = 5.0
FILE_WEIGHTS = {  # seconds per file, measured (pytest --durations=0, summed per file; 2026-11-28)
    "test_ppo.py": 111,
    "test_hdpo.py": 109,
    "test_reproduce_hybrid.py": 101,
    "test_capacity_brain.py": 80,
    "test_train_entry.py": 79,
    "test_hybrid_jax.py": 60,
    "test_hybrid_entry.py": 58,
    "test_sweeps.py": 56,
    "test_docs_snippets.py": 55,
    "test_reproduce_orgym.py": 49,
    "test_sharding.py": 49,
    "test_env_api.py": 48,
    "test_sigma_rule.py": 45,
    "test_mip_mixed.py": 43,
    "test_oracle.py": 41,
    "test_alloc_jax.py": 39,
    "test_evaluate.py": 28,
    "test_orgym_parity.py": 25,
    "test_env_invariants.py": 20,
    "test_textbook.py": 18,
    "test_errors.py": 17,
    "test_hybrid_sample.py": 16,
    "test_purejaxrl.py": 16,
    "test_bench_hybrid.py": 13,
    "test_scripts.py": 12,
    "test_demand.py": 9,
    "test_benchmarks.py": 9,
    "test_profiles.py": 8,
    "test_hybrid.py": 7,
    "test_policies.py": 6,
    "test_presets.py": 5,
    "test_alloc.py": 2,
    "test_alloc_errors.py": 1,
}


def pytest_collection_modifyitems(session, config, items):
    weight = lambda item: FILE_WEIGHTS.get(item.nodeid.split("::")[0].rsplit("/", 1)[-1], DEFAULT_WEIGHT)
    items.sort(key=lambda item: -weight(item))  # stable: the order inside a file is kept
