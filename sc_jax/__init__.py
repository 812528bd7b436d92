"""sc_jax: JAX-accelerated multi-echelon inventory control.

    import sc_jax
    env, params = sc_jax.make("orgym_v1")     # "orgym_v0" | "orgym_v1" | "hybrid"

`make` is imported lazily, so `sc_jax.alloc` (NumPy/SciPy only) never imports JAX.
"""

__all__ = ["make"]


def __getattr__(name):
    if name == "make":
        from sc_jax.env.presets import make

        return make
    raise AttributeError(f"module 'sc_jax' has no attribute {name!r}")
