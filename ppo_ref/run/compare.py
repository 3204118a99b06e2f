"""``ppo-ref compare A... --vs B...``: does group A learn like group B?

A group is any runs :func:`ppo_ref.run.layout.find_runs` finds: ppo_ref run and
sweep directories, CleanRL's event files, CSVs of another implementation. Per run,
the final score is CleanRL's metric, the mean return of the last 100 training
episodes (or, with ``score="eval"``, the deterministic evaluation kept in the run
directory's eval.txt). Runs are grouped by env, and for each env shared by both
groups:

- per group: mean, median and interquartile mean, with 95 % bootstrap intervals;
- A - B: the difference of means with Welch's t interval and p-value, and the
  probability of improvement P(A > B);
- a verdict that does not overclaim: a difference where Welch's test finds one at
  the 5 % level, else "no difference detected" beside the smallest difference these
  seed counts would detect at 80 % power (stats.detectable_difference).

Across two or more envs, scores are normalised per env, ``(score - low) / (high -
low)``, by a stated reference: the random policy's mean return and group B's mean
score, or numbers given per env; then each group's mean, median and IQM, the
difference of means and the mean P(A > B) over envs, each with a stratified
bootstrap interval (runs resampled within each env and group).

Every random draw comes from a generator seeded with ``seed`` and the name of what
it estimates, so the same inputs give the same output, whatever else is compared.
"""

import dataclasses
import os
import zlib

import numpy as np

from ppo_ref.config import SAME_RUN
from ppo_ref.errors import UserError
from ppo_ref.run import layout, stats
from ppo_ref.run.curves import LAST_EPISODES

SCORES = {"last-100": f"the mean return of the last {LAST_EPISODES} training episodes",
          "eval": f"the deterministic evaluation of the final policy ({layout.EVAL_NAME})"}
MIN_RUNS = 3  # fewer runs in a group than this: a warning
# Fewer runs than this: a percentile bootstrap's interval is too narrow to be a 95 %
# interval (of 3 runs, about their range), which the output says.
FEW_RUNS = 10
RANDOM_EPISODES = 20  # episodes of the random policy behind a default reference


class CompareError(UserError):
    """Two groups cannot be compared as asked; the message says why."""


@dataclasses.dataclass
class Scored:
    """One run: its env (the key it is grouped by), final score and episodes."""
    run: layout.Run
    env: str
    score: float
    steps: np.ndarray
    returns: np.ndarray


@dataclasses.dataclass
class EnvResult:
    env: str
    runs: tuple  # ([Scored] of A, [Scored] of B)
    estimates: tuple  # ({estimator: (value, low, high)} of A, of B)
    difference: tuple  # Welch: (mean A - mean B, low, high, p-value)
    improvement: float  # P(A > B)
    detectable: float  # the difference these seeds would detect at 80 % power
    verdict: str


@dataclasses.dataclass
class Aggregate:
    references: dict  # env -> (low, high, how they were chosen)
    estimates: tuple  # ({estimator: (value, low, high)} of A, of B), normalised scores
    difference: tuple  # (mean A - mean B, low, high)
    improvement: tuple  # (mean over envs of P(A > B), low, high)
    verdict: str


@dataclasses.dataclass
class Comparison:
    names: tuple
    score: str
    envs: list
    aggregate: Aggregate | None
    only: tuple  # (envs only in A, envs only in B)
    warnings: list
    seed: int
    resamples: int


def rng_for(seed, *keys):
    """The generator of one estimate: seeded with ``seed`` and the estimate's name."""
    return np.random.default_rng([seed, *(zlib.crc32(str(k).encode()) for k in keys)])


def env_key(env_id, across_versions):
    """What runs are grouped by: the env id, or without its version (Hopper-v4 and
    Hopper-v5 are both Hopper) when comparing across versions."""
    return env_id.rpartition("-v")[0] if across_versions else env_id


def score_runs(paths, score="last-100", across_versions=False):
    """``{env: [Scored]}`` of the runs found in ``paths``."""
    groups = {}
    for run in layout.find_runs(paths, foreign=True):
        steps, returns = layout.episode_returns(run)
        if score == "eval":
            value = layout.eval_score(run.path) if run.kind == "ppo_ref" else None
            if value is None:
                raise layout.RunDirError(f"{run.path} holds no deterministic evaluation ({layout.EVAL_NAME}); "
                                         "compare the training score instead (--score last-100)")
        else:
            value = float(returns[-LAST_EPISODES:].mean())
        env = env_key(layout.env_id(run), across_versions)
        groups.setdefault(env, []).append(Scored(run, env, value, steps, returns))
    for env, runs in groups.items():
        _check_one_setting(env, [r.run for r in runs if r.run.kind == "ppo_ref"], across_versions)
    return groups


def _check_one_setting(env, runs, across_versions):
    """Refuse ppo_ref runs of one env whose configs differ in more than the seed,
    and two of one env id and seed: the same run twice, not two samples."""
    ignored = SAME_RUN | ({"env_id"} if across_versions else set())
    full = [layout.read_config(r.path) for r in runs]
    configs = [{k: v for k, v in c.to_dict().items() if k not in ignored} for c in full]
    for run, config in zip(runs[1:], configs[1:]):
        differ = sorted(k for k in config if config[k] != configs[0][k])
        if differ:
            k = differ[0]
            raise CompareError(f"the {env} runs of a group differ in {k} ({configs[0][k]!r} in {runs[0].path}, "
                                     f"{config[k]!r} in {run.path}); compare each setting as a group of its own")
    layout.refuse_repeats([(r.path, c) for r, c in zip(runs, full)])


def parse_references(items):
    """``["Hopper-v4=18,3000"]`` -> ``{"Hopper-v4": (18.0, 3000.0)}``: per env, the
    low and high score of the normalisation."""
    references = {}
    for item in items or ():
        env, sep, numbers = item.partition("=")
        try:
            if not sep or not env:
                raise ValueError(item)
            low, high = (float(x) for x in numbers.split(","))
        except ValueError:
            raise CompareError(f"--reference {item!r} must be ENV=LOW,HIGH, such as Hopper-v4=18,3000") from None
        references[env] = (low, high)
    return references


def verdict(names, difference, detectable):
    """A's difference from B in words: a difference only where Welch's test finds one."""
    diff, low, high, p = difference
    if np.isnan(p):
        return "not tested (a group has fewer than 2 runs, or neither has any spread)"
    if p < stats.ALPHA:
        return f"{names[0]} {'higher' if diff > 0 else 'lower'} than {names[1]}"
    return (f"no difference detected; these seeds would detect a difference of {fmt(detectable)} "
            f"at {stats.POWER * 100:.0f} % power")


def fmt(x, digits=0):
    """A number for the tables: NaN as n/a."""
    return "n/a" if x is None or np.isnan(x) else f"{x:.{digits}f}"


def compare(paths_a, paths_b, names=("A", "B"), score="last-100", references=None, seed=0,
            resamples=stats.RESAMPLES, across_versions=False):
    """Compare the runs in ``paths_a`` with those in ``paths_b`` (see the module's
    docstring); ``references``: ``{env: (low, high)}`` for the normalisation."""
    if score not in SCORES:
        raise CompareError(f"--score ({score!r}) must be one of {', '.join(SCORES)}")
    if len(names) != 2 or names[0] == names[1]:
        raise CompareError(f"--names ({' '.join(names)}) must be two different names")
    groups = (score_runs(paths_a, score, across_versions), score_runs(paths_b, score, across_versions))
    in_a = {os.path.realpath(r.run.path): r.run.path for g in groups[0].values() for r in g}
    shared = [in_a[p] for p in (os.path.realpath(r.run.path) for g in groups[1].values() for r in g) if p in in_a]
    if shared:
        more = f" (and {len(shared) - 1} more runs)" if len(shared) > 1 else ""
        raise CompareError(f"{shared[0]} is in both groups{more}; a run belongs to one of them")
    envs = sorted(set(groups[0]) & set(groups[1]))
    if not envs:
        raise CompareError(f"the groups share no env: {names[0]} has {', '.join(sorted(groups[0]))}; "
                                 f"{names[1]} has {', '.join(sorted(groups[1]))}")
    references = _references_of(references or {}, envs, across_versions)
    warnings, results = [], []
    for env in envs:
        runs = (groups[0][env], groups[1][env])
        scores = [np.array([r.score for r in g]) for g in runs]
        warnings += [f"{env}: {name} has {len(g)} run{'s' if len(g) > 1 else ''}; with fewer than {MIN_RUNS} "
                     "no figure here says much" for name, g in zip(names, runs) if len(g) < MIN_RUNS]
        estimates = tuple({e: stats.estimate(s, e, rng_for(seed, env, name, e), resamples) for e in stats.ESTIMATORS}
                          for name, s in zip(names, scores))
        difference = stats.welch(*scores)
        detectable = stats.detectable_difference(*scores)
        results.append(EnvResult(env, runs, estimates, difference,
                                 float(stats.probability_of_improvement(*scores)), detectable,
                                 verdict(names, difference, detectable)))
    fewest = min(len(g) for r in results for g in r.runs)
    if fewest < FEW_RUNS:
        runs = f"{fewest} run{'s' if fewest > 1 else ''}"
        warnings.append(f"with {runs} in a group, bootstrap intervals are narrower than 95 % intervals "
                        f"should be (they want {FEW_RUNS} runs or more); the verdicts per env rest on Welch's test")
    aggregate = None
    if len(envs) >= 2:
        aggregate = _aggregate(results, names, references, seed, resamples, fewest)
    elif references:
        warnings.append("--reference normalises scores across envs; with one env compared it is not used")
    only = tuple(sorted(set(g) - set(envs)) for g in groups)
    return Comparison(tuple(names), score, results, aggregate, only, warnings, seed, resamples)


def _references_of(given, envs, across_versions):
    """The given references keyed as the envs are (without the version when
    comparing across versions); one for an env not compared is refused."""
    keyed = {}
    for env, reference in given.items():
        key = env_key(env, across_versions) if across_versions and "-v" in env else env
        if key not in envs:
            raise CompareError(f"--reference names {env}, which is not an env both groups ran "
                               f"({', '.join(envs)})")
        if keyed.setdefault(key, reference) != reference:
            raise CompareError(f"--reference gives {key} two references")
    return keyed


def _reference(result, given, names):
    """``(low, high, how)`` of one env's normalisation."""
    if result.env in given:
        low, high = given[result.env]
        how = "given"
    else:
        from ppo_ref.evaluate import random_policy_returns

        env_id = layout.env_id(result.runs[1][0].run)
        low = float(random_policy_returns(env_id, RANDOM_EPISODES).mean())
        high = float(np.mean([r.score for r in result.runs[1]]))
        how = f"the random policy ({RANDOM_EPISODES} episodes of {env_id}) and {names[1]}'s mean"
    if not high > low:
        raise CompareError(f"the reference of {result.env} must have high ({high:g}) above low ({low:g})")
    return low, high, how


def _aggregate(results, names, given, seed, resamples, fewest):
    references = {r.env: _reference(r, given, names) for r in results}
    norm = [[(np.array([x.score for x in r.runs[g]]) - references[r.env][0])
             / (references[r.env][1] - references[r.env][0]) for r in results] for g in (0, 1)]
    k = len(results)
    estimates = tuple(
        {e: (float(f(np.concatenate(norm[g]))),
             *map(float, stats.interval(norm[g], lambda *s, axis, f=f: f(np.concatenate(s, axis=axis), axis=axis),
                                        rng_for(seed, "all envs", names[g], e), resamples)))
         for e, f in stats.ESTIMATORS.items()} for g in (0, 1))

    def mean_difference(*s, axis):
        return np.concatenate(s[:k], axis=axis).mean(axis=axis) - np.concatenate(s[k:], axis=axis).mean(axis=axis)

    def mean_improvement(*s, axis):
        return np.mean([stats.probability_of_improvement(s[i], s[k + i], axis=axis) for i in range(k)], axis=0)

    samples = norm[0] + norm[1]
    difference = (float(mean_difference(*samples, axis=-1)),
                  *map(float, stats.interval(samples, mean_difference, rng_for(seed, "all envs", "difference"),
                                             resamples)))
    improvement = (float(mean_improvement(*samples, axis=-1)),
                   *map(float, stats.interval(samples, mean_improvement, rng_for(seed, "all envs", "improvement"),
                                              resamples)))
    low, high = difference[1:]
    if np.isnan(low) or low <= 0 <= high:
        text = "no difference detected across envs"
    else:
        text = (f"{names[0]} {'higher' if difference[0] > 0 else 'lower'} than {names[1]} across envs (the "
                "stratified interval excludes 0)")
        if fewest < FEW_RUNS:
            detected = any(r.difference[3] < stats.ALPHA for r in results)
            text += (f", but with {fewest} runs an env that interval is too narrow to rely on"
                     + ("" if detected else ", and no env's own test detects a difference"))
    return Aggregate(references, estimates, difference, improvement, text)
