#!/usr/bin/env bash
# Forecast accuracy of `valdrix forecast` against seasonal naive and exponential smoothing on
# every series in a folder, by rolling-origin evaluation: for origins at the last H points and
# the H before them (FC_ORIGINS, default 2), forecast H points from the history before the
# origin and score them (H by spacing: daily 28, weekly 26, monthly 12, quarterly 8, yearly 4;
# at most a quarter of a short series). MASE is scaled by the in-sample seasonal naive error
# and averaged per series, then over series; coverage80 pools every held-out point.
# Last line: forecast_accuracy mase=X snaive_mase=Y ets_mase=Z coverage80=C series=N
# Usage: bench/forecast_accuracy.sh [DATA_DIR]        (default /work/shared/data/forecast)
#        bench/forecast_accuracy.sh --fit              median fit time on 3 years of daily data;
#                                                      last line: forecast fit_ms=X ...
# VALDRIX=path/to/valdrix uses that binary instead of building one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ORIGINS=${FC_ORIGINS:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log() { echo "bench: $*" >&2; }

CFLAGS_BENCH="-std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Ilibs/core/include -Ilibs/forecast/include -Ilibs/forecast/src"
LIB_SRC="libs/forecast/src/*.c libs/core/src/alloc.c libs/core/src/clock.c libs/core/src/status.c"

if [ "${1:-}" = "--fit" ]; then
    # shellcheck disable=SC2086
    cc $CFLAGS_BENCH $LIB_SRC bench/forecast_fit.c -lm -o "$WORK/forecast_fit"
    "$WORK/forecast_fit"
    exit 0
fi

DATA=${1:-/work/shared/data/forecast}

# The real `valdrix` when it has the forecast command; otherwise the same command source
# (tools/valdrix/cmd_forecast.c) linked into a one-command driver.
BIN=${VALDRIX:-}
if [ -z "$BIN" ]; then
    if cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 &&
        cmake --build "$ROOT/build-bench" --target valdrix -j >>"$WORK/cmake.log" 2>&1 &&
        "$ROOT/build-bench/bin/valdrix" forecast --help >/dev/null 2>&1; then
        BIN="$ROOT/build-bench/bin/valdrix"
    else
        log "valdrix with the forecast command did not build; using a driver around cmd_forecast.c"
        printf 'int cmd_forecast(int argc, char **argv);\nint main(int argc, char **argv) { return argc < 2 ? 2 : cmd_forecast(argc - 2, argv + 2); }\n' >"$WORK/driver.c"
        # shellcheck disable=SC2086
        cc $CFLAGS_BENCH -Itools/valdrix $LIB_SRC tools/valdrix/cmd_forecast.c \
            tools/valdrix/args.c "$WORK/driver.c" -lm -o "$WORK/valdrix"
        BIN="$WORK/valdrix"
    fi
fi
log "using $BIN"

: >"$WORK/scores"
n_series=0
for f in "$DATA"/*.csv; do
    read -r rows H M < <(python3 bench/forecast_baselines.py plan "$f")
    name=$(basename "$f" .csv)
    scored=0
    for ((o = 1; o <= ORIGINS; o++)); do
        n_train=$((rows - o * H))
        [ "$n_train" -ge 14 ] || continue
        head -n $((n_train + 1)) "$f" >"$WORK/train.csv"
        if ! "$BIN" forecast --csv "$WORK/train.csv" --horizon "$H" --interval 0.8 \
            >"$WORK/out.csv" 2>"$WORK/err.txt"; then
            log "$name: valdrix forecast failed:"
            cat "$WORK/err.txt" >&2
            exit 1
        fi
        model=$(sed -n 's/^valdrix forecast: model=//p' "$WORK/err.txt")
        s=$(python3 bench/forecast_baselines.py "$f" "$n_train" "$H" "$M" "$WORK/out.csv")
        log "$name origin=-$((o * H)) h=$H model=\"$model\" $s"
        echo "$name $s" >>"$WORK/scores"
        scored=1
    done
    n_series=$((n_series + scored))
done

awk -v n="$n_series" '
{
    name = $1
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    m[name] += v["mase"]; s[name] += v["snaive_mase"]; e[name] += v["ets_mase"]; c[name]++
    cov += v["covered"]; pts += v["points"]
}
END {
    for (k in c) { M += m[k] / c[k]; S += s[k] / c[k]; E += e[k] / c[k] }
    printf "forecast_accuracy mase=%.4f snaive_mase=%.4f ets_mase=%.4f coverage80=%.3f series=%d\n",
        M / n, S / n, E / n, cov / pts, n
}' "$WORK/scores"
