#!/usr/bin/env bash
# Runs every unit test binary given as arguments (cmocka, TAP output), then
# every tests/cli/*.sh, each under a time limit, and ends with one summary
# line: "total: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
CLI_TIMEOUT=${CLI_TIMEOUT:-600}
pass=0 fail=0 skip=0
failed_names=()
log_dir=${VIGIL_BUILD:-build}/test-logs
mkdir -p "$log_dir"

count_tap() { # file name
    local p f s
    # cmocka prints a skipped test as "not ok N # SKIP", the CLI tests as "ok N # SKIP".
    p=$(grep -cE '^ok [0-9]+' "$1" | tr -d ' ')
    s=$(grep -cE '^(not )?ok [0-9]+.*# ?SKIP' "$1" | tr -d ' ')
    f=$(grep -E '^not ok [0-9]+' "$1" | grep -cvE '# ?SKIP' | tr -d ' ')
    p=$((p - $(grep -cE '^ok [0-9]+.*# ?SKIP' "$1" | tr -d ' ')))
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$f" -gt 0 ]; then failed_names+=("$2"); fi
    printf '%-28s %3d passed, %d failed, %d skipped\n' "$2" "$p" "$f" "$s"
}

for t in "$@"; do
    name=$(basename "$t")
    log="$log_dir/$name.log"
    CMOCKA_MESSAGE_OUTPUT=TAP timeout "$UNIT_TIMEOUT" "$t" >"$log" 2>&1
    rc=$?
    count_tap "$log" "$name"
    if [ $rc -ne 0 ] && ! grep -E '^not ok' "$log" | grep -qvE '# ?SKIP'; then
        # Crash, timeout or sanitizer report outside any test case.
        fail=$((fail + 1)); failed_names+=("$name(exit $rc)")
        echo "  $name exited $rc:"; tail -n 20 "$log" | sed 's/^/    /'
    elif grep -E '^not ok' "$log" | grep -qvE '# ?SKIP'; then
        grep -E -A8 '^not ok|ERROR|Failure|error:' "$log" | head -n 40 | sed 's/^/    /'
    fi
done

for s in tests/cli/*.sh; do
    [ -e "$s" ] || continue
    case "$s" in */lib.sh) continue ;; esac
    name=$(basename "$s" .sh)
    log="$log_dir/cli-$name.log"
    timeout "$CLI_TIMEOUT" bash "$s" >"$log" 2>&1
    rc=$?
    count_tap "$log" "cli/$name"
    if [ $rc -ne 0 ]; then
        if ! grep -qE '^not ok' "$log"; then
            fail=$((fail + 1)); failed_names+=("cli/$name(exit $rc)")
        fi
        grep -E -B2 -A10 '^not ok' "$log" | head -n 60 | sed 's/^/    /'
        [ $rc -eq 124 ] && echo "    cli/$name timed out"
    fi
done

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "total: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
