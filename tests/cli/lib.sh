# Helpers for CLI tests: TAP lines that tests/run.sh counts.
#   . tests/cli/lib.sh
#   expect_exit 1 "rejects malformed exposition" "$VIGIL" inspect bad.prom
#   expect_out "names the line" "bad.prom:3" "$VIGIL" inspect bad.prom
set -u
VIGIL=${VIGIL_BIN:-./vigil}
VIGIL_DATA=${VIGIL_DATA:-../shared/data}
export VIGIL_DATA
T=0
FAILED=0
TMP=$(mktemp -d /tmp/vigil-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

ok() { T=$((T + 1)); echo "ok $T - $1"; }
not_ok() { T=$((T + 1)); FAILED=1; echo "not ok $T - $1"; shift; [ $# -gt 0 ] && printf '    %s\n' "$@"; }
skip_test() { T=$((T + 1)); echo "ok $T # SKIP $1"; }

# expect_exit CODE DESC CMD... : runs CMD, checks its exit code.
expect_exit() {
    local want=$1 desc=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then ok "$desc"; else
        not_ok "$desc" "exit $got, wanted $want: $*" "stderr: $(head -c 600 "$TMP/err")"; fi
}

# expect_out DESC PATTERN CMD... : runs CMD, checks stdout+stderr match PATTERN (grep -E).
expect_out() {
    local desc=$1 pat=$2; shift 2
    "$@" >"$TMP/out" 2>&1
    if grep -qE -- "$pat" "$TMP/out"; then ok "$desc"; else
        not_ok "$desc" "output of '$*' lacks /$pat/:" "$(head -c 800 "$TMP/out")"; fi
}

# expect_no_crash DESC CMD... : any exit 0-2 is fine, a signal or sanitizer report is not.
expect_no_crash() {
    local desc=$1; shift
    "$@" >"$TMP/out" 2>&1
    local got=$?
    if [ "$got" -le 2 ] && ! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$TMP/out"; then
        ok "$desc"; else not_ok "$desc" "exit $got: $*" "$(tail -c 800 "$TMP/out")"; fi
}

have_data() { [ -e "$VIGIL_DATA/$1" ]; }
finish() { exit $FAILED; }

# A port nobody listens on, below the kernel's range for outgoing connections
# (32768-60999 by default), so that thousands of closing client sockets on a
# busy machine cannot hold it; echo 0 if none is found. The bind race remains.
free_port() {
    local p lo
    lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    for _ in $(seq 1 50); do
        p=$(( (RANDOM % (lo - 20002)) + 20000 ))
        ss -ltn 2>/dev/null | grep -qE ":($p|$((p + 1))) " || { echo "$p"; return; }
    done
    echo 0
}
