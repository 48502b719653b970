#!/bin/sh
# bootstrap.sh - set up a Debian 12 machine for DistribuX, build, and run.
#
#   sh scripts/bootstrap.sh demo    install what is missing, build, run distribux demo
#   sh scripts/bootstrap.sh test    install what is missing, build with
#                                   ASan+UBSan, run the whole suite (ctest)
#   sh scripts/bootstrap.sh build   install what is missing and build
#
# Installing needs root (apt-get); everything else runs as any user.
# BUILD_DIR overrides the build directory (default build, or build-asan for
# the tests).  CI=true turns warnings into errors.
set -eu

cd "$(dirname "$0")/.."
what=${1:-demo}

packages="build-essential cmake pkg-config libpaho-mqtt-dev libssl-dev \
libcjson-dev libcmocka-dev libedit-dev mosquitto mosquitto-clients clang libclang-rt-14-dev \
openssl docker-compose"

install_missing() {
    missing=""
    for p in $packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: missing packages:$missing; run as root to install them" >&2
        exit 1
    fi
    echo "bootstrap: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
}

build() {
    dir=$1; shift
    werror=OFF
    [ "${CI:-}" = true ] && werror=ON
    cmake -S . -B "$dir" -DDX_WERROR=$werror "$@"
    cmake --build "$dir" -j "$(nproc)"
}

# The decoders under libFuzzer (clang, ASan, UBSan) for a short while, on a
# scratch copy of the seed corpus: a crash fails the run.
fuzz_smoke() {
    # Every target of tests/fuzz for DX_FUZZ_SECONDS each (default 25: six
    # targets take about 2.5 minutes); DX_FUZZ_SECONDS=0 skips fuzzing.
    secs=${DX_FUZZ_SECONDS:-25}
    [ "$secs" = 0 ] && return 0
    targets=${DX_FUZZ_TARGETS:-"fuzz_membership fuzz_election fuzz_tasks \
fuzz_requests fuzz_topic fuzz_decode fuzz_dfs"}
    CC=clang cmake -S . -B build-fuzz -DDX_FUZZ=ON -DDX_WERROR=OFF > /dev/null
    # shellcheck disable=SC2086
    for t in $targets; do
        cmake --build build-fuzz --target "$t" -j "$(nproc)" > /dev/null
    done
    rm -rf build-fuzz/crashes
    mkdir -p build-fuzz/crashes
    failed=""
    for t in $targets; do
        corpus=$(mktemp -d)
        cp tests/fuzz/corpus/* "$corpus"/
        log=build-fuzz/$t.log
        echo "bootstrap: fuzzing $t for $secs s"
        if build-fuzz/bin/"$t" -max_total_time="$secs" -print_final_stats=1 \
                -artifact_prefix=build-fuzz/crashes/"$t"- "$corpus" \
                > "$log" 2>&1; then
            grep -E '^Done [0-9]+ runs' "$log" || tail -n 1 "$log"
        else
            tail -n 40 "$log"
            for f in build-fuzz/crashes/"$t"-*; do
                [ -e "$f" ] && echo "bootstrap: $t crash input: $f" >&2
            done
            echo "bootstrap: $t failed (log: $log); replay with" \
                 "build-fuzz/bin/$t <crash input>" >&2
            failed="$failed $t"
        fi
        rm -rf "$corpus"
    done
    if [ -n "$failed" ]; then
        echo "bootstrap: the fuzzer found crashes in:$failed" >&2
        exit 1
    fi
}

install_missing
case "$what" in
demo)
    dir=${BUILD_DIR:-build}
    build "$dir"
    exec "$dir/bin/distribux" demo
    ;;
test)
    dir=${BUILD_DIR:-build-asan}
    build "$dir" -DDX_ASAN=ON -DDX_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug
    cd "$dir"
    # Sanitizers: stop at the first error, and report leaks.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure --timeout 600
    cd ..
    fuzz_smoke
    ;;
build)
    build "${BUILD_DIR:-build}"
    ;;
*)
    echo "usage: sh scripts/bootstrap.sh demo|test|build" >&2
    exit 2
    ;;
esac
