#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang-14 under ASan + UBSan (in build-fuzz/) and
# runs each for FUZZ_SECONDS (default 30) from its seed corpus; exits 1 if any target crashes.
# What libFuzzer learns goes to fuzz/corpus-out/<target>/ (git-ignored, reused by the next
# run), so fuzz/corpus/ keeps only the small seeds; crashing inputs are kept under
# build-fuzz/fuzz-artifacts/<target>/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
cc=${FUZZ_CC:-clang-14}
# Every fuzz/fuzz_<name>.c is a target (registered with vx_fuzz in fuzz/CMakeLists.txt), with
# its seeds in fuzz/corpus/<name>/.
targets=()
for f in "$root"/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    targets+=("$n:${n#fuzz_}")
done

command -v "$cc" >/dev/null || { echo "fuzz.sh: $cc not found" >&2; exit 2; }

# Warnings are errors in CI, as in the gcc build (clang sees some that gcc does not).
werror=OFF
[ "${CI:-}" = true ] && werror=ON
CC=$cc cmake -S "$root" -B "$build" -DVX_FUZZ=ON -DVX_SANITIZE=address,undefined \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVX_WERROR=$werror >/dev/null
names=()
for t in "${targets[@]}"; do names+=("${t%%:*}"); done
cmake --build "$build" --target "${names[@]}" -j"$(nproc)"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
for t in "${targets[@]}"; do
    name=${t%%:*}
    corpus=$root/fuzz/corpus/${t#*:}
    artifacts=$build/fuzz-artifacts/$name
    learned=$root/fuzz/corpus-out/$name
    mkdir -p "$artifacts" "$learned" "$corpus"
    echo "fuzz.sh: $name for ${seconds}s"
    # The first folder receives new inputs; the seed folder is only read.
    if ! "$build/bin/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" "$learned" "$corpus" \
        2>"$logs/$name.log"; then
        tail -n 60 "$logs/$name.log" >&2
        failed+=("$name")
    else
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE)' \
            "$logs/$name.log" || true
    fi
done

if ((${#failed[@]})); then
    echo "fuzz.sh: crashes in ${failed[*]}; inputs are in $build/fuzz-artifacts/" >&2
    exit 1
fi
echo "fuzz.sh: no crashes"
