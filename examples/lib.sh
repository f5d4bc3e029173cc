# What the example scripts share (sourced, from the repository's root):
# build the binaries once (`BRINE_PROFILE=release` for release), a
# temporary directory removed at exit, every process started recorded in
# `pids` and stopped by PID at exit, and free loopback ports.
# Usage: demo_setup NAME   (sets bin, dir)

demo_setup() {
    profile=${BRINE_PROFILE:-debug}
    echo "==> building ($profile)"
    if [[ $profile == release ]]; then cargo build -q --release --bins; else cargo build -q --bins; fi
    bin="${CARGO_TARGET_DIR:-target}/$profile"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/brine-$1.XXXXXX")
    pids=()
    trap demo_cleanup EXIT
}

demo_cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
