"""What the benchmarks can resolve: the truth's agreement between seeds and
the smallest detectable differences, on hand-checked examples."""
import math

import numpy as np
import pytest

from cream_det.experiments.resolution import (DETECTABLE_SE, gain_over_random, paired_difference,
                                              seed_agreement, tau_difference)


def test_seeds_that_agree_make_a_ceiling_of_one_and_no_noise():
    truth = {f'a{i}': [float(i), float(i)] for i in range(6)}
    result = seed_agreement(truth, bootstrap=50)
    assert result['kendall_tau']['value'] == pytest.approx(1) and result['seed_noise_sd'] == 0
    assert result['archs'] == 6 and result['seeds'] == 2
    assert result['arch_spread_sd'] == pytest.approx(np.std(range(6), ddof=1))


def test_seeds_that_disagree_are_measured_as_noise():
    truth = {f'a{i}': [float(i), float(5 - i)] for i in range(6)}
    result = seed_agreement(truth, bootstrap=50)
    assert result['kendall_tau']['value'] == pytest.approx(-1)
    # one arch's two runs i and 5 - i: variance (5 - 2i)^2 / 2
    noise = math.sqrt(np.mean([(5 - 2 * i) ** 2 / 2 for i in range(6)]))
    assert result['seed_noise_sd'] == pytest.approx(noise)
    assert result['mean_abs_seed_difference'] == pytest.approx(np.mean([abs(5 - 2 * i)
                                                                         for i in range(6)]))
    with pytest.raises(ValueError, match='two seeds'):
        seed_agreement({'a': [1.], 'b': [2.]})


def test_three_seeds_average_the_pairs():
    truth = {f'a{i}': [float(i), float(i), float(-i)] for i in range(5)}
    # pairs (0,1): 1, (0,2): -1, (1,2): -1
    assert seed_agreement(truth, bootstrap=20)['kendall_tau']['value'] == pytest.approx(-1 / 3)


def test_tau_difference_is_paired_and_says_what_it_can_detect():
    truth = {f'a{i}': float(i) for i in range(12)}
    perfect = {a: v for a, v in truth.items()}
    reversed_ = {a: -v for a, v in truth.items()}
    result = tau_difference([perfect, perfect], [reversed_], truth, bootstrap=200)
    assert result['value'] == pytest.approx(2) and result['archs'] == 12
    same = tau_difference([perfect], [perfect], truth, bootstrap=200)
    assert same['value'] == 0 and same['ci95'] == [0, 0] and same['detectable'] == 0
    rng = np.random.default_rng(0)
    noisy = [{a: v + rng.normal(0, 4) for a, v in truth.items()} for _ in range(2)]
    result = tau_difference(noisy[:1], noisy[1:], truth, bootstrap=300)
    assert result['ci95'][0] <= result['value'] <= result['ci95'][1]
    assert 0 < result['detectable'] < 4


def test_gain_over_random_against_a_hand_computation():
    result = gain_over_random([3., 3., 3.], [0., 1., 2.], bootstrap=200)
    assert result['value'] == 2 and result['random_sd'] == 1
    assert result['detectable'] == pytest.approx(DETECTABLE_SE * math.sqrt(1 / 3 + 1 / 3))
    assert result['ci95'][0] >= 1 and result['ci95'][1] <= 3
    with pytest.raises(ValueError, match='two random archs'):
        gain_over_random([1.], [0.])


def test_paired_difference_against_a_hand_computation():
    result = paired_difference([3., 4., 5.], [1., 3., 2.], spread=1.5, bootstrap=200)
    assert result['value'] == 2 and result['pairs'] == 3  # (2 + 1 + 3) / 3
    assert result['detectable'] == pytest.approx(DETECTABLE_SE * 1.5 * math.sqrt(2 / 3))
    assert 1 <= result['ci95'][0] <= result['value'] <= result['ci95'][1] <= 3
    with pytest.raises(ValueError, match='as many values on each side'):
        paired_difference([1., 2.], [0.], spread=1.)
