"""The hybrid episode as one jitted scan (sc_jax.hybrid_jax) against the host loop with the daily
MILP (sc_jax.hybrid.run_hybrid): same keys, same costs; vmap over scenarios (sigma, capacity);
a small catalog (6 products, 40 days) so that each compilation stays short."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sc_jax.env.catalog import make_catalog
from sc_jax.env.wrappers import fixed_safety_stock
from sc_jax.errors import ConfigError
from sc_jax.hybrid import make_hybrid_functions, run_hybrid
from sc_jax.hybrid_jax import hybrid_episodes, make_episode, stack_params, sweep_episodes

N, T = 6, 40
SAFETY = jnp.array([4, 12, 12])
TIGHT = [80.0, 150.0, 200.0]  # below the initial stock and the controller's wishes: binds


def catalog(capacity=TIGHT, sigma=4):
    return make_catalog(jax.random.PRNGKey(0), N, shared_capacity=capacity, sigma_max=sigma, periods=T)


@pytest.fixture(scope="module")
def tight():
    env, params = catalog()
    return env, params, make_hybrid_functions(env, params, fixed_safety_stock)


@pytest.mark.parametrize("basis", ["position", "expected", "projected"])
def test_jax_episode_gives_the_daily_milp_cost(tight, basis):
    env, params, fns = tight
    options = {"capacity_basis": basis, "time_limit": 5.0}
    for seed in (1,):  # one key per basis (the suite's time)
        key = jax.random.PRNGKey(seed)
        daily = run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="daily", functions=fns,
                           alloc_options=options)
        jitted = run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="jax", alloc_options=options)
        assert daily.statuses.get("optimal", 0) > 0  # the capacity binds
        assert jitted.statuses == daily.statuses  # binding on the same days
        np.testing.assert_allclose(jitted.cost, daily.cost, rtol=1e-5)  # float32 sums over 40 days
        np.testing.assert_allclose(jitted.holding_cost, daily.holding_cost, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jitted.shortage_cost, daily.shortage_cost, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(jitted.refused_units, daily.refused_units)
        np.testing.assert_allclose(jitted.peak_utilisation, daily.peak_utilisation, rtol=1e-6)
        if basis == "position":
            assert jitted.refused_units.sum() == 0  # the guarantee holds inside jit too


def test_controller_on_the_day_view_equals_the_full_state(tight):
    """The episode gives the order-up-to controller today's forecast window at time 0
    (hybrid_jax._day_view, so that no product's whole forecast is read each day): the same
    wishes as on the full state, on every day of an episode and past its end (padding). If the
    controller starts reading more of the state, this fails first."""
    from sc_jax.hybrid_jax import _day_view
    from sc_jax.policies.order_up_to import forecast_window, order_up_to

    env, params, _ = tight
    env = env.replace(couple_products=False)  # one product alone
    H = env.history_length + 1
    one = jax.tree.map(lambda x: x[0], params)
    _, state = env.reset(jax.random.PRNGKey(3), one)
    safety = jnp.array([3, 9, 14])

    @jax.jit
    def both(state, orders):
        view = _day_view(state, forecast_window(state.demand.forecast_mean, state.time, H),
                         forecast_window(state.demand.forecast_std, state.time, H))
        return order_up_to(safety, state, one), order_up_to(safety, view, one), \
            env.step_env(None, state, orders, one)[1]

    rng = np.random.default_rng(0)
    for t in range(T):
        full, viewed, state = both(state, jnp.asarray(rng.integers(0, 60, 3), jnp.int32))
        np.testing.assert_array_equal(viewed, full)
    for t in (T, T + env.forecast_window - 2, T + env.forecast_window + 5):  # past the end: the last day repeated
        full, viewed, _ = both(state.replace(time=jnp.int32(t)), jnp.zeros(3, jnp.int32))
        np.testing.assert_array_equal(viewed, full)


def test_scenarios_and_samples_in_one_call():
    """vmap over scenarios (sigma, capacity per product) x samples = each scenario on its own,
    and each sample = run_hybrid with its key."""
    env, low = catalog(sigma=2)
    _, high = catalog(capacity=[100.0, 170.0, 230.0], sigma=5)
    keys = jax.random.split(jax.random.PRNGKey(9), 2)
    sweep = sweep_episodes(env, fixed_safety_stock)
    stats = sweep(SAFETY, stack_params([low, high]), keys, 1e-3)
    assert stats.cost.shape == (2, 2, N) and stats.binding_days.shape == (2, 2)
    batch = hybrid_episodes(env, fixed_safety_stock)
    for c, params in enumerate((low, high)):
        alone = batch(SAFETY, params, keys, 1e-3)
        np.testing.assert_allclose(stats.cost[c], alone.cost, rtol=1e-6)
        np.testing.assert_array_equal(stats.binding_days[c], alone.binding_days)
    one = run_hybrid(env, high, fixed_safety_stock, SAFETY, keys[1], allocation="jax")
    np.testing.assert_allclose(one.cost, stats.cost[1, 1], rtol=1e-6)
    assert one.statuses.get("optimal", 0) == int(stats.binding_days[1, 1])


def test_no_capacity_stage_equals_the_host_loop(tight):
    env, params, fns = tight
    key = jax.random.PRNGKey(4)
    host = run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="none", functions=fns)
    stats = hybrid_episodes(env, fixed_safety_stock, allocation="none")(SAFETY, params, key[None], 1e-3)
    np.testing.assert_allclose(stats.cost[0], host.cost, rtol=1e-5)
    np.testing.assert_array_equal(stats.refused_units[0], host.refused_units)
    assert host.refused_units.sum() > 0 and int(stats.binding_days[0]) == 0


def test_errors_name_the_field(tight):
    env, params, _ = tight
    key = jax.random.PRNGKey(0)
    with pytest.raises(ConfigError, match=r"^'max_segments' must be an integer >= 1 for allocation 'jax'"):
        run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="jax", alloc_options={"max_segments": None})
    with pytest.raises(ConfigError, match=r"^'options' of method 'jax' must be among .*got unknown 'foo'$"):
        run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="jax", alloc_options={"foo": 1})
    with pytest.raises(ConfigError, match=r"^'capacity_basis' must be one of \('position', 'expected', 'projected'\), got 'x'$"):
        run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="jax", alloc_options={"capacity_basis": "x"})
    with pytest.raises(ConfigError, match=r"^'allocation' must be one of \('jax', 'none'\), got 'daily'$"):
        make_episode(env, fixed_safety_stock, allocation="daily")
    with pytest.raises(ConfigError, match=r"^'action_frequency' must be an integer >= 1, got 0$"):
        make_episode(env, fixed_safety_stock, action_frequency=0)
    uncoupled_env, _ = make_catalog(jax.random.PRNGKey(0), N, periods=T)
    with pytest.raises(ConfigError, match="shared capacity"):
        make_episode(uncoupled_env, fixed_safety_stock)


@pytest.mark.slow  # ~50 s of compilation; the JAX episode = the daily MILP is tested above
def test_experiment_runs_on_the_jax_path(tmp_path):
    """experiments/hybrid.py with alloc=jax (all episodes of a sigma level in one call) gives the
    daily MILP's costs on the same samples."""
    import importlib

    from tests.hydra_config import compose_config
    from tests.test_hybrid_entry import TINY

    hybrid = importlib.import_module("experiments.hybrid")
    methods = ["methods=[static+alloc,zero_safety+alloc]", "sigma_levels=[5]"]
    daily = hybrid.run(compose_config("hybrid", TINY + methods), run_dir=tmp_path / "daily")
    jitted = hybrid.run(compose_config("hybrid", TINY + methods + ["alloc=jax"]), run_dir=tmp_path / "jax")
    assert jitted["alloc"]["method"] == "jax" and jitted["alloc"]["capacity_basis"] == "expected"
    for method in ("static+alloc", "zero_safety+alloc"):
        for sigma in (5,):
            a, b = daily["table"][method][sigma], jitted["table"][method][sigma]
            np.testing.assert_allclose(b["total_cost_per_episode"], a["total_cost_per_episode"], rtol=1e-5)
            assert b["statuses"].get("optimal", 0) == a["statuses"].get("optimal", 0)


@pytest.mark.parametrize("semantics, timing", [("exact", "before_arrivals"), ("sample", "after_arrivals")])
def test_episode_notebook_cost_is_the_reproductions(semantics, timing):
    """EpisodeStats.notebook_cost (the hybrid sample's notebook metric, days >= 20) equals the
    hybrid reproduction's daily runner's on the same episodes (hybrid_keys: the same paths), the
    sigma rule in both (as the controller's safety stock here, its own orders there), under both
    semantics: with the sample's timing the controller's supplier cap counts today's arrivals as
    the rule's does, so what the ES brains train on (this episode) is what they deploy."""
    import sc_jax
    from sc_jax.hybrid_reproduction import hybrid_keys, make_daily_runner, method_params
    from sc_jax.policies.sigma_rule import sigma_rule_safety_policy
    from sc_jax.sample_metrics import NOTEBOOK_FIRST_DAY

    env, one = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=4, semantics=semantics, periods=T)
    params = jax.tree.map(lambda x: jnp.stack([x, x]), one)  # two uncoupled products
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    z = jnp.array([1.5, 1.0, 0.5], jnp.float32)
    stats = hybrid_episodes(env, sigma_rule_safety_policy("installation", timing), allocation="none",
                            action_frequency=1)(z, params, keys)
    reset_keys, act_keys = hybrid_keys(keys, 2)
    runner = make_daily_runner(env, None, timing=timing)
    out = runner(method_params("sigma_rule", 3, z=z), params, reset_keys, act_keys)
    np.testing.assert_allclose(stats.cost, out.cost, rtol=1e-5)
    np.testing.assert_allclose(stats.notebook_cost, np.asarray(out.notebook_day)[NOTEBOOK_FIRST_DAY:].sum(0),
                               rtol=1e-5)
    assert np.all(np.asarray(stats.notebook_cost) > 0)
