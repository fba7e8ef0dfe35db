# shellcheck shell=bash
# The one process supervisor of scripts/stack.sh and scripts/bench/*.sh: start processes,
# wait until they answer, watch them, stop them. Source it, then:
#
#   sv_init <log dir> <label> [cleanup function]
#       traps: Ctrl-C (INT), TERM and HUP stop everything deliberately ("<label>: stopping
#       ... / stopped", exit 130); on any exit every started process is stopped, then the
#       cleanup function runs (drop databases, say where the results are).
#   sv_unset=(VAR ...)                 variables removed from every child's environment
#   sv_start <name> [VAR=value ...] <command> [args ...]
#       starts it in its own session, output to <log dir>/<name>.log (appended when the
#       same name is started again, e.g. after sv_stop).
#   sv_wait_http <name> <url> [curl options ...]   until <url> answers 2xx (30 s), or exit 1
#       with the tail of the log of any process that died meanwhile
#   sv_check_alive                                 exit 1 (with its log) if one died
#   sv_pid <name>, sv_stop <name>, sv_stop_all
#   sv_watch                                       run until a process dies or a signal
#
# Why each child gets its own session: a terminal sends Ctrl-C to the whole foreground process
# group. The services handle SIGINT and stop, so the supervisor used to see them exit before
# its own trap ran and report "exited unexpectedly". Now only the supervisor receives the
# terminal's signals, and it stops every child with SIGTERM itself: a deliberate stop reads
# as one, and no child is left behind.

sv_log_dir=
sv_label=supervise
sv_cleanup=
sv_stopping=0
sv_unset=()
sv_names=()
declare -A sv_pids=()

sv_init() { # log dir, label, [cleanup function]
  sv_log_dir=$1
  sv_label=$2
  sv_cleanup=${3:-}
  mkdir -p "$sv_log_dir"
  trap sv__on_exit EXIT
  trap 'sv__on_signal 130' INT
  trap 'sv__on_signal 143' TERM
  trap 'sv__on_signal 129' HUP
}

sv__on_signal() { # exit status
  sv_stopping=1
  trap - INT TERM HUP
  printf '\n%s: stop requested\n' "$sv_label" >&2
  exit "$1"
}

sv__on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  sv_stopping=1
  sv_stop_all
  if [ -n "$sv_cleanup" ]; then "$sv_cleanup" || true; fi
  exit "$rc"
}

sv_start() { # name, then environment assignments and the command
  local name=$1 unset_args=() var
  shift
  for var in "${sv_unset[@]}"; do unset_args+=(-u "$var"); done
  if [ -z "${sv_pids[$name]+x}" ]; then
    sv_names+=("$name")
    : >"$sv_log_dir/$name.log"
  fi
  # setsid execs (no fork) because this background child is not a process-group leader,
  # so $! is the process itself.
  setsid env "${unset_args[@]}" "$@" >>"$sv_log_dir/$name.log" 2>&1 </dev/null &
  sv_pids[$name]=$!
}

sv_pid() { # name
  [ -n "${sv_pids[$1]:-}" ] || return 1
  echo "${sv_pids[$1]}"
}

sv__running() { # names of started processes that have not been stopped
  local name
  for name in "${sv_names[@]}"; do
    [ -n "${sv_pids[$name]:-}" ] && echo "$name"
  done
}

sv__terminate() { # pids: TERM, up to 10 s, then KILL
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local alive pid
  for _ in $(seq 1 100); do
    alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  wait "$@" 2>/dev/null || true
}

sv_stop() { # name
  local pid=${sv_pids[$1]:-}
  [ -n "$pid" ] || return 0
  sv__terminate "$pid"
  sv_pids[$1]=
}

sv_stop_all() {
  local names pids=() name
  mapfile -t names < <(sv__running)
  [ ${#names[@]} -gt 0 ] || return 0
  printf '%s: stopping %s\n' "$sv_label" "${names[*]}" >&2
  for name in "${names[@]}"; do pids+=("${sv_pids[$name]}"); sv_pids[$name]=; done
  sv__terminate "${pids[@]}"
  printf '%s: stopped\n' "$sv_label" >&2
}

sv_check_alive() {
  local name pid
  for name in "${sv_names[@]}"; do
    pid=${sv_pids[$name]:-}
    [ -n "$pid" ] || continue
    if ! kill -0 "$pid" 2>/dev/null; then
      [ "$sv_stopping" = 1 ] && return 0
      sv_pids[$name]=
      echo "$sv_label: $name exited unexpectedly; last lines of $sv_log_dir/$name.log:" >&2
      tail -n 20 "$sv_log_dir/$name.log" >&2
      exit 1
    fi
  done
}

sv_wait_http() { # name url [curl options]
  local name=$1 url=$2
  shift 2
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null --max-time 1 "$@" "$url" 2>/dev/null && return 0
    sv_check_alive
    sleep 0.1
  done
  echo "$sv_label: $name did not answer $url within 30 s (see $sv_log_dir/$name.log)" >&2
  exit 1
}

sv_watch() {
  while :; do
    sv_check_alive
    sleep 1
  done
}
