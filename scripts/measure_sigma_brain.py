"""The safety brain with the sigma-rule controller (issue #15's "scale-free action: z per stage"):
PPO picks z per stage every 10 days (SafetyStockEnv(controller="sigma_rule"), z = action x 0.125 in
[-2, 4]), ratio-conditioned (1..1000, sigma 1..11), on the hybrid_sample SKU 0; against the sigma
rule with the best constant z per ratio and sigma (tune_static_safety on 32 training paths, seed 1),
both on the same 100 held-out paths per sigma (seed 20240601), env cost over 200 days.

    python scripts/measure_sigma_brain.py [exact|sample] [decisions]   # docs/hybrid_reproduction.md
"""
import sys, time, json
import jax, numpy as np
import sc_jax
from sc_jax.env.wrappers import SafetyStockEnv, ScaleRewardByCostRatio
from sc_jax.agents.ppo import PPOConfig, make_train, make_policy
from sc_jax.agents.brains import evaluate_safety
from sc_jax.tuning import tune_static_safety

sem = sys.argv[1] if len(sys.argv) > 1 else "exact"
steps = int(float(sys.argv[2])) if len(sys.argv) > 2 else 3_000_000
base_env, base = sc_jax.make("hybrid_sample", cost_ratio=100.0, semantics=sem, periods=200)
env = SafetyStockEnv(base_env, action_frequency=10, safety_low=-16, safety_high=32, controller="sigma_rule",
                     z_step=0.125, ratio_low=1.0, ratio_high=1000.0, sigma_low=1, sigma_high=11)
train_env = ScaleRewardByCostRatio(env, 0.5)
ppo = PPOConfig(num_envs=384, total_timesteps=steps, context_features=1)
t0 = time.time()
params, metrics = jax.block_until_ready(jax.jit(make_train(ppo, train_env, base))(jax.random.PRNGKey(0)))
print(f"train {time.time()-t0:.0f}s final return {float(np.asarray(metrics['episode_return'])[-1]):.3g}", flush=True)
act = make_policy(ppo, env, deterministic=True)
out = {}
for ratio in (1.0, 10.0, 100.0, 1000.0):
    static = tune_static_safety(env, base, ratio, [2, 6, 11], num_paths=32, seed=1, coarse_step=8)
    r = evaluate_safety(env, act, params, base, ratio, sigma_levels=[2, 6, 11], num_paths=100, seed=20240601,
                        static=static)
    print(ratio, "brain", np.round(r["brain_mean"], 2), "z-const/sigma", np.round(r["static_per_sigma_mean"], 2),
          "z", [np.asarray(b) * 0.125 for b in static["best_per_sigma"]], "brain-mix", np.round(r["brain_minus_static"], 2),
          flush=True)
    out[ratio] = r
json.dump(out, open(f"docs/measurements/sigma_brain_{sem}.json", "w"), default=float, indent=1)
