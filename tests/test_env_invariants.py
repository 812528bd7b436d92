"""Invariants of the one step: units are conserved, nothing goes negative, caps hold, vmap over
products equals one product at a time, the shared capacity is never exceeded."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sc_jax.env import PRODUCT_AXIS, make_params, reset, step, step_env

T = 20


def random_params(seed, num_products, M=3, backlog=None, shared_capacity=None):
    rng = np.random.default_rng(seed)
    return make_params(
        periods=T, I0=rng.integers(0, 120, (num_products, M)), p=rng.uniform(1, 3, num_products),
        r=rng.uniform(0, 1.5, (num_products, M + 1)), k=rng.uniform(0, 0.3, (num_products, M + 1)),
        h=rng.uniform(0, 0.2, (num_products, M)), c=rng.integers(1, 100, (num_products, M)),
        L=rng.integers(0, 6, (num_products, M)), history_length=5,
        backlog=rng.integers(0, 2, num_products).astype(bool) if backlog is None else backlog,
        alpha=rng.uniform(0.9, 1.0, num_products), demand="poisson",
        demand_params={"mu": rng.uniform(5, 40, num_products)}, shared_capacity=shared_capacity)


def rollout(params, key, coupled=False):
    """Random actions (negative, fractional and over capacity included) for T periods.
    Returns the initial state and the per-period StepInfo / states, stacked on time."""
    M = params.num_stages

    def episode(key, p):
        k_reset, k_act = jax.random.split(key)
        _, state = reset(k_reset, p)
        actions = jax.random.uniform(k_act, (T, M), minval=-20.0, maxval=150.0)

        def period(state, action):
            _, nxt, reward, done, info = step_env(None, state, action, p)
            return nxt, (info, nxt, reward, done)

        return state, jax.lax.scan(period, state, actions)[1]

    keys = jax.random.split(key, params.initial_inventory.shape[0])
    vm = jax.vmap(episode, axis_name=PRODUCT_AXIS) if coupled else jax.vmap(episode)
    return jax.jit(vm)(keys, params)


@pytest.fixture(scope="module")
def uncoupled():
    params = random_params(0, 64)
    return params, rollout(params, jax.random.PRNGKey(1))


def test_units_are_conserved(uncoupled):
    params, (start, (info, states, _, _)) = uncoupled
    produced = jnp.cumsum(info.accepted[..., -1], axis=1)  # the plant's shipments
    sold = jnp.cumsum(info.sales[..., 0], axis=1)
    refused = jnp.cumsum(info.overflow.sum(-1), axis=1)
    stock = info.on_hand.sum(-1) + info.in_transit.sum(-1)
    initial = start.on_hand.sum(-1)[:, None]
    np.testing.assert_array_equal(initial + produced, sold + stock + refused)


def test_no_negative_stock_and_caps_hold(uncoupled):
    params, (start, (info, states, _, _)) = uncoupled
    assert int(info.on_hand.min()) >= 0 and int(states.backlog.min()) >= 0
    assert bool(jnp.all(info.accepted <= params.supply_capacity[:, None, :]))
    assert bool(jnp.all(info.accepted <= info.requested))
    # a supplier never ships more than it had before this period's arrivals
    before = jnp.concatenate([start.on_hand[:, None], info.on_hand[:, :-1]], axis=1)
    assert bool(jnp.all(info.accepted[..., :-1] <= before[..., 1:]))
    # backlog only in v0, lost only in v1
    v0 = params.backlog[:, None, None]
    assert bool(jnp.all(jnp.where(v0, info.lost, info.backlogged) == 0))
    assert bool(jnp.all(info.sales[..., 0] <= info.demand + jnp.where(v0[..., 0], 10**6, 0)))


def test_vmap_equals_one_product_at_a_time(uncoupled):
    params, (_, (info, _, rewards, _)) = uncoupled
    keys = jax.random.split(jax.random.PRNGKey(1), 64)
    for i in (0, 17, 63):
        one = jax.tree.map(lambda x: x[i:i + 1], params)
        _, (info_i, _, rewards_i, _) = _single(one, keys[i])
        np.testing.assert_array_equal(np.asarray(info_i.on_hand), np.asarray(info.on_hand[i]))
        np.testing.assert_allclose(np.asarray(rewards_i), np.asarray(rewards[i]), rtol=1e-6, atol=1e-5)


def _single(params_one, key):
    """The same episode for one product, without vmap."""
    p = jax.tree.map(lambda x: x[0], params_one)
    M = p.num_stages
    k_reset, k_act = jax.random.split(key)
    _, state = reset(k_reset, p)
    actions = jax.random.uniform(k_act, (T, M), minval=-20.0, maxval=150.0)
    infos, rewards = [], []
    for t in range(T):
        _, state, reward, _, info = step_env(None, state, actions[t], p)
        infos.append(info)
        rewards.append(reward)
    info = jax.tree.map(lambda *x: jnp.stack(x), *infos)
    return state, (info, None, jnp.stack(rewards), None)


def test_done_and_auto_reset():
    params = random_params(3, 1)
    p = jax.tree.map(lambda x: x[0], params)
    obs, state = reset(jax.random.PRNGKey(0), p)
    jstep = jax.jit(step)
    for t in range(T):
        obs, state, reward, done, _ = jstep(jax.random.PRNGKey(t), state, jnp.zeros(3), p)
    assert bool(done) and int(state.time) == 0
    np.testing.assert_array_equal(state.on_hand, p.initial_inventory)


@pytest.mark.parametrize("initial_total", [150, 400])
def test_shared_capacity_never_exceeded(initial_total):
    """Initial totals below and above the shared capacity (300 per stage): once at or below the
    capacity the total stays there, and while above it no arrival is accepted."""
    n, cap = 8, 300
    params = random_params(5, n, shared_capacity=[cap] * 3)
    I0 = np.full((n, 3), initial_total // n)
    params = params.replace(initial_inventory=jnp.asarray(I0, jnp.int32))
    start, (info, _, _, _) = rollout(params, jax.random.PRNGKey(2), coupled=True)
    totals = np.asarray(info.on_hand.sum(0))  # [T, M] over products
    arrivals = np.asarray(info.arrivals.sum(0))
    before = np.concatenate([I0.sum(0)[None], totals[:-1]])
    assert np.all((before > cap) <= (arrivals == 0))
    assert np.all(before + arrivals <= np.maximum(before, cap))
    assert np.all(totals <= np.maximum(before, cap))
    util = np.asarray(info.shared_utilisation[0])
    np.testing.assert_allclose(util, totals / cap, rtol=1e-6)
    # units refused are reported and conserved
    produced = np.asarray(info.accepted[..., -1].sum())
    assert int(I0.sum() + produced) == int(info.sales[..., 0].sum() + info.on_hand[:, -1].sum()
                                           + info.in_transit[:, -1].sum() + info.overflow.sum())
    if initial_total > cap:
        assert int(info.overflow.sum()) > 0
