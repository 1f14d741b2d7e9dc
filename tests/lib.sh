# shellcheck shell=bash disable=SC2154  # $work comes from the sourcing script
# Shared helpers of the shell tests (sourced; ctest runs the scripts with bash). The sourcing
# script sets $work (its scratch folder) before calling check / expect_err.
#   fail MESSAGE                      count a failure and print it
#   check DESCRIPTION RC COMMAND...   run COMMAND (stdout to $work/out, copied to $work/last;
#                                     stderr to $work/err) and expect exit code RC
#   expect_err DESCRIPTION PATTERN    the last check's stderr contains PATTERN
#   finish NAME                       print the tally; the script's exit status: 0 when no failure
fails=0 checks=0
fail() {
    fails=$((fails + 1))
    echo "FAIL: $*"
}
check() {
    local what="$1" want="$2"
    shift 2
    checks=$((checks + 1))
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    cp "$work/out" "$work/last" # the next check may read it
    if [ "$rc" != "$want" ]; then
        fail "$what: exit $rc, expected $want"
        sed 's/^/  | /' "$work/err" | head -5
    fi
}
expect_err() {
    checks=$((checks + 1))
    if ! grep -q -- "$2" "$work/err"; then
        fail "$1: stderr lacks '$2'"
        sed 's/^/  | /' "$work/err" | head -5
    fi
}
finish() {
    echo "$1: $checks checks, $fails failed${2:+, $2}"
    [ "$fails" -eq 0 ]
}
