#!/usr/bin/env python3
"""Scores one held-out window for bench/forecast_accuracy.sh: MASE of `valdrix forecast`'s
output, of seasonal naive and of exponential smoothing (stdlib only), and 80 % coverage.

usage: forecast_baselines.py SERIES.csv N_TRAIN H SEASON OURS.csv
Prints: mase=X snaive_mase=Y ets_mase=Z covered=C points=P
   or:  forecast_baselines.py plan SERIES.csv
Prints: ROWS H SEASON (hold-out length and seasonal period from the spacing of the dates)
"""
import datetime
import math
import sys


def read_values(path):
    vals = []
    with open(path) as f:
        next(f)
        for line in f:
            line = line.strip()
            if line:
                v = line.split(",")[1].strip()
                vals.append(float(v) if v and v.lower() not in ("nan", "na") else math.nan)
    return vals


def mase_scale(y, m):
    for lag in ((m, 1) if 1 < m < len(y) else (1,)):
        d = [abs(y[t] - y[t - lag]) for t in range(lag, len(y))
             if not math.isnan(y[t]) and not math.isnan(y[t - lag])]
        if d and sum(d) > 0:
            return sum(d) / len(d)
    return 1e-9


def snaive(y, m, h):
    last = [v for v in y if not math.isnan(v)][-1]
    out = []
    for k in range(h):
        v = math.nan
        idx = len(y) + k
        while m > 1 and idx >= m:
            idx -= m
            if idx < len(y) and not math.isnan(y[idx]):
                v = y[idx]
                break
        out.append(last if math.isnan(v) else v)
    return out


def ets_run(y, m, a, b, g, phi, trend, h):
    """Additive error-correction recursions; returns (sse, count, forecasts)."""
    if m > 1:
        s1 = [v for v in y[:m] if not math.isnan(v)]
        s2 = [v for v in y[m:2 * m] if not math.isnan(v)]
        l = sum(s1) / len(s1)
        l2 = sum(s2) / len(s2) if s2 else l
        bb = (l2 - l) / m if trend else 0.0
        s = [(y[j] - l if not math.isnan(y[j]) else 0.0) for j in range(m)]
    else:
        obs = [v for v in y if not math.isnan(v)]
        l, bb, s = obs[0], ((obs[1] - obs[0]) if trend and len(obs) > 1 else 0.0), [0.0]
    sse, cnt = 0.0, 0
    for t, v in enumerate(y):
        ph = t % m
        f = l + phi * bb + s[ph]
        e = 0.0 if math.isnan(v) else v - f
        if not math.isnan(v):
            sse += e * e
            cnt += 1
        l, bb = l + phi * bb + a * e, phi * bb + b * e
        s[ph] += g * e
    out, damp = [], 0.0
    for k in range(h):
        damp += phi ** (k + 1)
        out.append(l + damp * bb + s[(len(y) + k) % m])
    return sse, cnt, out


def ets(y, m, h):
    """Exponential smoothing: simple or damped-trend, additive seasonality when two seasons
    fit, each on a grid of smoothing parameters, the form chosen by AIC."""
    if m < 2 or len(y) < 2 * m:
        m = 1
    best = None
    alphas = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
    gammas = (0.01, 0.05, 0.1, 0.2) if m > 1 else (0.0,)
    for trend in (False, True):
        betas = (0.01, 0.05, 0.15) if trend else (0.0,)
        phis = (0.85, 0.95, 0.98) if trend else (1.0,)
        k = 2 + (3 if trend else 0) + (m if m > 1 else 0)
        for a in alphas:
            for bf in betas:
                for g in gammas:
                    if g > 1 - a:
                        continue
                    for phi in phis:
                        sse, cnt, out = ets_run(y, m, a, bf * a, g, phi, trend, h)
                        aic = cnt * math.log(max(sse, 1e-300) / cnt) + 2 * k
                        if best is None or aic < best[0]:
                            best = (aic, out)
    return best[1]


HOLDOUT = {1: (28, 7), 7: (26, 52), 30: (12, 12), 91: (8, 4), 365: (4, 1)}


def plan(path):
    dates = []
    with open(path) as f:
        next(f)
        for line in f:
            if line.strip():
                dates.append(datetime.date.fromisoformat(line.split(",")[0].strip()[:10]))
    gap = min((b - a).days for a, b in zip(dates, dates[1:]))
    key = min(HOLDOUT, key=lambda d: abs(d - gap))
    h, m = HOLDOUT[key]
    # short series: hold out at most a quarter, so that two origins leave history to fit
    h = max(1, min(h, len(dates) // 4))
    print(len(dates), h, m)


def main():
    if sys.argv[1] == "plan":
        plan(sys.argv[2])
        return
    path, n_train, h, m, ours = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    y = read_values(path)
    train, test = y[:n_train], y[n_train:n_train + h]
    scale = mase_scale(train, m)
    rows = []
    with open(ours) as f:
        next(f)
        for line in f:
            if line.strip():
                _, yhat, lo, hi = line.strip().split(",")
                rows.append((float(yhat), float(lo), float(hi)))
    if len(rows) != h:
        sys.exit("expected %d forecast rows, got %d" % (h, len(rows)))
    sn, es = snaive(train, m, h), ets(train, m, h)
    err = {"mase": 0.0, "snaive_mase": 0.0, "ets_mase": 0.0}
    covered = pts = 0
    for k, actual in enumerate(test):
        if math.isnan(actual):
            continue
        pts += 1
        err["mase"] += abs(actual - rows[k][0]) / scale
        err["snaive_mase"] += abs(actual - sn[k]) / scale
        err["ets_mase"] += abs(actual - es[k]) / scale
        covered += rows[k][1] <= actual <= rows[k][2]
    print(" ".join("%s=%.6f" % (key, v / max(pts, 1)) for key, v in err.items()),
          "covered=%d points=%d" % (covered, pts))


if __name__ == "__main__":
    main()
