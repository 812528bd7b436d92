"""The capacity-aware brain (sc_jax.agents.capacity_brain): the untrained brain is the sigma rule
with z_init; the utilisation it observes is the same in the host loop and the jitted episode; ES
training in the coupled episode lowers the cost on held-out demand; bad settings are refused."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sc_jax.agents.capacity_brain import (CapacityBrainConfig, centred_ranks, init_params, make_policy,
                                          make_train, z_table)
from sc_jax.alloc.jax_stage import jit_for_backend
from sc_jax.env.catalog import make_catalog
from sc_jax.errors import ConfigError
from sc_jax.hybrid import run_hybrid, run_hybrid_batch, stage_utilisation
from sc_jax.hybrid_jax import stack_params
from sc_jax.policies.sigma_rule import sigma_rule_safety_policy

N, T = 6, 40
TIGHT = [80.0, 150.0, 200.0]  # below the initial stock and the rule's wishes: the capacity binds
TINY = CapacityBrainConfig(hidden=(8,), population=4, iterations=6, train_samples=2, noise_std=0.1,
                           learning_rate=0.1, z_init=1.0)


def catalog(sigma=4):
    return make_catalog(jax.random.PRNGKey(0), N, shared_capacity=TIGHT, sigma_max=sigma, periods=T)


@pytest.mark.slow  # the suite's time: tests/test_reproduce_hybrid.py's tiny run checks the same start on the jitted path,
# and test_host_loop_and_jitted_episode_give_the_brain_the_same_utilisation ties that path to this host loop
def test_untrained_brain_is_the_sigma_rule_with_z_init():
    env, params = catalog()
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    brain = run_hybrid_batch(env, params, make_policy(TINY, T), init_params(TINY, jax.random.PRNGKey(0)), keys,
                             action_frequency=1)
    rule = run_hybrid_batch(env, params, sigma_rule_safety_policy("installation", "before_arrivals"),
                            jnp.full(3, TINY.z_init, jnp.float32), keys, action_frequency=1)
    assert sum(r.statuses.get("optimal", 0) for r in rule) > 0  # the capacity binds
    for b, r in zip(brain, rule):
        np.testing.assert_array_equal(b.cost, r.cost)


@pytest.mark.slow  # the suite's time: tests/test_hybrid_entry.py checks the residual brain's start by default
def test_untrained_residual_brain_is_its_table():
    """residual: z = the table's z for the product's ratio and sigma level + a correction that
    starts at 0. Products that share nothing (no capacity stage), two cost ratios with different
    z rows: each product's cost is the sigma rule's with its own row."""
    env, params = make_catalog(jax.random.PRNGKey(0), N, ratios=[10, 1000], sigma_max=4, periods=T)
    ratio = np.asarray(params.cost_ratio)
    rows = np.array([[0.5, 1.0, -0.5], [3.0, 2.0, 1.5]])
    table = z_table([10.0, 1000.0], [1.0, 4.0], np.stack([rows - 9.0, rows], axis=1))  # sigma 4: 2nd column
    config = CapacityBrainConfig(**{**TINY.to_dict(), "residual": True})
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    run = lambda policy, policy_params: np.stack([r.cost for r in run_hybrid_batch(
        env, params, policy, policy_params, keys, allocation="none", action_frequency=1)])
    brain = run(make_policy(config, T), init_params(config, jax.random.PRNGKey(0), table))
    for i, r in enumerate((10.0, 1000.0)):
        rule = run(sigma_rule_safety_policy("installation", "before_arrivals"), jnp.asarray(rows[i], jnp.float32))
        assert np.any(ratio == r)
        np.testing.assert_array_equal(brain[:, ratio == r], rule[:, ratio == r])
    # a trained (here: perturbed) correction behind a gate: off at ratio 10 (the table's rule exactly),
    # on at ratio 1000 (the network's correction counts)
    trained = init_params(config, jax.random.PRNGKey(0), table)
    trained["params"] = jax.tree.map(lambda x: x + 0.5, trained["params"])
    gate = z_table([10.0, 1000.0], [1.0, 4.0], np.stack([np.zeros((2, 3)), np.ones((2, 3))]))
    gated = run(make_policy(config, T), {**trained, "gate": gate})
    ungated = run(make_policy(config, T), trained)
    rule10 = run(sigma_rule_safety_policy("installation", "before_arrivals"), jnp.asarray(rows[0], jnp.float32))
    np.testing.assert_array_equal(gated[:, ratio == 10.0], rule10[:, ratio == 10.0])
    np.testing.assert_array_equal(gated[:, ratio == 1000.0], ungated[:, ratio == 1000.0])
    assert not np.array_equal(ungated[:, ratio == 10.0], rule10[:, ratio == 10.0])  # the correction did act
    with pytest.raises(ConfigError, match="a residual capacity brain needs 'z_base'"):
        init_params(config, jax.random.PRNGKey(0))
    with pytest.raises(ConfigError, match="'z_base' must be finite z of shape"):
        z_table([10.0, 100.0], [4.0], [[[1.0, 1.0, 1.0]]])


def test_host_loop_and_jitted_episode_give_the_brain_the_same_utilisation():
    """A brain whose output depends on the utilisation (random output weights): the host loop
    (daily MILP, utilisation from the host state) and the jitted episode agree."""
    env, params = catalog()
    policy_params = init_params(TINY, jax.random.PRNGKey(0))
    dense = policy_params["params"]["Dense_0"]
    dense["kernel"] = jax.random.normal(jax.random.PRNGKey(5), dense["kernel"].shape)
    act = make_policy(TINY, T)
    key = jax.random.PRNGKey(2)
    host = run_hybrid(env, params, act, policy_params, key, allocation="daily", action_frequency=1,
                      alloc_options={"capacity_basis": "expected", "time_limit": 5.0})
    jitted = run_hybrid(env, params, act, policy_params, key, allocation="jax", action_frequency=1,
                        alloc_options={"capacity_basis": "expected"})
    assert host.statuses.get("optimal", 0) > 0
    np.testing.assert_allclose(jitted.cost, host.cost, rtol=1e-5)
    # and the brain does read it: other utilisation, other safety stock
    state = jax.vmap(env.reset)(jax.random.split(key, N), params)[1]
    one = jax.tree.map(lambda x: x[0], (state, params))
    low, high = (act(policy_params, *one, None, jnp.full(3, u, jnp.float32)) for u in (0.2, 1.5))
    assert not np.array_equal(np.asarray(low), np.asarray(high))
    blind = make_policy(CapacityBrainConfig(**{**TINY.to_dict(), "observe_utilisation": False}), T)
    low, high = (blind(policy_params, *one, None, jnp.full(3, u, jnp.float32)) for u in (0.2, 1.5))
    np.testing.assert_array_equal(low, high)  # the ablation does not see it


def test_stage_utilisation():
    stock = (jnp.array([[1, 2], [3, 4]]), jnp.array([[0, 0], [5, 5]]))  # M = 2 stages, [S = 2, N = 2]
    np.testing.assert_allclose(stage_utilisation(stock, jnp.array([[10.0, 10.0], [5.0, 5.0]])),
                               [[0.3, 0.7], [0.0, 2.0]])


def test_es_training_lowers_the_held_out_cost():
    """Started far from the optimum (z = 3.5 at every stage, ratios 10 and 1000), a few ES
    iterations in the coupled episode lower the cost on demand it never trained on."""
    config = CapacityBrainConfig(**{**TINY.to_dict(), "z_init": 3.5, "learning_rate": 0.3, "iterations": 8})
    (env, low), (_, high) = catalog(2), catalog(5)
    train = jit_for_backend(make_train(config, env, stack_params([low, high])))
    trained, metrics = train(jax.random.PRNGKey(0))
    assert metrics["cost"].shape == (config.iterations,) and np.all(np.isfinite(metrics["cost"]))
    held_out = jax.random.split(jax.random.PRNGKey(99), 4)
    act = make_policy(config, T)
    cost = lambda p: sum(np.mean([r.total_cost for r in run_hybrid_batch(env, c, act, p, held_out, action_frequency=1,
                                                                          alloc_options={"capacity_basis": "expected"})])
                         for c in (low, high))
    before, after = cost(init_params(config, jax.random.split(jax.random.PRNGKey(0))[0])), cost(trained)
    assert after < 0.97 * before, (before, after)


def test_centred_ranks():
    np.testing.assert_allclose(centred_ranks(jnp.array([3.0, -1.0, 10.0, 0.0])), [1 / 6, -0.5, 0.5, -1 / 6], rtol=1e-6)


@pytest.mark.parametrize("field,value,message", [
    ("population", 3, "'capacity_brain.population' must be an even integer >= 2"),
    ("population", 0, "'capacity_brain.population' must be an integer >= 2"),
    ("hidden", [], "'capacity_brain.hidden' must be a non-empty list of integers >= 1"),
    ("noise_std", -0.1, "'capacity_brain.noise_std' must be a finite number > 0"),
    ("learning_rate", float("nan"), "'capacity_brain.learning_rate' must be a finite number > 0"),
    ("z_init", -3.0, "'capacity_brain.z_init' must lie strictly between z_low and z_high"),
    ("form", "base", "'capacity_brain.form' must be one of"),
    ("iterations", 0, "'capacity_brain.iterations' must be an integer >= 1"),
    ("activation", "cube", "'capacity_brain.activation' must be one of"),
    ("observe_utilisation", "yes", "'capacity_brain.observe_utilisation' must be true or false"),
    ("population_batch", 0, "'capacity_brain.population_batch' must be an integer >= 1"),
    ("residual", 1, "'capacity_brain.residual' must be true or false"),
    ("delta_max", 0.0, "'capacity_brain.delta_max' must be a finite number > 0"),
    ("cover_max", -1.0, "'capacity_brain.cover_max' must be a finite number >= 0"),
    ("cover_max", float("inf"), "'capacity_brain.cover_max' must be a finite number >= 0"),
])
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CapacityBrainConfig(**{field: value})
    with pytest.raises(ConfigError, match=r"unknown capacity_brain key\(s\) \['lr'\]"):
        CapacityBrainConfig.from_dict({"lr": 1.0})


def test_uncoupled_scenarios_train_without_a_capacity_stage_and_weights_scale_the_cost():
    """allocation "none": products that share nothing (one scenario per product slot); cost_weights
    multiply each product's cost in the objective."""
    env, params = make_catalog(jax.random.PRNGKey(0), 3, sigma_max=3, periods=T)  # no shared capacity
    config = CapacityBrainConfig(**{**TINY.to_dict(), "iterations": 1, "observe_utilisation": False})
    costs = [jit_for_backend(make_train(config, env, stack_params([params]), allocation="none",
                                        cost_weights=w))(jax.random.PRNGKey(0))[1]["cost"]
             for w in (None, [2.0, 2.0, 2.0])]
    np.testing.assert_allclose(costs[1], 2 * costs[0], rtol=1e-6)
    batched = CapacityBrainConfig(**{**config.to_dict(), "population_batch": 2})  # candidates vmapped 2 at a time
    params_b, metrics_b = jit_for_backend(make_train(batched, env, stack_params([params]), allocation="none"))(
        jax.random.PRNGKey(0))
    np.testing.assert_allclose(metrics_b["cost"], costs[0], rtol=1e-6)
    with pytest.raises(ConfigError, match="allocation needs a shared capacity"):
        make_train(config, env, stack_params([params]))
    with pytest.raises(ConfigError, match=r"'objective' must be one of \('env_cost', 'notebook_cost'\)"):
        make_train(config, env, stack_params([params]), allocation="none", objective="profit")
    for bad in ([1.0, 1.0], [1.0, 0.0, 1.0], [1.0, float("nan"), 1.0]):
        with pytest.raises(ConfigError, match="'cost_weights' must be 3 finite numbers > 0"):
            make_train(config, env, stack_params([params]), allocation="none", cost_weights=bad)


def test_cover_head_starts_at_zero_and_adds_days_of_mean_demand():
    """cover_max > 0: a second head, zero at initialisation (the z-only brain's actions exactly);
    set to c days, each stage's target rises by c times its cover window's mean daily forecast."""
    from sc_jax.agents.capacity_brain import make_action
    from sc_jax.policies.sigma_rule import cover_windows, targets

    env, params = make_catalog(jax.random.PRNGKey(0), 1, sigma_max=3, periods=T)
    one = jax.tree.map(lambda x: x[0], params)
    _, state = env.reset(jax.random.PRNGKey(2), one)
    utilisation = jnp.array([0.5, 0.8, 0.9], jnp.float32)
    plain = CapacityBrainConfig(**TINY.to_dict())
    cover = CapacityBrainConfig(**{**TINY.to_dict(), "cover_max": 2.0})
    p_plain, p_cover = init_params(plain, jax.random.PRNGKey(0)), init_params(cover, jax.random.PRNGKey(0))
    z0, c0 = make_action(plain, T)(p_plain, state, one, utilisation)
    z1, c1 = make_action(cover, T)(p_cover, state, one, utilisation)
    np.testing.assert_array_equal(z0, z1)
    assert np.all(np.asarray(c0) == 0) and np.all(np.asarray(c1) == 0)
    heads = sorted(k for k in p_cover["params"] if k.startswith("Dense"))
    assert len(heads) == len([k for k in p_plain["params"] if k.startswith("Dense")]) + 1
    bias = np.arctanh(np.array([0.25, 0.5, 0.75], np.float32))  # cover = 2 tanh(bias) = 0.5, 1, 1.5 days
    moved = jax.tree.map(lambda x: x, p_cover)
    moved["params"][heads[-1]]["bias"] = jnp.asarray(bias)
    z2, c2 = make_action(cover, T)(moved, state, one, utilisation)
    np.testing.assert_allclose(c2, [0.5, 1.0, 1.5], rtol=1e-6)
    mask = np.asarray(cover_windows(one.lead_time, 40, "installation", cover.timing))
    mean = np.asarray(state.demand.forecast_mean, np.float64)
    window = np.concatenate([mean, np.repeat(mean[-1:], 40)])[int(state.time):int(state.time) + 40]
    daily = (window @ mask) / mask.sum(0)
    rule = lambda z, days=None: np.asarray(targets(z, state, one, "installation", cover.timing, days), np.float64)
    np.testing.assert_array_equal(rule(z2, jnp.zeros(3)), rule(z2))  # zero cover days: the rule's targets exactly
    want = window @ mask + np.asarray(c2, np.float64) * daily  # z = 0: the forecast over the window + c days
    got = rule(jnp.zeros(3), c2)
    near_integer = np.abs(want - np.round(want)) < 1e-4  # float32 vs float64 at a ceil boundary
    assert np.all((got == np.ceil(want)) | near_integer) and np.all(got > rule(jnp.zeros(3)))
