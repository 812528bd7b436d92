"""Invariants of the one step: units are conserved, nothing goes negative, caps hold, vmap over
products equals one product at a time, the shared capacity is never exceeded."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sc_jax.env import make_env

T = 20


def random_env(seed, num_products, M=3, backlog=None, shared_capacity=None):
    """(env, params) of `num_products` random chains (lead times 0..5, v0 and v1 mixed)."""
    rng = np.random.default_rng(seed)
    return make_env(
        periods=T, I0=rng.integers(0, 120, (num_products, M)), p=rng.uniform(1, 3, num_products),
        r=rng.uniform(0, 1.5, (num_products, M + 1)), k=rng.uniform(0, 0.3, (num_products, M + 1)),
        h=rng.uniform(0, 0.2, (num_products, M)), c=rng.integers(1, 100, (num_products, M)),
        L=rng.integers(0, 6, (num_products, M)), history_length=5,
        backlog=rng.integers(0, 2, num_products).astype(bool) if backlog is None else backlog,
        alpha=rng.uniform(0.9, 1.0, num_products), demand="poisson",
        demand_params={"mu": rng.uniform(5, 40, num_products)}, shared_capacity=shared_capacity)


def _episode(env, key, p):
    """One product's episode of random actions (negative, fractional and over capacity
    included): (initial state, (info, next state, reward, done) stacked on time)."""
    k_reset, k_act = jax.random.split(key)
    _, state = env.reset(k_reset, p)
    actions = jax.random.uniform(k_act, (T, p.num_stages), minval=-20.0, maxval=150.0)

    def period(state, action):
        _, nxt, reward, done, info = env.step_env(None, state, action, p)
        return nxt, (info, nxt, reward, done)

    return state, jax.lax.scan(period, state, actions)[1]


@partial(jax.jit, static_argnums=0)
def _episodes(env, keys, params):
    return env.vmap_products(lambda k, p: _episode(env, k, p))(keys, params)


def random_episodes(env, params, key):
    """Every product's random episode, vmapped (products see each other when the env couples
    them); keys split from `key`, one per product."""
    return _episodes(env, jax.random.split(key, params.initial_inventory.shape[0]), params)


@pytest.fixture(scope="module")
def uncoupled():
    env, params = random_env(0, 64)
    return env, params, random_episodes(env, params, jax.random.PRNGKey(1))


def test_units_are_conserved(uncoupled):
    _, params, (start, (info, states, _, _)) = uncoupled
    produced = jnp.cumsum(info.accepted[..., -1], axis=1)  # the plant's shipments
    sold = jnp.cumsum(info.sales[..., 0], axis=1)
    refused = jnp.cumsum(info.overflow.sum(-1), axis=1)
    stock = info.on_hand.sum(-1) + info.in_transit.sum(-1)
    initial = start.on_hand.sum(-1)[:, None]
    np.testing.assert_array_equal(initial + produced, sold + stock + refused)
    # the state's views agree with the step's info
    np.testing.assert_array_equal(states.on_hand, info.on_hand)
    np.testing.assert_array_equal(states.in_transit, info.in_transit)
    np.testing.assert_array_equal(states.backlog_units, info.backlogged)


def test_no_negative_stock_and_caps_hold(uncoupled):
    _, params, (start, (info, states, _, _)) = uncoupled
    assert int(info.on_hand.min()) >= 0 and int(states.backlog_units.min()) >= 0
    assert bool(jnp.all(info.accepted <= params.supply_capacity[:, None, :]))
    assert bool(jnp.all(info.accepted <= info.requested))
    # a supplier never ships more than it had before this period's arrivals
    before = jnp.concatenate([start.on_hand[:, None], info.on_hand[:, :-1]], axis=1)
    assert bool(jnp.all(info.accepted[..., :-1] <= before[..., 1:]))
    # backlog only in v0, lost only in v1
    v0 = params.backlog[:, None, None]
    assert bool(jnp.all(jnp.where(v0, info.lost, info.backlogged) == 0))
    assert bool(jnp.all(info.sales[..., 0] <= info.demand + jnp.where(v0[..., 0], 10**6, 0)))
    # finite random actions are valid
    assert not bool(info.invalid_action.any())


def test_vmap_equals_one_product_at_a_time(uncoupled):
    env, params, (_, (info, _, rewards, _)) = uncoupled
    keys = jax.random.split(jax.random.PRNGKey(1), 64)
    single = jax.jit(partial(_episode, env))  # one product, no vmap
    for i in (0, 17, 63):
        p = jax.tree.map(lambda x, i=i: x[i], params)
        _, (info_i, _, rewards_i, _) = single(keys[i], p)
        np.testing.assert_array_equal(np.asarray(info_i.on_hand), np.asarray(info.on_hand[i]))
        np.testing.assert_array_equal(np.asarray(info_i.sales), np.asarray(info.sales[i]))
        np.testing.assert_allclose(np.asarray(rewards_i), np.asarray(rewards[i]), rtol=1e-6, atol=1e-5)


def test_done_and_auto_reset():
    env, params = random_env(3, 1)
    p = jax.tree.map(lambda x: x[0], params)
    obs, state = env.reset(jax.random.PRNGKey(0), p)
    jstep = jax.jit(env.step)
    for t in range(T):
        assert not bool(env.is_terminal(state, p))
        obs, state, reward, done, _ = jstep(jax.random.PRNGKey(t), state, jnp.zeros(3), p)
        assert bool(done) == (t == T - 1)
    assert int(state.time) == 0
    np.testing.assert_array_equal(state.on_hand, p.initial_inventory)
    np.testing.assert_array_equal(obs, env.get_obs(state, p))


@pytest.mark.parametrize("initial_total", [150, 400])
def test_shared_capacity_never_exceeded(initial_total):
    """Initial totals below and above the shared capacity (300 per stage): once at or below the
    capacity the total stays there, and while above it no arrival is accepted."""
    n, cap = 8, 300
    env, params = random_env(5, n, shared_capacity=[cap] * 3)
    assert env.couple_products
    I0 = np.full((n, 3), initial_total // n)
    params = params.replace(initial_inventory=jnp.asarray(I0, jnp.int32))
    start, (info, _, _, _) = random_episodes(env, params, jax.random.PRNGKey(2))
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


def _hamilton(arrivals, room):
    """Reference (NumPy): each product keeps floor(its share) of the room (float32, as the env), the
    whole units left go one each to the largest remainders (to 2**-(30 - b) for up to 2**b
    products, the env's key), ties to the lower index; [P] kept."""
    total = arrivals.sum()
    if total <= room:
        return arrivals.copy()
    fraction = np.float32(room) / np.float32(total) * np.float32(1.0 - 1e-6)
    share = arrivals.astype(np.float32) * fraction
    kept = np.floor(share).astype(np.int64)
    left = int(np.floor(room)) - int(kept.sum())
    bits = min(23, 30 - max(1, (len(arrivals) - 1).bit_length()))
    level = np.floor((share - np.floor(share)) * 2.0 ** bits)
    order = sorted(range(len(arrivals)), key=lambda i: (-level[i], i))
    for i in [i for i in order if kept[i] < arrivals[i]][:left]:
        kept[i] += 1
    return kept


@partial(jax.jit, static_argnums=3)
def _refuse_jitted(on_hand, arrivals, capacity, rule):
    from sc_jax.env.dynamics import _refuse_over_shared_capacity
    from sc_jax.env.types import PRODUCT_AXIS

    class Params:
        shared_capacity = capacity

    return jax.vmap(lambda o, a: _refuse_over_shared_capacity(o, a, Params, rule), axis_name=PRODUCT_AXIS)(
        on_hand, arrivals)


def _refuse_jit(on_hand, arrivals, capacity, rule):
    """(kept, refused) [P, M] of the env's shared-capacity rule `rule`, as NumPy."""
    out = _refuse_jitted(jnp.asarray(on_hand, jnp.int32), jnp.asarray(arrivals, jnp.int32),
                         jnp.asarray(capacity, jnp.float32), rule)
    return [np.asarray(x) for x in out]


def test_overflow_refuses_exactly_the_excess_by_largest_remainders():
    """The default rule (largest_remainder) refuses exactly the arrivals beyond the room (its
    ceiling where the room is fractional), each product keeping its share rounded down or up, the
    extra units to the largest remainders (the NumPy reference, ties to the lower index); "floor"
    keeps the rounded-down shares only: at 200 products arriving 20 each into a room of 3,997 it
    refuses 200 units for an excess of 3."""
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(1, 40))
        arrivals = rng.integers(0, 30, (n, 3))
        arrivals[rng.random((n, 3)) < 0.2] = 0
        on_hand = rng.integers(0, 10, (n, 3))
        capacity = rng.uniform(0, arrivals.sum(0) + on_hand.sum(0) + 5, 3)
        if trial % 5 == 0:  # ties: equal arrivals everywhere
            arrivals[:] = int(rng.integers(1, 25))
        capacity = capacity.astype(np.float32)
        kept, refused = _refuse_jit(on_hand, arrivals, capacity, "largest_remainder")
        floor_kept, _ = _refuse_jit(on_hand, arrivals, capacity, "floor")
        np.testing.assert_array_equal(kept + refused, arrivals)
        for m in range(3):
            room = np.float32(max(capacity[m] - np.float32(on_hand[:, m].sum()), 0.0))
            np.testing.assert_array_equal(kept[:, m], _hamilton(arrivals[:, m], room), err_msg=f"trial {trial}")
            expected = 0 if arrivals[:, m].sum() <= room else arrivals[:, m].sum() - int(np.floor(room))
            assert refused[:, m].sum() == expected
        assert np.all((floor_kept <= kept) & (kept <= floor_kept + 1))
    kept, refused = _refuse_jit(np.zeros((200, 1)), np.full((200, 1), 20), [3997.0], "largest_remainder")
    assert refused.sum() == 3 and refused[:197].sum() == 0  # ties: the highest indices refuse
    assert _refuse_jit(np.zeros((200, 1)), np.full((200, 1), 20), [3997.0], "floor")[1].sum() == 200


def test_overflow_rule_in_the_coupled_step():
    """The env's setting reaches the step: the same coupled episodes under both rules refuse
    exactly the excess (largest_remainder) or more (floor), and units are conserved under both."""
    n, cap = 8, 300
    env, params = random_env(5, n, shared_capacity=[cap] * 3)
    params = params.replace(initial_inventory=jnp.asarray(np.full((n, 3), 20), jnp.int32))
    assert env.overflow_rule == "largest_remainder"
    refused = {}
    for rule in ("largest_remainder", "floor"):
        start, (info, _, _, _) = random_episodes(env.replace(overflow_rule=rule), params, jax.random.PRNGKey(2))
        totals = np.asarray(info.on_hand.sum(0))
        arriving = np.asarray((info.arrivals + info.overflow).sum(0))  # [T, M] before refusal
        before = np.concatenate([np.full((1, 3), 20 * n), totals[:-1]])
        excess = np.maximum(arriving - np.maximum(cap - before, 0), 0)
        over = np.asarray(info.overflow.sum(0))
        if rule == "largest_remainder":
            np.testing.assert_array_equal(over, excess)
        else:
            assert np.all(over >= excess)
        produced = np.asarray(info.accepted[..., -1].sum())
        assert int(20 * n * 3 + produced) == int(info.sales[..., 0].sum() + info.on_hand[:, -1].sum()
                                                  + info.in_transit[:, -1].sum() + info.overflow.sum())
        refused[rule] = int(over.sum())
    assert 0 < refused["largest_remainder"] < refused["floor"]


def test_bad_overflow_rule_is_a_config_error():
    from sc_jax.errors import ConfigError

    env, _ = random_env(5, 2, shared_capacity=[300] * 3)
    with pytest.raises(ConfigError, match="overflow_rule.*largest_remainder"):
        env.replace(overflow_rule="proportional")
    with pytest.raises(ConfigError, match="overflow_rule.*floor"):
        make_env(overflow_rule="round")


def test_relaxed_coupled_step_differentiates_through_an_overflow():
    """The relaxed (float) step of a coupled catalog takes reverse-mode gradients through days
    that overflow (the largest-remainder search sees no tangent) and computes the integer step's
    rewards and refused units."""
    from sc_jax.env.catalog import make_catalog

    env, params = make_catalog(jax.random.PRNGKey(0), 12, shared_capacity=12 * np.array([30.0, 50.0, 70.0]),
                               periods=12)
    keys = jax.random.split(jax.random.PRNGKey(1), 12)

    def episode(env, scale):
        _, start = jax.vmap(env.reset)(keys, params)

        def one(state, p):
            _, state, reward, _, info = env.step_env(None, state, jnp.full((3,), 60.0) * scale, p)
            return state, (reward, info.overflow.sum())

        _, (rewards, refused) = jax.lax.scan(lambda s, _: env.vmap_products(one)(s, params), start, None, length=12)
        return rewards.sum(), refused.sum()

    (value, refused), grad = jax.value_and_grad(lambda x: episode(env.replace(relaxed=True), x), has_aux=True)(1.0)
    exact_value, exact_refused = episode(env, 1.0)
    assert float(refused) == float(exact_refused) > 0
    np.testing.assert_allclose(float(value), float(exact_value), rtol=1e-6)
    assert np.isfinite(float(grad)) and float(grad) != 0.0
