"""The buy-till-you-die models behind a member's predicted value: BG/NBD for how often, Gamma-Gamma for how much.

Fader, Hardie and Lee, "Counting your customers the easy way" (2005), and
Fader and Hardie, "The Gamma-Gamma model of monetary value" (2013). No
maintained library fits: `lifetimes` is abandoned, `btyd` an alpha of it,
and PyMC-Marketing brings a probabilistic-programming stack for four
numbers. So the closed forms are here, beside the papers' own figures in
the tests, and fitting (a maximum-likelihood search) uses SciPy, installed
with the `model` extra: only the fit needs it. Predicting one member is
plain arithmetic, so the hub answers without SciPy.

Time is in weeks, the papers' unit. A member's history is (x, t_x, T):
x repeat purchases (distinct purchase days less the first), t_x weeks from
the first purchase to the last, T weeks from the first purchase to now.
Parameters are floats: they are estimates, not money; the value they
predict is rounded to money where it is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The series for 2F1 stops when its terms shrink and one adds less than this share (as a log) of the sum.
_LOG_TOLERANCE = math.log(1e-15)
_MAX_TERMS = 200_000


@dataclass(frozen=True)
class Frequency:
    """BG/NBD: purchase rates Gamma(r, alpha) across members, drop-out after a purchase Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def expected_purchases(self, t: float, x: int, t_x: float, T: float) -> float | None:
        """E[Y(t) | x, t_x, T]: purchases in the next t weeks of a member with that history (the paper's (10)).

        In logs where the paper's factors overflow a float (a member of
        hundreds of purchases, a horizon of years); None where the series
        cannot be summed to precision (a history of no length at all).
        """
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        head = (a + b + x - 1) / (a - 1)
        z = t / (alpha + T + t)
        series = log_hyp2f1(r + x, b + x, a + b + x - 1, z)
        if series is None:
            return None
        tail = -math.expm1((r + x) * math.log((alpha + T) / (alpha + T + t)) + series)
        return head * tail * self.alive(x, t_x, T)

    def alive(self, x: int, t_x: float, T: float) -> float:
        """P(still buying | x, t_x, T)."""
        if x == 0:
            return 1.0
        dropped = math.log(self.a / (self.b + x - 1)) + (self.r + x) * math.log((self.alpha + T) / (self.alpha + t_x))
        return 0.0 if dropped > 700 else 1 / (1 + math.exp(dropped))


@dataclass(frozen=True)
class Spend:
    """Gamma-Gamma: a member's mean purchase varies around their own mean, which varies across members."""

    p: float
    q: float
    gamma: float

    def expected_mean(self, n: int, mean: float) -> float:
        """E[M | n purchases averaging `mean`]: the member's own mean shrunk towards the programme's (the paper's (5))."""
        p, q, gamma = self.p, self.q, self.gamma
        if n == 0:
            return p * gamma / (q - 1)
        return (gamma + n * mean) * p / (p * n + q - 1)


def log_hyp2f1(a: float, b: float, c: float, z: float) -> float | None:
    """log 2F1(a, b; c; z) for 0 <= z < 1 and a, b, c > 0: every term is positive, so the sum is kept as its log
    and never overflows. None when it has not converged within _MAX_TERMS terms (z too near 1)."""
    if z == 0:
        return 0.0
    log_z, log_term, log_total = math.log(z), 0.0, 0.0
    for k in range(_MAX_TERMS):
        log_term += math.log((a + k) * (b + k) / ((c + k) * (k + 1))) + log_z
        high, low = max(log_total, log_term), min(log_total, log_term)
        log_total = high + math.log1p(math.exp(low - high))
        shrinking = (a + k + 1) * (b + k + 1) * z < (c + k + 1) * (k + 2)
        if shrinking and log_term - log_total < _LOG_TOLERANCE:
            return log_total
    return None


def frequency_loglik(params, x, t_x, T, weight):
    """Σ weight × log L(r, alpha, a, b | x, t_x, T): the paper's (6), over arrays (NumPy and SciPy)."""
    import numpy as np
    from scipy.special import gammaln

    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return float(np.sum(weight * (a1 + a2 + np.logaddexp(a3, a4))))


def spend_loglik(params, n, mean, weight):
    """Σ weight × log L(p, q, gamma | n, mean) over members with a purchase: the paper's (3) for the mean."""
    import numpy as np
    from scipy.special import gammaln

    p, q, gamma = params
    px = p * n
    return float(np.sum(weight * (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
                                  + (px - 1) * np.log(mean) + px * np.log(n) - (px + q) * np.log(n * mean + gamma))))


def fit(loglik, start: tuple[float, ...], *data) -> tuple[tuple[float, ...], float] | None:
    """The parameters (all positive) that maximise `loglik` over `data`, and the log-likelihood there; None when
    the likelihood is nowhere finite.

    Searched in logs so every step stays positive; Nelder-Mead, as the
    likelihoods are cheap and their gradients are not worth deriving.
    """
    import numpy as np
    from scipy.optimize import minimize

    def negative(logs):
        value = loglik(tuple(np.exp(logs)), *data)
        return -value if np.isfinite(value) else 1e300

    found = minimize(negative, np.log(np.asarray(start, dtype=float)), method="Nelder-Mead",
                     options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-8})
    if not np.isfinite(found.fun) or found.fun >= 1e300:
        return None  # nowhere finite: data the model cannot describe (say, a mean of nothing)
    return tuple(float(v) for v in np.exp(found.x)), -float(found.fun)
