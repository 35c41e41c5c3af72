# Shared by run.sh and churn.sh (sourced, not run).

# Installs the given Debian packages (none: nothing); apt-get update only if
# the first attempt fails. The resolver configuration is never touched.
install_missing() {
  [[ $# -gt 0 ]] || return 0
  echo "installing $*" >&2
  local sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 ||
    { $sudo apt-get update >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; }
}

# Sets $work to a new directory /tmp/PREFIX.XXXXXX. On exit, every process
# group listed in $work/pids is killed and the directory removed (kept when
# the script's arguments, in $args, include --keep).
make_workdir() {
  work="$(mktemp -d "/tmp/$1.XXXXXX")"
  trap cleanup_workdir EXIT
  trap 'exit 130' INT TERM
}

cleanup_workdir() {
  if [[ -f "$work/pids" ]]; then
    while read -r pid; do kill -KILL -- "-$pid" "$pid" 2>/dev/null || true; done < "$work/pids"
  fi
  [[ " ${args[*]-} " == *" --keep "* ]] && echo "kept $work" >&2 || rm -rf "$work"
}

# Prints bench/results/NAME-<date>.md, or NAME-<date>b.md, c, ... if that
# is taken: a second run on the same day does not overwrite the first.
results_file() {
  local base="$repo/bench/results/$1-$(date -u +%F)" suffix=""
  for suffix in "" b c d e f g h i j k l m n o p q r s t u v w x y z; do
    [[ -e "$base$suffix.md" ]] || break
  done
  echo "$base$suffix.md"
}
