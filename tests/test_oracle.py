"""The perfect-information bound: exact on replay, above every policy, near the LP reference."""
import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.env import make_env, rollout
from sc_jax.errors import ConfigError
from sc_jax.evaluate import demand_paths, evaluate
from sc_jax.oracle import build_model, oracle_rewards, solve_path
from sc_jax.policies import SafetyRange, base_stock, constant_order, random_safety_stock

PERIODS = 8


def replay_order(orders, state, params, key):
    """Policy that plays a fixed order schedule [T, M]."""
    del params, key
    return orders[state.time]


@partial(jax.jit, static_argnums=0)
def _replay_rewards(env, orders, params, paths):
    """orders [P, S, T, M], paths [P, S, T], params with product axis -> env rewards [P, S],
    through the one rollout (given paths, one order schedule per sample)."""
    def one_product(o, p, path):
        demand = jax.vmap(env.stationary_path, in_axes=(0, None))(path, p)
        return rollout(env, replay_order, o, p, demand=demand, policy_batched=True)[0]
    return jax.vmap(one_product)(orders, params, paths)


def random_instances(num_products=6, seed=0):
    """A batch of random chains (lead times 0..3, capacities, costs, v0 and v1) and paths."""
    rng = np.random.default_rng(seed)
    P = num_products
    env, params = make_env(
        periods=PERIODS, I0=rng.integers(0, 60, (P, 3)), p=rng.uniform(1.0, 3.0, P),
        r=np.sort(rng.uniform(0.2, 1.5, (P, 4)), axis=1)[:, ::-1], k=rng.uniform(0.0, 0.5, (P, 4)),
        h=rng.uniform(0.01, 0.3, (P, 3)), c=rng.integers(5, 40, (P, 3)), L=rng.integers(0, 4, (P, 3)),
        backlog=np.arange(P) % 2 == 0, alpha=rng.uniform(0.9, 1.0, P), history_length=3)
    paths = rng.poisson(rng.uniform(5, 25, (P, 1, 1)), (P, 12, PERIODS))
    return env, params, paths


@pytest.fixture(scope="module")
def instances():
    env, params, paths = random_instances()
    P, S, T = paths.shape
    models = [build_model(env, jax.tree.map(lambda x, p=p: x[p], params)) for p in range(P)]
    solutions = [[solve_path(models[p], paths[p, s]) for s in range(S)] for p in range(P)]
    bound = np.array([[sol.reward for sol in row] for row in solutions])
    orders = np.array([[sol.orders for sol in row] for row in solutions])
    return env, params, paths, bound, orders


def test_lp_reward_equals_env_reward_replaying_its_orders(instances):
    env, params, paths, bound, orders = instances
    assert np.all(orders == np.round(orders)) and np.all(orders >= 0)
    replayed = np.asarray(_replay_rewards(env, jnp.asarray(orders, jnp.int32), params,
                                          jnp.asarray(paths, jnp.int32)))
    np.testing.assert_allclose(replayed, bound, rtol=1e-5, atol=2e-3)
    # oracle_rewards on the batch gives the same bound
    np.testing.assert_allclose(oracle_rewards(env, params, paths[:, :2]), bound[:, :2], atol=1e-6)


def test_bound_above_every_policy_on_every_path(instances):
    env, params, paths, bound, _ = instances
    rng = np.random.default_rng(1)
    P = paths.shape[0]
    tol = 2e-3 + 1e-5 * np.abs(bound)
    for _ in range(3):
        levels = jnp.asarray(np.cumsum(rng.integers(0, 80, (P, 3)), axis=1), jnp.float32)
        r = evaluate(env, base_stock, levels, params, demand=paths, policy_batched=True)
        assert np.all(np.asarray(r.reward) <= bound + tol)
        quantity = jnp.asarray(rng.integers(0, 30, (P, 3)), jnp.int32)
        r = evaluate(env, constant_order, quantity, params, demand=paths, policy_batched=True)
        assert np.all(np.asarray(r.reward) <= bound + tol)
    safety = SafetyRange(jnp.zeros(3, jnp.int32), jnp.full(3, 30, jnp.int32))
    r = evaluate(env, random_safety_stock, safety, params, jax.random.PRNGKey(5), demand=paths)
    assert np.all(np.asarray(r.reward) <= bound + tol)


def test_lp_relaxation_bounds_the_milp(instances):
    env, params, paths, bound, _ = instances
    relaxed = oracle_rewards(env, params, paths[:, :3], integer=False)
    assert relaxed.shape == (paths.shape[0], 3)
    assert np.all(relaxed >= bound[:, :3] - 1e-6)


@pytest.mark.parametrize("name, reference", [("orgym_v0", 562.0), ("orgym_v1", 556.0)])
def test_orgym_defaults_match_lp_reference(name, reference):
    """Over 200 Poisson(20) paths the bound lands within 1.5% of the LP reference (562 / 556,
    standard error about 2); OR-Gym's own oracle averaged 546.8 / 542.7 over only 10 paths."""
    env, params = sc_jax.make(name)
    paths = demand_paths(env, params, jax.random.PRNGKey(2024), 200)[0]
    bound = oracle_rewards(env, params, paths, integer=False)  # LP: equal to the MILP here, 2x faster
    assert abs(bound.mean() - reference) < 0.015 * reference
    # integer orders on a few paths give the same value and replay exactly in the env
    model = build_model(env, params)
    for i, path in enumerate(paths[:2]):
        sol = solve_path(model, path)
        assert sol.reward == pytest.approx(bound[i], abs=1e-6)
        replayed = evaluate(env, replay_order, jnp.asarray(sol.orders, jnp.int32), params, demand=path[None])
        assert float(replayed.reward[0, 0]) == pytest.approx(sol.reward, rel=1e-5)


def test_oracle_errors():
    coupled_env, coupled = make_env(I0=np.full((2, 3), 50), shared_capacity=(100, 100, 100))
    with pytest.raises(ConfigError, match="shared capacity"):
        oracle_rewards(coupled_env, coupled, np.zeros((2, 1, 30), int))
    env, params = make_env()
    with pytest.raises(ConfigError, match="shape"):
        solve_path(build_model(env, params), np.zeros(29))
    env, two = make_env(demand_params={"mu": np.array([5.0, 6.0])})
    with pytest.raises(ConfigError, match=r"\[S, T\]"):
        oracle_rewards(env, two, np.zeros((3, 30)))


def test_bound_starts_from_each_episodes_drawn_initial_stock():
    """hybrid_sample draws each episode's on hand (5..9 per stage) with its demand: the bound
    solves from DemandPath.initial_on_hand, and replaying its orders from env.reset(key) (the
    same drawn stock) gives exactly the bound; params.initial_inventory (5) alone would not."""
    from sc_jax.env.rollout import sample_paths

    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=4, semantics="exact", periods=30)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    paths = jax.device_get(sample_paths(env, params, keys))
    stock = np.asarray(paths.initial_on_hand)
    assert np.any(stock != np.asarray(params.initial_inventory))  # drawn, not the params' 5s
    bound = oracle_rewards(env, params, paths)  # a DemandPath: its drawn initial stock
    explicit = oracle_rewards(env, params, paths.actual, initial_on_hand=stock)
    np.testing.assert_allclose(bound, explicit, atol=1e-9)
    ignoring = oracle_rewards(env, params, paths.actual)  # the params' initial stock
    assert np.any(np.abs(bound - ignoring) > 1e-6)
    model = build_model(env, params)
    for i in range(len(keys)):
        sol = solve_path(model, paths.actual[i], initial_on_hand=stock[i])
        assert sol.reward == pytest.approx(bound[i], abs=1e-9)
        reward, _, _ = rollout(env, replay_order, jnp.asarray(sol.orders, jnp.int32), params, keys[i:i + 1])
        assert float(reward[0]) == pytest.approx(sol.reward, rel=1e-5, abs=1e-4)
    with pytest.raises(ConfigError, match="initial_on_hand"):
        solve_path(model, paths.actual[0], initial_on_hand=[1.0, 2.0])


def test_sample_semantics_bound_replays_exactly_and_bounds_every_policy():
    """Under the hybrid sample's supply rule (a supplier's shortfall still arrives, charged its k)
    the oracle's orders replayed through the env give exactly its optimum, on random chains (lead
    times 0..3, tight supplier stock, v0 and v1) and on hybrid_sample from each episode's drawn
    stock; the bound is above every policy, and a supplier's unfilled share is charged."""
    from sc_jax.env.rollout import sample_paths

    env, params, paths = random_instances(num_products=4, seed=5)
    env = dataclasses.replace(env, supply_semantics="sample")
    paths = paths[:, :4]
    P, S, _ = paths.shape
    models = [build_model(env, jax.tree.map(lambda x, p=p: x[p], params)) for p in range(P)]
    solutions = [[solve_path(models[p], paths[p, i]) for i in range(S)] for p in range(P)]
    bound = np.array([[sol.reward for sol in row] for row in solutions])
    orders = jnp.asarray(np.array([[sol.orders for sol in row] for row in solutions]), jnp.int32)
    replayed = np.asarray(_replay_rewards(env, orders, params, jnp.asarray(paths, jnp.int32)))
    np.testing.assert_allclose(replayed, bound, rtol=1e-5, atol=2e-3)
    shortfall = np.array([[sol.supplier_unfilled.sum() for sol in row] for row in solutions])
    assert np.all(shortfall >= -1e-9) and np.any(shortfall > 0.5)  # orders beyond a supplier's stock occur
    for policy, policy_params in ((constant_order, jnp.full((P, 3), 12.0)),):
        def one_product(pp, p, path):
            demand = jax.vmap(env.stationary_path, in_axes=(0, None))(path, p)
            return rollout(env, policy, pp, p, demand=demand)[0]
        rewards = np.asarray(jax.vmap(one_product)(policy_params, params, jnp.asarray(paths, jnp.int32)))
        assert np.all(rewards <= bound + 1e-3)
    exact_env = dataclasses.replace(env, supply_semantics="exact")
    exact_bound = oracle_rewards(exact_env, params, paths)
    assert not np.allclose(exact_bound, bound)  # the supply rule matters on these chains

    sample_env, sample_params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=4, semantics="sample",
                                            periods=30)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    drawn = jax.device_get(sample_paths(sample_env, sample_params, keys))
    model = build_model(sample_env, sample_params)
    for i in range(len(keys)):
        sol = solve_path(model, drawn.actual[i], initial_on_hand=drawn.initial_on_hand[i])
        assert sol.supplier_unfilled.shape == (30, 2) and np.all(sol.supplier_unfilled >= -1e-9)
        reward, _, _ = rollout(sample_env, replay_order, jnp.asarray(sol.orders, jnp.int32), sample_params,
                               keys[i:i + 1])
        assert float(reward[0]) == pytest.approx(sol.reward, rel=1e-5, abs=1e-4)


def test_safety_bound_uses_each_episodes_drawn_initial_stock():
    """sc_jax.agents.safety_bound (the brains' bound) solves from the stock each episode drew,
    as the policies it is compared with start from it: it equals oracle_rewards on the same
    DemandPath, and lies at or below the cost of a policy on every path."""
    from sc_jax.agents import safety_bound
    from sc_jax.env.rollout import sample_paths
    from sc_jax.env.wrappers import SafetyStockEnv, with_scenario
    from sc_jax.evaluate import scenario_costs

    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, semantics="exact", periods=30)
    safety_env = SafetyStockEnv(env, action_frequency=10)
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    bound = safety_bound(safety_env, params, 100.0, [4], keys)  # [1, S]
    at_4 = with_scenario(params, 100.0, 4.0)
    paths = jax.device_get(sample_paths(env, at_4, keys))
    np.testing.assert_allclose(bound[0], -oracle_rewards(env, at_4, paths), atol=1e-9)
    policy = scenario_costs(safety_env, lambda p, s, e, k: p, jnp.array([4, 12, 12]),
                            jax.tree.map(lambda x: x[None], at_4), keys)[0]
    assert np.all(bound[0] <= policy + 1e-6)


# --- products sharing capacity (coupled_oracle_rewards) ----------------------------------------

def _coupled_catalog(capacity_per_sku, semantics="exact"):
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog

    return hybrid_sample_catalog(num_skus=3, cost_ratio=100.0, semantics=semantics, sigma_max=2,
                                 capacity_per_sku=capacity_per_sku, periods=30)


def _catalog_paths(env, params, samples=2):
    """Each product's demand path and drawn initial stock, batched [N, S]."""
    keys = jax.random.split(jax.random.PRNGKey(7), samples * 3).reshape(3, samples, 2)
    states = jax.vmap(lambda k, p: jax.vmap(lambda kk: env.reset(kk, p)[1])(k))(keys, params)
    return jax.tree.map(np.asarray, states.demand)


@pytest.mark.parametrize("semantics", ["exact", "sample"])
def test_coupled_bound_without_binding_capacity_is_the_sum_of_the_products(semantics):
    from sc_jax.oracle import coupled_oracle_rewards

    env, params = _coupled_catalog(1000.0, semantics)
    paths = _catalog_paths(env, params)
    coupled = coupled_oracle_rewards(env, params, paths)
    alone = oracle_rewards(env.replace(couple_products=False), params, paths.actual, integer=False,
                           initial_on_hand=paths.initial_on_hand)
    np.testing.assert_allclose(coupled, alone.sum(0), rtol=1e-7, atol=1e-6)


def test_coupled_bound_below_every_policy_and_binding():
    """Tight capacity (8 per SKU and stage): the LP bound is below the cost of constant orders on
    every path (their arrivals refused and charged where they do not fit), and above the
    uncoupled products' bound (the capacity costs). MIP-mixed: tests/test_scripts.py."""
    from sc_jax.oracle import coupled_oracle_rewards

    env, params = _coupled_catalog(8.0)
    keys = jax.random.split(jax.random.PRNGKey(7), 6).reshape(3, 2, 2)
    paths = _catalog_paths(env, params)
    bound = -coupled_oracle_rewards(env, params, paths)
    alone = -oracle_rewards(env.replace(couple_products=False), params, paths.actual, integer=False,
                            initial_on_hand=paths.initial_on_hand).sum(0)
    assert np.all(bound > alone + 1.0), (bound, alone)  # the shared capacity binds

    @jax.jit
    def constant_cost(order):  # [samples]: every product orders `order` at every stage every day
        def one(key_row):
            state = jax.vmap(lambda k, p: env.reset(k, p)[1])(key_row, params)

            def day(state, _):
                step = lambda s, p: env.step_env(None, s, jnp.full((3,), order), p)
                _, state, reward, _, _ = env.vmap_products(step)(state, params)
                return state, -reward.sum()
            return jax.lax.scan(day, state, None, length=env.periods)[1].sum()
        return jax.vmap(one, in_axes=1)(keys)

    for order in (0, 3, 6, 12):
        assert np.all(bound <= np.asarray(constant_cost(order)) + 1e-3), order


def test_coupled_bound_errors():
    from sc_jax.oracle import coupled_oracle_rewards

    env, params = _coupled_catalog(8.0)
    paths = _catalog_paths(env, params)
    with pytest.raises(ConfigError, match=r"^build_coupled_model needs products sharing capacity"):
        coupled_oracle_rewards(env.replace(couple_products=False), params, paths)
    with pytest.raises(ConfigError, match=r"^paths must be \[N, S, T\] with N=3 products"):
        coupled_oracle_rewards(env, params, paths.actual[:2])
    with pytest.raises(ConfigError, match=r"^'time_limit' must be None or a number > 0 \(seconds\), got -1"):
        coupled_oracle_rewards(env, params, paths, time_limit=-1)
    with pytest.raises(ConfigError, match=r"^'integer' must be True or False, got 'yes'"):
        coupled_oracle_rewards(env, params, paths, integer="yes")
