"""What a benchmark can tell apart, measured from its own data: how well
the ground truth agrees with itself between training seeds (no estimate can
be judged beyond that), and the smallest difference its archs and seeds
could detect, between two searches' rank correlations and between a
choice and random archs of its cost. A result smaller than that is not a
finding either way."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy import stats

# A two-sided test at 5 % with 80 % power detects a difference of
# (1.96 + 0.84) standard errors: the usual minimal detectable effect.
DETECTABLE_SE = 1.96 + 0.84


def kendall_tau(a, b) -> float:
    """tau-b, NaN where one side is constant (a resample of equal values)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', stats.ConstantInputWarning)
        return float(stats.kendalltau(a, b).statistic)


def _interval(samples) -> list:
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return [float('nan')] * 2
    return [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))]


def seed_agreement(truth: dict, bootstrap: int = 1000, seed: int = 0) -> dict:
    """The truth's Kendall tau between its training seeds (the mean over
    pairs of seeds) with a bootstrap 95 % interval over archs; the seeds'
    noise (the pooled standard deviation of one arch's runs) beside the
    archs' spread (the standard deviation of their means)."""
    names = sorted(truth)
    runs = np.array([truth[n] for n in names], dtype=float)  # archs x seeds
    if runs.ndim != 2 or runs.shape[1] < 2:
        raise ValueError('the agreement between seeds needs two seeds or more per arch')
    pairs = list(itertools.combinations(range(runs.shape[1]), 2))

    def measure(index):
        return float(np.nanmean([kendall_tau(runs[index, i], runs[index, j])
                                 for i, j in pairs]))

    rng = np.random.default_rng(seed)
    samples = [measure(rng.integers(len(names), size=len(names))) for _ in range(bootstrap)]
    noise = float(np.sqrt(np.mean(np.var(runs, axis=1, ddof=1))))
    return dict(kendall_tau=dict(value=measure(np.arange(len(names))), ci95=_interval(samples)),
                archs=len(names), seeds=runs.shape[1], seed_noise_sd=noise,
                arch_spread_sd=float(np.std(runs.mean(axis=1), ddof=1)),
                mean_abs_seed_difference=float(np.mean([np.abs(runs[:, i] - runs[:, j]).mean()
                                                        for i, j in pairs])))


def tau_difference(estimates_a: list, estimates_b: list, truth: dict, bootstrap: int = 1000,
                   seed: int = 0) -> dict:
    """The mean Kendall tau of one method's supernets (``estimates_a``, one
    ``{arch: estimate}`` per search seed) minus the other's, against the
    same ``truth``; a paired bootstrap over archs (each resample scores both
    methods on the same archs) gives the interval, and 2.8 of its standard
    errors the smallest difference these archs could detect."""
    names = sorted(set(truth).intersection(*map(set, estimates_a + estimates_b)))
    t = np.array([truth[n] for n in names])
    a = [np.array([e[n] for n in names]) for e in estimates_a]
    b = [np.array([e[n] for n in names]) for e in estimates_b]

    def measure(index):
        return (np.nanmean([kendall_tau(e[index], t[index]) for e in a])
                - np.nanmean([kendall_tau(e[index], t[index]) for e in b]))

    rng = np.random.default_rng(seed)
    samples = np.array([measure(rng.integers(len(names), size=len(names)))
                        for _ in range(bootstrap)])
    return dict(value=float(measure(np.arange(len(names)))), ci95=_interval(samples),
                detectable=float(DETECTABLE_SE * np.nanstd(samples, ddof=1)), archs=len(names))


def gain_over_random(choices: list, randoms: list, bootstrap: int = 1000, seed: int = 0) -> dict:
    """The mean truth of a method's choices (one per search seed) minus the
    mean of random archs of their cost, with a bootstrap interval that
    resamples both; the smallest gain detectable with so many choices and
    random archs, the random archs' spread standing for both (a choice no
    better than random spreads as they do)."""
    choices, randoms = np.asarray(choices, dtype=float), np.asarray(randoms, dtype=float)
    if len(randoms) < 2:
        raise ValueError('the gain over random archs needs two random archs or more')
    rng = np.random.default_rng(seed)
    samples = [rng.choice(choices, len(choices)).mean() - rng.choice(randoms, len(randoms)).mean()
               for _ in range(bootstrap)]
    spread = float(np.std(randoms, ddof=1))
    return dict(value=float(choices.mean() - randoms.mean()), ci95=_interval(samples),
                detectable=float(DETECTABLE_SE * spread
                                 * np.sqrt(1 / len(choices) + 1 / len(randoms))),
                choices=len(choices), randoms=len(randoms), random_sd=spread)


def paired_difference(a: list, b: list, spread: float, bootstrap: int = 1000,
                      seed: int = 0) -> dict:
    """The mean of ``a`` minus the mean of ``b``, two choices made on the
    same search seeds (the second stage on the supernet's shortlist against
    the same stage on a random one), with a bootstrap interval that
    resamples the seeds as pairs; the smallest difference detectable with
    so many seeds, ``spread`` (the random archs' standard deviation)
    standing for each side's."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) != len(b) or not len(a):
        raise ValueError(f'a paired difference needs as many values on each side, not '
                         f'{len(a)} and {len(b)}')
    rng = np.random.default_rng(seed)
    picks = (rng.integers(len(a), size=len(a)) for _ in range(bootstrap))
    samples = [(a[i] - b[i]).mean() for i in picks]
    return dict(value=float((a - b).mean()), ci95=_interval(samples),
                detectable=float(DETECTABLE_SE * spread * np.sqrt(2 / len(a))), pairs=len(a))
