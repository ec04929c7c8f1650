#!/usr/bin/env bash
# Checks README's two commands as a new user meets them. DESTRUCTIVE, on purpose: run it only on
# a development machine. It
#   1. purges every Debian package scripts/setup.sh installs (apt-get purge, then autoremove;
#      with --toolchain also cmake, g++, make and python3, which most machines have already),
#   2. removes the npm cache and this clone's build outputs (build/, dist/, node_modules/, .venv/),
#   3. clones the repository afresh (its committed HEAD) into a temporary folder,
#   4. runs `npm run demo` and `npm test` there (--test-first: the other order), timing each.
# It prints one JSON line with the result and the timings, and exits non-zero if a step failed.
#   bash scripts/check-fresh-install.sh [--yes] [--toolchain] [--test-first] [--keep]
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
say() { printf 'check-fresh-install: %s\n' "$*" >&2; }

yes=0 toolchain=0 test_first=0 keep=0
for arg in "$@"; do
  case "$arg" in
    --yes) yes=1 ;;
    --toolchain) toolchain=1 ;;
    --test-first) test_first=1 ;;
    --keep) keep=1 ;;
    *) say "unknown argument '$arg' (known: --yes, --toolchain, --test-first, --keep)"; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then say "must run as root (it purges system packages)"; exit 2; fi
if [ "$yes" != 1 ]; then
  say "this purges system packages, the npm cache and this clone's build outputs; rerun with --yes"
  exit 2
fi

{ read -r -a project_packages; read -r -a toolchain_packages; } < <(bash scripts/setup.sh --list-packages)
purge=("${project_packages[@]}")
if [ "$toolchain" = 1 ]; then purge+=("${toolchain_packages[@]}"); fi
installed=()
for p in "${purge[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" && installed+=("$p"); done

t0=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
if [ ${#installed[@]} -gt 0 ]; then
  say "purging ${installed[*]}"
  apt-get purge -y -q "${installed[@]}" >&2 || { say "apt-get purge failed"; exit 1; }
fi
apt-get autoremove --purge -y -q >&2 || { say "apt-get autoremove failed"; exit 1; }
left=$(bash -c 'for p in "$@"; do dpkg-query -W -f="\${Status}" "$p" 2>/dev/null | grep -q "ok installed" && echo "$p"; done' _ "${purge[@]}")
if [ -n "$left" ]; then say "still installed after the purge: $left"; exit 1; fi
say "removing the npm cache and the build outputs"
npm cache clean --force >/dev/null 2>&1
rm -rf "$HOME/.npm/_cacache" build dist node_modules .venv
t_clean=$(( $(date +%s) - t0 ))

work=$(mktemp -d /tmp/simclr-fresh-XXXXXX)
git clone -q "$repo" "$work/simclr" || { say "git clone failed"; exit 1; }
cd "$work/simclr"
say "fresh clone at $work/simclr ($(git rev-parse --short HEAD))"

run_step() {  # name command... -> sets rc_<name>, s_<name>
  local name=$1; shift
  local start; start=$(date +%s)
  say "running: $*"
  "$@" > "$work/$name.log" 2>&1
  local rc=$?
  eval "rc_$name=$rc; s_$name=$(( $(date +%s) - start ))"
  if [ $rc = 0 ]; then say "$* passed in $(( $(date +%s) - start )) s"; else say "$* FAILED (exit $rc); the last lines of $work/$name.log:"; tail -30 "$work/$name.log" >&2; fi
}
if [ "$test_first" = 1 ]; then run_step test npm test; run_step demo npm run demo
else run_step demo npm run demo; run_step test npm test; fi

summary=$(grep -E '^# (tests|pass|fail|skipped) ' "$work/test.log" | tr '\n' ' ')
printf '{"commit":"%s","order":"%s","purged":"%s","clean_s":%d,"demo_rc":%d,"demo_s":%d,"test_rc":%d,"test_s":%d,"tests":"%s","logs":"%s"}\n' \
  "$(git rev-parse --short HEAD)" "$([ "$test_first" = 1 ] && echo test,demo || echo demo,test)" "${installed[*]}" "$t_clean" \
  "$rc_demo" "$s_demo" "$rc_test" "$s_test" "${summary% }" "$work"
if [ "$keep" != 1 ] && [ "$rc_demo" = 0 ] && [ "$rc_test" = 0 ]; then rm -rf "$work/simclr"; fi
[ "$rc_demo" = 0 ] && [ "$rc_test" = 0 ]
