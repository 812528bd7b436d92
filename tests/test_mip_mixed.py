"""MIP with mixed cost (sc_jax.alloc.mip_mixed, sc_jax.mip_mixed): the rolling model against brute
force on tiny instances, coupling that never binds, the deterministic fallback, and the episode
runner (common random numbers, forecast alignment)."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.alloc import mip_mixed as mm
from sc_jax.alloc.mip_mixed import MixedCostProblem, solve_mixed
from sc_jax.errors import ConfigError


def simulate_plan(orders, on_hand, arrivals, mean, h, k, L, timing, target=None, penalty=None):
    """Cost of an integer order plan {(i, t, j): units} under the model's dynamics (sales forced:
    min(stock, mean)); None when a supplier would ship more than it can (the model never plans
    a supplier shortfall). Returns (cost, per-day [I_before + A] per product, per-day I_after)."""
    N, M = on_hand.shape
    H = mean.shape[1]
    stock = on_hand.astype(float).copy()
    cost, before_plus_arrivals, after = 0.0, [], []
    missed_so_far = np.zeros(N)
    for t in range(H):
        before = stock.copy()
        arr = arrivals[:, t].astype(float).copy()
        for (i, tau, j), q in orders.items():
            if tau + L[j] == t:
                arr[i, j] += q
        before_plus_arrivals.append(before + arr)
        stock = before + arr
        for (i, tau, j), q in orders.items():
            if tau == t and j < M - 1:
                if timing == "before_arrivals" and q > before[i, j + 1]:
                    return None
                stock[i, j + 1] -= q
        if np.any(stock[:, 1:] < 0):
            return None
        sales = np.minimum(stock[:, 0], mean[:, t])
        stock[:, 0] -= sales
        cost += float((h * stock).sum() + (k * (mean[:, t] - sales)).sum())
        if target is not None:  # soft safety target from day L_j on
            if t >= L[0]:
                missed_so_far = missed_so_far + (mean[:, t] - sales)
            level = stock.copy()
            level[:, 0] -= missed_so_far  # the retailer's net stock (missed sales as if backlogged)
            short = np.maximum(target - level, 0.0) * (t >= np.asarray(L))[None, :] * (target > 0)
            cost += float((penalty[:, None] * short).sum())
        after.append(stock.copy())
    return cost, np.array(before_plus_arrivals), np.array(after)


def brute_force(problem, capacity_row="env"):
    N, H, M = problem.shape
    L = problem.lead_times
    free = [(i, t, j) for i in range(N) for t in range(H) for j in range(M) if t + L[j] < H]
    upper = []
    for i, t, j in free:
        u = problem.supply_capacity[i, j]
        if t == 0 and j < M - 1:
            if problem.timing == "before_arrivals":
                u = min(u, problem.on_hand[i, j + 1])
            if problem.first_day_supply is not None:
                u = min(u, problem.first_day_supply[i, j + 1])
        upper.append(int(u))
    best = None
    for combo in itertools.product(*[range(u + 1) for u in upper]):
        plan = dict(zip(free, combo))
        out = simulate_plan(plan, problem.on_hand, problem.arrivals, problem.forecast_mean,
                            problem.holding_cost, problem.shortage_cost, L, problem.timing,
                            problem.safety_target, problem.safety_penalty)
        if out is None:
            continue
        cost, before_plus, after = out
        if problem.capacity is not None:
            if capacity_row == "env":
                load = before_plus.sum(axis=1)  # [H, M]
                ok = np.all(load <= problem.capacity[None] + 1e-9)
            else:
                arr_only = before_plus - np.concatenate([problem.on_hand[None], after[:-1]])  # arrivals
                load = (after + arr_only).sum(axis=1)
                mask = np.arange(H)[:, None] > L[None, :]
                ok = np.all((load <= problem.capacity[None] + 1e-9) | ~mask)
            if not ok:
                continue
        if best is None or cost < best - 1e-9:
            best = cost
    return best


def random_problem(rng, N=1, M=2, H=3, L=None, timing="after_arrivals", capacity=None, first_day_supply=False):
    L = np.asarray(L if L is not None else rng.integers(1, 3, size=M))
    arrivals = np.zeros((N, H, M), np.int64)
    for j in range(M):
        arrivals[:, : L[j], j] = rng.integers(0, 3, size=(N, L[j]))
    on_hand = rng.integers(0, 4, size=(N, M))
    k = rng.uniform(0.5, 2.0, size=N)
    return MixedCostProblem(
        on_hand=on_hand, arrivals=arrivals, forecast_mean=rng.integers(0, 4, size=(N, H)),
        holding_cost=rng.uniform(0.05, 0.6, size=(N, M)), shortage_cost=k,
        supply_capacity=rng.integers(2, 5, size=(N, M)), lead_times=L, capacity=capacity,
        timing=timing, first_day_supply=rng.integers(0, 3, size=(N, M)) if first_day_supply else None)


@pytest.mark.parametrize("timing", ["after_arrivals", "before_arrivals"])
@pytest.mark.parametrize("M,H", [(1, 2), (1, 3), (2, 2), (2, 3)])
def test_rolling_milp_matches_brute_force(timing, M, H):
    rng = np.random.default_rng(100 * M + H + (7 if timing == "before_arrivals" else 0))
    for trial in range(6):
        problem = random_problem(rng, M=M, H=H, L=rng.integers(1, H, size=M), timing=timing,
                                 first_day_supply=trial % 2 == 1)
        result = solve_mixed(problem, time_limit=None)
        assert result.status == "optimal" and not result.fallback
        best = brute_force(problem)
        assert result.objective == pytest.approx(best, abs=1e-7)
        # the executed day-0 orders start an optimal plan: fixing them, the rest re-optimised by brute force
        assert result.orders.shape == (1, M) and result.orders.dtype == np.int64


@pytest.mark.parametrize("timing", ["after_arrivals", "before_arrivals"])
def test_soft_safety_target_matches_brute_force_and_zero_target_changes_nothing(timing):
    rng = np.random.default_rng(11 if timing == "after_arrivals" else 12)
    binding = 0
    for trial in range(8):
        M, H = (1, 3) if trial % 2 else (2, 3)
        base = random_problem(rng, M=M, H=H, L=rng.integers(1, H, size=M), timing=timing)
        target = rng.integers(0, 4, size=(1, M))
        penalty = rng.uniform(0.1, 3.0, size=1)
        problem = MixedCostProblem(**{**base.__dict__, "safety_target": target, "safety_penalty": penalty})
        result = solve_mixed(problem, time_limit=None)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(brute_force(problem), abs=1e-7)
        plain = solve_mixed(base, time_limit=None)
        binding += int(result.objective > plain.objective + 1e-9)  # the target cost something
        zero = solve_mixed(MixedCostProblem(**{**base.__dict__, "safety_target": np.zeros((1, M)),
                                                "safety_penalty": penalty}), time_limit=None)
        assert zero.objective == pytest.approx(plain.objective, abs=1e-9)
        np.testing.assert_array_equal(zero.orders, plain.orders)
    assert binding >= 2


def test_soft_safety_target_is_held_when_cheaper_than_the_shortfall():
    # one stage, lead time 1, nothing in stock or transit: a target of 5 from day 1 on, each unit
    # short costing 10 against a holding cost of 0.1, so the plan orders the mean plus the target
    problem = MixedCostProblem(on_hand=[[0]], arrivals=np.zeros((1, 4, 1)), forecast_mean=[[2, 2, 2, 2]],
                               holding_cost=[[0.1]], shortage_cost=[1.0], supply_capacity=[[50]], lead_times=[1],
                               safety_target=[[5]], safety_penalty=[10.0])
    result = solve_mixed(problem, time_limit=None)
    assert result.orders.tolist() == [[7]]  # day 1's demand (2) + the target (5)
    assert result.objective == pytest.approx(2 * 1.0 + 3 * 5 * 0.1)  # day 0's missed mean, 3 days x 5 held
    with pytest.raises(ConfigError, match="safety_penalty"):
        MixedCostProblem(**{**problem.__dict__, "safety_penalty": None})
    with pytest.raises(ConfigError, match="safety_target"):
        MixedCostProblem(**{**problem.__dict__, "safety_target": [[-1]]})
    with pytest.raises(ConfigError, match="safety_target"):
        MixedCostProblem(**{**problem.__dict__, "safety_target": [[np.nan]]})


@pytest.mark.parametrize("capacity_row", ["env", "sample"])
def test_coupled_milp_matches_brute_force_when_capacity_binds(capacity_row):
    rng = np.random.default_rng(3)
    checked = 0
    for trial in range(40):
        base = random_problem(rng, N=2, M=1, H=3, L=[1])
        capacity = np.array([float(rng.integers(3, 8))])
        problem = MixedCostProblem(**{**base.__dict__, "capacity": capacity})
        best = brute_force(problem, capacity_row)
        if best is None:  # the committed stock alone breaks the row: the model needs slack
            continue
        result = solve_mixed(problem, time_limit=None, capacity_row=capacity_row)
        assert result.status == "optimal" and result.capacity_slack == pytest.approx(0.0, abs=1e-9)
        assert result.objective == pytest.approx(best, abs=1e-7)
        uncoupled = solve_mixed(base, time_limit=None)
        checked += int(best > uncoupled.objective + 1e-9)  # instances where the capacity binds
    assert checked >= 3


def test_coupled_model_without_binding_capacity_equals_per_sku_models():
    rng = np.random.default_rng(5)
    N, H, M = 6, 10, 3
    L = np.array([2, 3, 4])
    arrivals = np.zeros((N, H, M), np.int64)
    for j in range(M):
        arrivals[:, : L[j], j] = rng.integers(10, 25, size=(N, L[j]))
    per_sku = dict(on_hand=rng.integers(0, 10, (N, M)), arrivals=arrivals,
                   forecast_mean=np.floor(rng.uniform(15, 25, (N, H))),
                   holding_cost=np.tile([0.001, 0.0008, 0.0005], (N, 1)),  # the sample's: no ties
                   shortage_cost=np.full(N, 0.1), supply_capacity=np.tile([100, 90, 80], (N, 1)), lead_times=L)
    coupled = solve_mixed(MixedCostProblem(**per_sku, capacity=np.full(M, 1e6)), time_limit=None)
    singles = [solve_mixed(MixedCostProblem(**{k: (v[i:i + 1] if k != "lead_times" else v)
                                               for k, v in per_sku.items()}), time_limit=None) for i in range(N)]
    assert coupled.objective == pytest.approx(sum(s.objective for s in singles), rel=1e-9)
    np.testing.assert_array_equal(coupled.orders, np.concatenate([s.orders for s in singles]))
    assert coupled.capacity_slack == 0.0


def test_fallback_is_deterministic_and_reported(monkeypatch):
    problem = random_problem(np.random.default_rng(9), N=3, M=2, H=4, L=[1, 2])
    optimal = solve_mixed(problem, time_limit=None)
    real_lp = mm._lp

    class TimedOut:
        status, x = 1, None

    calls = []

    def lp_times_out_once(model, lower, upper, time_limit):
        calls.append(time_limit)
        return TimedOut() if time_limit is not None else real_lp(model, lower, upper, None)

    monkeypatch.setattr(mm, "_lp", lp_times_out_once)
    monkeypatch.setattr(mm, "_mip", lambda *a, **k: TimedOut())
    result = solve_mixed(problem, time_limit=0.5)
    assert result.timed_out and result.fallback and result.status in ("lp_integral", "lp_floor")
    assert calls[0] == 0.5 and None in calls  # the fallback LP runs without a time limit
    np.testing.assert_array_equal(result.orders, optimal.orders)  # the network LP is integral
    monkeypatch.setattr(mm, "_lp", lambda *a, **k: RuntimeError("no solver"))
    zero = solve_mixed(problem, time_limit=0.5)
    assert zero.status == "fallback_zero" and not zero.orders.any()


def test_integrality_none_rounds_the_lp_down_and_is_all_where_the_lp_is_integral():
    rng = np.random.default_rng(111)  # an instance whose LP has fractional orders on day 0
    base = random_problem(rng, N=3, M=2, H=4, L=[1, 2], timing="before_arrivals")
    target = rng.integers(0, 4, size=(3, 2)).astype(float)
    problem = MixedCostProblem(**{**base.__dict__, "capacity": np.array([float(rng.integers(4, 9)),
                                                                        float(rng.integers(4, 9))]),
                                  "safety_target": target, "safety_penalty": np.full(3, 1.0)})
    model = mm.build_mixed_milp(problem, "none")
    lp_first = mm._lp(model, model["lb"], model["ub"], None).x[model["first_orders"]]
    assert not np.allclose(lp_first, np.rint(lp_first))
    result = solve_mixed(problem, time_limit=None, integrality="none")
    assert result.status == "lp_floor" and not result.fallback and not result.timed_out
    np.testing.assert_array_equal(result.orders, np.floor(lp_first + 1e-6).reshape(result.orders.shape))
    assert result.info["slack_added"] == pytest.approx(0.0, abs=1e-9)  # rounding down adds no arriving unit
    for seed in range(5):  # without a target the model is a network flow: its LP is integral
        plain = random_problem(np.random.default_rng(seed), N=2, M=2, H=4, L=[1, 2], capacity=np.array([6.0, 6.0]))
        lp, mip = solve_mixed(plain, time_limit=None, integrality="none"), solve_mixed(plain, time_limit=None)
        assert lp.status == mip.status == "optimal" and not lp.fallback
        np.testing.assert_array_equal(lp.orders, mip.orders)
        assert lp.objective == pytest.approx(mip.objective, abs=1e-9)


def test_problem_validation_names_the_field():
    problem = random_problem(np.random.default_rng(0))
    with pytest.raises(ConfigError, match="'timing'"):
        MixedCostProblem(**{**problem.__dict__, "timing": "later"})
    with pytest.raises(ConfigError, match="'arrivals'"):
        MixedCostProblem(**{**problem.__dict__, "arrivals": problem.arrivals[:, :1]})
    with pytest.raises(ConfigError, match="'lead_times'"):
        MixedCostProblem(**{**problem.__dict__, "lead_times": np.zeros(2)})
    with pytest.raises(ConfigError, match="'integrality'"):
        solve_mixed(problem, integrality="some")
    with pytest.raises(ConfigError, match="'capacity_row'"):
        solve_mixed(problem, capacity_row="post")


# --- the episode runner ------------------------------------------------------------------------

def test_sample_alignment_loses_units_at_sigma_1_aligned_loses_none():
    from sc_jax.evaluate import demand_keys
    from sc_jax.mip_mixed import run_mip_mixed

    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=1, periods=80)
    keys = demand_keys(jax.random.PRNGKey(0), 1, 3)
    lost = {}
    for alignment in ("sample", "aligned"):
        result = run_mip_mixed(env, params, keys, alignment=alignment)
        assert result.statuses == {"optimal": 80}
        lost[alignment] = result.daily["lost"][20:].sum()  # after the start-up, as the notebooks count
    assert lost["sample"] > 0 and lost["aligned"] == 0


def test_runner_uses_evaluate_paths_and_coupling_that_never_binds_changes_nothing():
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.evaluate import demand_keys, demand_paths
    from sc_jax.mip_mixed import run_mip_mixed

    key = jax.random.PRNGKey(4)
    free_env, free = hybrid_sample_catalog(3, 100.0, sigma_max=4, periods=12, coupled=False, semantics="exact")
    keys = demand_keys(key, 3, 2)
    uncoupled = run_mip_mixed(free_env, free, keys)
    np.testing.assert_array_equal(np.moveaxis(uncoupled.daily["demand"], 0, -1),
                                  demand_paths(free_env, free, key, 2))  # common random numbers
    env, params = hybrid_sample_catalog(3, 100.0, sigma_max=4, periods=12, capacity_per_sku=1e5,
                                        semantics="exact")
    coupled = run_mip_mixed(env, params, keys)
    np.testing.assert_allclose(coupled.cost, uncoupled.cost, rtol=1e-6)
    assert coupled.refused_units.tolist() == [0, 0, 0] and np.all(coupled.capacity_slack == 0)
    assert coupled.solve_s.shape == (12,) and np.all(coupled.solve_s > 0)
    with pytest.raises(ConfigError, match="'alignment'"):
        run_mip_mixed(env, params, keys, alignment="late")


def test_runner_safety_targets_sigma_form_and_a_brain_decided_every_k_days():
    from sc_jax.evaluate import demand_keys
    from sc_jax.mip_mixed import policy_safety_targets, run_mip_mixed, sigma_safety_targets

    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=6, periods=25, semantics="exact")
    keys = demand_keys(jax.random.PRNGKey(2), 1, 2)
    lead = np.asarray(params.lead_time)
    plain = run_mip_mixed(env, params, keys)
    zero = run_mip_mixed(env, params, keys, safety_target=sigma_safety_targets(np.zeros(3), lead,
                                                                               timing="before_arrivals"))
    np.testing.assert_array_equal(zero.cost, plain.cost)  # z = 0: MIP-mixed itself
    # the sigma form: ceil(z sqrt(sum sigma^2)) over each stage's cover window, from the plan's first day
    from sc_jax.policies.sigma_rule import cover_windows
    fn = sigma_safety_targets([2.0, 1.0, 0.0], lead, timing="before_arrivals", alignment="aligned")
    state = jax.vmap(lambda k: jax.vmap(env.reset)(k, sc_jax.env.replicate(params, 1))[1])(keys.swapaxes(0, 1))
    mask = np.asarray(cover_windows(lead, int(lead.sum()) + 4, "installation", "before_arrivals"))
    std = np.asarray(state.demand.forecast_std, np.float64)[0, 0, 5:5 + mask.shape[0]]
    expected = np.ceil(np.array([2.0, 1.0, 0.0]) * np.sqrt((std ** 2) @ mask) - 1e-9)
    np.testing.assert_array_equal(fn(5, state)[0, 0], expected)
    assert expected[0] > 0 and expected[2] == 0
    reused = sigma_safety_targets(np.full(3, 2.0), lead, timing="before_arrivals")
    held = run_mip_mixed(env, params, keys, safety_target=reused)
    assert held.daily["on_hand"][10:].mean() > plain.daily["on_hand"][10:].mean()  # safety stock is held
    # a callable reused for other episodes reads their forecast, not the first run's
    other = demand_keys(jax.random.PRNGKey(9), 1, 2)
    fresh = sigma_safety_targets(np.full(3, 2.0), lead, timing="before_arrivals")
    np.testing.assert_array_equal(run_mip_mixed(env, params, other, safety_target=reused).cost,
                                  run_mip_mixed(env, params, other, safety_target=fresh).cost)
    # a brain decides on days 0, 10, 20 (its decision held in between), with the daily runner's keys
    seen = []

    def policy(policy_params, state, params, key):
        return jnp.full(3, state.time, jnp.int32) * policy_params

    target = policy_safety_targets(policy, 1, sc_jax.env.replicate(params, 1), jax.random.split(jax.random.PRNGKey(0), 2),
                                   every=10)
    for t in range(25):
        state = state.replace(time=jnp.full_like(state.time, t))
        seen.append(target(t, state)[0, 0, 0])
    assert seen == [0.0] * 10 + [10.0] * 10 + [20.0] * 5
    # a worker job's target (for_samples) decides for its samples with their own keys, as the whole one
    act_keys = jax.random.split(jax.random.PRNGKey(4), 2)
    noisy = policy_safety_targets(lambda p, s, q, k: jax.random.randint(k, (3,), 0, 100), 0,
                                  sc_jax.env.replicate(params, 1), act_keys, every=10)
    whole = noisy(0, state)
    assert not np.array_equal(whole[0], whole[1])
    for s in range(2):
        part = noisy.for_samples(slice(s, s + 1))(0, jax.tree.map(lambda x: x[s:s + 1], state))
        np.testing.assert_array_equal(part[0], whole[s])
    with pytest.raises(ConfigError, match="safety_penalty_weight"):
        run_mip_mixed(env, params, keys, safety_target=fn, safety_penalty_weight=-1.0)
    with pytest.raises(ConfigError, match="'z' of the safety target"):
        sigma_safety_targets([1.0, 2.0], lead, timing="before_arrivals")
    with pytest.raises(ConfigError, match="safety_target"):
        run_mip_mixed(env, params, keys, safety_target=lambda t, state: np.ones((2, 1, 2)))
    with pytest.raises(ConfigError, match="'safety_target' must be a callable"):
        run_mip_mixed(env, params, keys, safety_target=np.ones((2, 1, 3)))
    with pytest.raises(ConfigError, match="'alignment'"):
        sigma_safety_targets(np.ones(3), lead, timing="before_arrivals", alignment="late")
    with pytest.raises(ConfigError, match="'timing'"):
        sigma_safety_targets(np.ones(3), lead, timing="later")
    with pytest.raises(ConfigError, match="'every'"):
        policy_safety_targets(policy, 1, params, keys, every=0)


def test_samples_in_worker_processes_give_the_same_episodes(tmp_path):
    """workers > 1 (submit_mip_mixed + merge_mip_results): the samples of a coupled catalog in a
    process pool give the same orders, costs and units as one run (the capacity binding, a
    pickled sigma target); bad uses are refused before any process starts."""
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys
    from sc_jax.mip_mixed import (merge_mip_results, policy_safety_targets, run_mip_mixed, sigma_safety_targets,
                                  submit_mip_mixed)

    env, params = hybrid_sample_catalog(4, 100.0, semantics="exact", sigma_max=5, capacity_per_sku=6, periods=16)
    reset_keys, _ = hybrid_keys(jax.random.split(jax.random.PRNGKey(3), 3), 4)
    keys = jnp.swapaxes(reset_keys, 0, 1)  # [P, S]
    target = lambda: sigma_safety_targets([2.0, 1.0, 1.0], np.asarray(params.lead_time)[0], timing="before_arrivals")
    one = run_mip_mixed(env, params, keys, safety_target=target())
    pooled = run_mip_mixed(env, params, keys, safety_target=target(), workers=2)
    np.testing.assert_array_equal(pooled.cost, one.cost)
    for name in one.daily:  # the utilisation ratio is float32, vmapped over 3 samples or 1
        np.testing.assert_allclose(pooled.daily[name], one.daily[name], rtol=0, atol=1e-6 if "util" in name else 0)
    assert one.peak_utilisation.max() == pytest.approx(1.0)  # the capacity binds
    assert pooled.statuses == one.statuses and pooled.capacity_slack.shape == one.capacity_slack.shape
    assert pooled.refused_units.tolist() == one.refused_units.tolist()
    assert pooled.solve_s.shape == one.solve_s.shape and pooled.settings["samples"] == 3
    free_env, free = hybrid_sample_catalog(2, 100.0, sigma_max=4, periods=12, coupled=False, semantics="exact")
    with pytest.raises(ConfigError, match="'workers' > 1 needs a catalog sharing capacity"):
        run_mip_mixed(free_env, free, keys[:2], workers=2)
    brain = policy_safety_targets(lambda p, s, q, k: jnp.zeros(3), 0, params, jax.random.split(jax.random.PRNGKey(0), 3))
    with pytest.raises(ConfigError, match="'safety_target' must pickle"):
        run_mip_mixed(env, params, keys, safety_target=brain, workers=2)
    from sc_jax.mip_mixed import checkpoint_safety_targets
    with pytest.raises(ConfigError, match="'checkpoint' must be a brain's checkpoint directory"):
        checkpoint_safety_targets(tmp_path / "missing", params, jax.random.split(jax.random.PRNGKey(0), 3))
    with pytest.raises(ConfigError, match="'every' must be an integer >= 1"):
        checkpoint_safety_targets(tmp_path, params, jax.random.split(jax.random.PRNGKey(0), 3), every=0)
    two_keys = checkpoint_safety_targets(tmp_path, params, jax.random.split(jax.random.PRNGKey(0), 2))
    with pytest.raises(ConfigError, match="one key per sample"):  # refused before any worker loads the brain
        run_mip_mixed(env, params, keys, safety_target=two_keys, workers=2)
    with pytest.raises(ConfigError, match="'workers'"):
        run_mip_mixed(env, params, keys, workers=0)
    with pytest.raises(ConfigError, match="at least one"):
        merge_mip_results([])
    with pytest.raises(ConfigError, match=r"submit_mip_mixed options must be among .*'typo'"):
        submit_mip_mixed(None, env, params, keys, typo=1)


def test_capacity_margin_is_capacity_taken_off_the_row():
    """A margin [H, M] is taken off the shared capacity of each day's row: a constant one equals a
    smaller capacity, a zero one changes nothing; it needs a shared capacity and the right shape."""
    rng = np.random.default_rng(11)
    N, H, M = 4, 8, 2
    L = np.array([1, 2])
    arrivals = np.zeros((N, H, M), np.int64)
    arrivals[:, 0] = rng.integers(2, 6, (N, M))
    base = dict(on_hand=rng.integers(0, 6, (N, M)), arrivals=arrivals, forecast_mean=np.floor(rng.uniform(3, 8, (N, H))),
                holding_cost=np.tile([0.002, 0.001], (N, 1)), shortage_cost=np.full(N, 0.1),
                supply_capacity=np.full((N, M), 40), lead_times=L)
    capacity = np.array([29.0, 26.0])
    plain = solve_mixed(MixedCostProblem(**base, capacity=capacity), time_limit=None)
    zero = solve_mixed(MixedCostProblem(**base, capacity=capacity, capacity_margin=np.zeros((H, M))), time_limit=None)
    assert zero.objective == plain.objective and np.array_equal(zero.orders, plain.orders)
    margin = np.array([3.0, 4.0])
    kept = solve_mixed(MixedCostProblem(**base, capacity=capacity, capacity_margin=np.tile(margin, (H, 1))),
                       time_limit=None)
    smaller = solve_mixed(MixedCostProblem(**base, capacity=capacity - margin), time_limit=None)
    assert kept.objective == pytest.approx(smaller.objective, rel=1e-12)
    np.testing.assert_array_equal(kept.orders, smaller.orders)
    assert kept.objective > plain.objective and kept.capacity_slack == plain.capacity_slack == 0  # it binds
    with pytest.raises(ConfigError, match="'capacity_margin' needs a shared 'capacity'"):
        MixedCostProblem(**base, capacity_margin=np.zeros((H, M)))
    with pytest.raises(ConfigError, match=r"'capacity_margin' must have shape \(8, 2\)"):
        MixedCostProblem(**base, capacity=capacity, capacity_margin=np.zeros((H, M + 1)))
    with pytest.raises(ConfigError, match="'capacity_margin' must be >= 0"):
        MixedCostProblem(**base, capacity=capacity, capacity_margin=-np.ones((H, M)))


def test_runner_capacity_margin_from_the_forecast_sigma_stops_refused_arrivals(monkeypatch):
    """capacity_margin_z: day tau's row keeps z sqrt(sum of sigma^2 over products and the days before
    min(tau, L_j)) free. On a catalog whose safety targets fill the shared capacity, arrivals are
    refused without it (demand below the forecast leaves more stock than planned) and none with it."""
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys
    import sc_jax.mip_mixed as runner

    env, params = hybrid_sample_catalog(8, 100.0, semantics="exact", sigma_max=9, capacity_per_sku=8, periods=40)
    reset_keys, _ = hybrid_keys(jax.random.split(jax.random.PRNGKey(3), 2), 8)
    keys = jnp.swapaxes(reset_keys, 0, 1)
    lead = np.asarray(params.lead_time)[0]
    target = lambda: runner.sigma_safety_targets(np.full(3, 3.0), lead, timing="before_arrivals")
    seen = {}
    real = runner.solve_mixed

    def spy(problem, **kw):
        seen.setdefault(len(seen), problem.capacity_margin)
        return real(problem, **kw)

    monkeypatch.setattr(runner, "solve_mixed", spy)
    without = runner.run_mip_mixed(env, params, keys, safety_target=target(), integrality="none")
    assert set(seen.values()) == {None}
    seen.clear()
    held = runner.run_mip_mixed(env, params, keys, safety_target=target(), integrality="none", capacity_margin_z=1.0)
    assert without.refused_units.sum() > 0 and held.refused_units.tolist() == [0, 0, 0]
    assert held.settings["capacity_margin_z"] == 1.0
    # day 0, sample 0 (the first model): the forecast sigma of the plan's days (sample alignment: from day 1)
    state = jax.vmap(lambda k: jax.vmap(env.reset)(k, params)[1])(keys.swapaxes(0, 1))
    variance = np.square(np.asarray(state.demand.forecast_std, np.float64))[0, :, 1:13].sum(axis=0)  # [H = 12]
    cumulative = np.concatenate([[0.0], np.cumsum(variance)])
    expected = np.sqrt(cumulative[np.minimum(np.arange(12)[:, None], lead[None, :])])
    np.testing.assert_allclose(seen[0], expected, rtol=1e-12)
    assert np.all(seen[0][0] == 0) and seen[0][5, 0] == seen[0][2, 0] > 0  # none today; the lead time's from L_j on
    # over the echelon lead time (L_0 + ... + L_j = 2 / 5 / 9 days): a wider margin at the upper stages only
    seen.clear()
    echelon = runner.run_mip_mixed(env, params, keys[:, :1], safety_target=target(), integrality="none",
                                   capacity_margin_z=1.0, capacity_margin_lead="echelon")
    assert echelon.settings["capacity_margin_lead"] == "echelon" and held.settings["capacity_margin_lead"] == "stage"
    expected_echelon = np.sqrt(cumulative[np.minimum(np.arange(12)[:, None], np.cumsum(lead)[None, :])])
    np.testing.assert_allclose(seen[0], expected_echelon, rtol=1e-12)
    assert np.array_equal(seen[0][:, 0], expected[:, 0]) and seen[0][11, 2] > expected[11, 2]
    # plus c x sum sigma over the same products and days (the sales lost to stock-outs, left unsold)
    seen.clear()
    lost = runner.run_mip_mixed(env, params, keys[:, :1], safety_target=target(), integrality="none",
                                capacity_margin_z=1.0, capacity_margin_lost=0.5)
    sigma = np.asarray(state.demand.forecast_std, np.float64)[0, :, 1:13].sum(axis=0)
    summed = np.concatenate([[0.0], np.cumsum(sigma)])[np.minimum(np.arange(12)[:, None], lead[None, :])]
    np.testing.assert_allclose(seen[0], expected + 0.5 * summed, rtol=1e-12)
    assert lost.settings["capacity_margin_lost"] == 0.5 and np.all(summed[1:] > 0)
    with pytest.raises(ConfigError, match="'capacity_margin_lost'"):
        runner.run_mip_mixed(env, params, keys, capacity_margin_lost=-0.1)
    with pytest.raises(ConfigError, match="'capacity_margin_lead' must be one of"):
        runner.run_mip_mixed(env, params, keys, capacity_margin_z=1.0, capacity_margin_lead="chain")
    free_env, free = hybrid_sample_catalog(2, 100.0, sigma_max=4, periods=12, coupled=False, semantics="exact")
    with pytest.raises(ConfigError, match="'capacity_margin_z' > 0 needs a catalog sharing capacity"):
        runner.run_mip_mixed(free_env, free, keys[:2], capacity_margin_z=1.0)
    with pytest.raises(ConfigError, match="'capacity_margin_lost' > 0 needs a catalog sharing capacity"):
        runner.run_mip_mixed(free_env, free, keys[:2], capacity_margin_lost=0.5)
    with pytest.raises(ConfigError, match="'capacity_margin_z'"):
        runner.run_mip_mixed(env, params, keys, capacity_margin_z=-1.0)


def _rolling_sequence(rng, days=8):
    """A coupled model's rolling days: targets that appear and vanish (the model's size changes),
    the capacity binding, a fractional LP on some days."""
    N, H, M = 5, 6, 2
    L = np.array([1, 2])
    problems = []
    for day in range(days):
        arrivals = np.zeros((N, H, M), np.int64)
        arrivals[:, 0] = rng.integers(0, 6, (N, M))
        arrivals[:, 1, 1] = rng.integers(0, 6, N)
        target = rng.integers(0, 5, (N, M)).astype(float) * (rng.uniform(size=(N, M)) < 0.7)
        problems.append(MixedCostProblem(
            on_hand=rng.integers(0, 8, (N, M)), arrivals=arrivals, forecast_mean=np.floor(rng.uniform(1, 6, (N, H))),
            holding_cost=np.tile([0.02, 0.01], (N, 1)), shortage_cost=rng.uniform(0.5, 2.0, N),
            supply_capacity=np.full((N, M), 12), lead_times=L, capacity=np.array([24.0, 30.0]),
            timing="before_arrivals" if day % 2 else "after_arrivals", safety_target=target,
            safety_penalty=np.full(N, 0.7), capacity_margin=np.tile([1.5, 2.5], (H, 1)) if day % 3 else None))
    return problems


@pytest.mark.parametrize("integrality", ["none", "all"])
def test_warm_started_lp_reaches_the_cold_optimum(integrality):
    """LpWarmStart: each day's LP from the previous day's basis (highspy) has the cold solve's
    optimum, whatever the model's size did; "lp_floor" rounds the same LP plan; the key of every
    column and row is unique; a bad warm_start is refused."""
    warm = mm.LpWarmStart()
    fractional = 0
    for problem in _rolling_sequence(np.random.default_rng(5)):
        model = mm.build_mixed_milp(problem, integrality)
        assert model["col_key"].size == model["c"].size and np.unique(model["col_key"]).size == model["c"].size
        assert model["row_key"].size == model["A"].shape[0] and np.unique(model["row_key"]).size == model["A"].shape[0]
        cold = solve_mixed(problem, time_limit=None, integrality=integrality)
        hot = solve_mixed(problem, time_limit=None, integrality=integrality, warm_start=warm)
        assert hot.status == cold.status and not hot.fallback
        assert hot.objective == pytest.approx(cold.objective, rel=1e-9, abs=1e-9)
        assert hot.capacity_slack == pytest.approx(cold.capacity_slack, abs=1e-9)
        if cold.status == "lp_floor":
            fractional += 1
            assert hot.info["lp_objective"] == pytest.approx(cold.info["lp_objective"], rel=1e-9)
            assert hot.info["slack_added"] == pytest.approx(cold.info["slack_added"], abs=1e-9)
        assert hot.info["lp_iterations"] >= 0
    assert warm.solves == 8 and warm.warm_solves == 7
    if integrality == "none":
        assert fractional >= 1  # the re-solve with day 0's orders fixed ran warm
    with pytest.raises(ConfigError, match="'warm_start' must be an LpWarmStart or None, got bool"):
        solve_mixed(problem, warm_start=True)


def test_rounded_plan_false_skips_the_re_solve_and_keeps_the_orders():
    """rounded_plan=False: where day 0's LP orders are rounded down, the same orders, cold or warm, with
    the LP plan's objective and slack reported instead of the re-solved plan's (slack_added unknown);
    where nothing is rounded, the same result; a bad flag names the field."""
    warm = {flag: mm.LpWarmStart() for flag in (True, False)}
    rounded = 0
    for problem in _rolling_sequence(np.random.default_rng(5)):
        for chain in (None, "warm"):
            full, lean = (solve_mixed(problem, time_limit=None, integrality="none", rounded_plan=flag,
                                      warm_start=None if chain is None else warm[flag]) for flag in (True, False))
            np.testing.assert_array_equal(lean.orders, full.orders)
            assert lean.status == full.status and not lean.fallback
            if full.status == "lp_floor":
                rounded += 1
                assert lean.objective == pytest.approx(full.info["lp_objective"], rel=1e-9)
                assert lean.capacity_slack == pytest.approx(full.info["lp_slack"], abs=1e-9)
                assert np.isnan(lean.info["slack_added"])
            else:
                assert lean.objective == pytest.approx(full.objective, rel=1e-9)
    assert rounded >= 2
    with pytest.raises(ConfigError, match="'rounded_plan' must be True or False, got 1"):
        solve_mixed(problem, rounded_plan=1)


def test_runner_warm_start_chains_per_sample_and_is_deterministic():
    """run_mip_mixed(warm_start=True) on a coupled catalog whose capacity binds: one basis chain per
    sample, so a sample's episode is the same alone or with others (and in worker processes), and
    the same run twice gives the same episodes; its episodes' plans are optimal (the cold run's
    costs within a small tolerance: ties may pick other optimal plans); a bad flag names the field."""
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys
    from sc_jax.mip_mixed import run_mip_mixed, sigma_safety_targets

    env, params = hybrid_sample_catalog(4, 100.0, semantics="exact", sigma_max=5, capacity_per_sku=6, periods=16)
    reset_keys, _ = hybrid_keys(jax.random.split(jax.random.PRNGKey(3), 3), 4)
    keys = jnp.swapaxes(reset_keys, 0, 1)  # [P, S]
    target = lambda: sigma_safety_targets([2.0, 1.0, 1.0], np.asarray(params.lead_time)[0], timing="before_arrivals")
    options = dict(safety_target=None, integrality="none", warm_start=True)
    both = run_mip_mixed(env, params, keys, **{**options, "safety_target": target()})
    again = run_mip_mixed(env, params, keys, **{**options, "safety_target": target()})
    np.testing.assert_array_equal(both.daily["orders"], again.daily["orders"])
    alone = run_mip_mixed(env, params, keys[:, 1:2], **{**options, "safety_target": target()})
    np.testing.assert_array_equal(alone.daily["orders"][:, :, 0], both.daily["orders"][:, :, 1])
    np.testing.assert_array_equal(alone.cost[:, 0], both.cost[:, 1])
    assert both.peak_utilisation.max() == pytest.approx(1.0) and both.settings["warm_start"] is True
    np.testing.assert_allclose(both.day_cost.sum(axis=0), both.cost, rtol=1e-5)  # day by day, the episode's cost
    cold = run_mip_mixed(env, params, keys, **{**options, "safety_target": target(), "warm_start": False})
    np.testing.assert_allclose(both.cost.sum(axis=0), cold.cost.sum(axis=0), rtol=0.02)
    lean = run_mip_mixed(env, params, keys, **{**options, "safety_target": target(), "rounded_plan": False})
    np.testing.assert_array_equal(lean.daily["orders"], both.daily["orders"])  # the re-solve only reports
    np.testing.assert_array_equal(lean.cost, both.cost)
    assert lean.settings["rounded_plan"] is False
    with pytest.raises(ConfigError, match="'warm_start' must be True or False, got 'yes'"):
        run_mip_mixed(env, params, keys, warm_start="yes")


class _PerSampleTarget:
    """A picklable safety target with per-sample keys (as a brain's): units[s] for sample s."""

    def __init__(self, units, act_keys):
        self.units, self.act_keys = np.asarray(units, np.float64), np.asarray(act_keys)

    def for_samples(self, index):
        return _PerSampleTarget(self.units[index], self.act_keys[index])

    def __call__(self, t, state):
        return self.units


def test_capped_safety_targets_scale_each_stage_down_to_the_cap():
    """capped_safety_targets: where a sample's targets summed over products exceed fraction x the
    stage's capacity, that stage's are scaled in proportion and rounded down (never above the cap);
    elsewhere unchanged; it pickles and splits per sample as the target it wraps; bad input named."""
    import pickle

    from sc_jax.mip_mixed import capped_safety_targets

    units = np.array([[[30.0, 5.0, 7.5], [10.0, 5.0, 2.5]],      # sample 0: stage 0 sums 40 (over a cap of 20)
                      [[8.0, 1.0, 0.0], [8.0, 1.0, 0.0]]])       # sample 1: every stage under its cap
    inner = _PerSampleTarget(units, np.arange(2))
    capped = capped_safety_targets(inner, [40.0, 100.0, 100.0], 0.5)  # caps 20 / 50 / 50
    out = capped(0, None)
    np.testing.assert_array_equal(out[0, :, 0], [15.0, 5.0])  # 30 and 10 halved
    np.testing.assert_array_equal(out[:, :, 1:], units[:, :, 1:])  # under the cap: untouched (fractions kept)
    np.testing.assert_array_equal(out[1], units[1])
    assert np.all(out.sum(axis=1) <= np.array([20.0, 50.0, 50.0]))
    tight = capped_safety_targets(_PerSampleTarget([[[7.0], [7.0], [7.0]]], [0]), [10.0], 1.0)(0, None)
    assert tight.sum() <= 10 and tight.tolist() == [[[3.0], [3.0], [3.0]]]  # rounded down, never above the cap
    again = pickle.loads(pickle.dumps(capped))
    np.testing.assert_array_equal(again(0, None), out)
    one = capped.for_samples(slice(1, 2))
    assert len(one.act_keys) == 1 and np.array_equal(one(0, None), out[1:])
    plain = capped_safety_targets(lambda t, s: units, [40.0, 100.0, 100.0], 0.5)
    assert not hasattr(plain, "for_samples")  # only where the wrapped target splits per sample
    for kwargs, field in (({"fraction": 0.0}, "'fraction'"), ({"fraction": float("inf")}, "'fraction'"),
                          ({"capacity": [10.0, -1.0, 5.0]}, "'capacity'"), ({"target": 3}, "'target'")):
        args = {"target": inner, "capacity": [40.0, 100.0, 100.0], "fraction": 0.5, **kwargs}
        with pytest.raises(ConfigError, match=field):
            capped_safety_targets(**args)
    with pytest.raises(ConfigError, match="3 stages, the capacity 2"):
        capped_safety_targets(inner, [40.0, 100.0], 0.5)(0, None)


def test_sigma_safety_target_floor_and_delay():
    """sigma_safety_targets' floor adds whole units to every stage's target (per stage where a
    vector), so with sigma 0 the target is the floor; delayed_safety_targets gives no target before
    its start day and the inner one from then on, keeps the inner's per-sample split, and pickles;
    bad floors and start days name the field."""
    import pickle
    from types import SimpleNamespace

    from sc_jax.mip_mixed import delayed_safety_targets, sigma_safety_targets

    lead = [2, 3, 4]
    std = np.zeros((2, 1, 60))
    std[1] = 2.0  # sample 1: sigma 2 every day
    state = SimpleNamespace(demand=SimpleNamespace(forecast_std=std))
    plain = sigma_safety_targets([1.0, 1.0, 1.0], lead, timing="after_arrivals")(0, state)
    floored = sigma_safety_targets([1.0, 1.0, 1.0], lead, timing="after_arrivals", floor=2)(0, state)
    np.testing.assert_array_equal(floored, plain + 2.0)
    np.testing.assert_array_equal(floored[0], np.full((1, 3), 2.0))  # sigma 0: the floor alone
    assert np.all(plain[1] > 0)
    per_stage = sigma_safety_targets([0.0] * 3, lead, timing="after_arrivals", floor=[1, 0, 3])(0, state)
    np.testing.assert_array_equal(per_stage, np.broadcast_to([1.0, 0.0, 3.0], (2, 1, 3)))
    delayed = delayed_safety_targets(sigma_safety_targets([1.0] * 3, lead, timing="after_arrivals", floor=1), 5)
    assert np.all(delayed(4, state) == 0) and np.array_equal(delayed(5, state), plain + 1.0)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(delayed))(7, state), plain + 1.0)
    inner = _PerSampleTarget([[[7.0]], [[9.0]]], [0, 1])
    split = delayed_safety_targets(inner, 3).for_samples([1])
    assert split.act_keys.tolist() == [1] and split(2, None).tolist() == [[[0.0]]] and split(3, None).tolist() == [[[9.0]]]
    for floor in (-1, 0.5, [1, 2], np.inf, "x", [[1, 1, 1]]):
        with pytest.raises(ConfigError, match="'floor'"):
            sigma_safety_targets([1.0] * 3, lead, timing="after_arrivals", floor=floor)
    for start in (-1, 2.5, "3"):
        with pytest.raises(ConfigError, match="start_day"):
            delayed_safety_targets(inner, start)
    with pytest.raises(ConfigError, match="'target'"):
        delayed_safety_targets(np.zeros(3), 2)
