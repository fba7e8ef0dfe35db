#!/usr/bin/env bash
# Validate docker-compose.yml without a Docker engine.
#
#   scripts/validate-compose.sh [COMPOSE_FILE]     (default: docker-compose.yml at the repo root)
#
# 1. `docker-compose config` (Debian 12's docker-compose 1.29 package, a pure-Python Compose
#    implementation whose `config` never contacts an engine): Compose schema, YAML anchors
#    and merge keys, variable interpolation, and depends_on naming defined services.
# 2. A Python check on the resolved file: every long-running service has an enabled
#    healthcheck (one-shot jobs such as `migrate`, which others wait on with
#    `service_completed_successfully`, are exempt), every depends_on names a defined
#    service with a valid condition, `service_healthy` targets have a healthcheck, no
#    host port is published twice, and the raw YAML has no duplicate keys.
#
# Installs what is missing (docker-compose, python3-yaml) with apt-get, quietly, running
# `apt-get update` only when the package lists lack them or an install fails. Relative
# paths in the file are resolved against the repo root, so a copy elsewhere validates the
# same way. Exit status 0 and one line on success; non-zero with the problems otherwise.
set -euo pipefail

prog=validate-compose
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file=${1:-$repo_root/docker-compose.yml}
PY=/usr/bin/python3

die() { echo "$prog: $*" >&2; exit 1; }

[ -f "$file" ] || die "no such file: $file"
file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")

# ---------------------------------------------------------------- tools ---
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
{ [ -x "$PY" ] && "$PY" -c 'import yaml' >/dev/null 2>&1; } || missing+=(python3-yaml)

if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get to install them (Debian/Ubuntu expected)"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}; run as root or install sudo"
        sudo=(sudo)
    fi
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt_install() {
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1
    }
    have_lists=1
    for p in "${missing[@]}"; do
        apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || have_lists=0
    done
    if [ $have_lists -eq 0 ] || ! apt_install; then
        { "${sudo[@]}" apt-get update -qq >>"$log" 2>&1 && apt_install; } || {
            cat "$log" >&2
            die "could not install ${missing[*]}"
        }
    fi
    rm -f "$log"
    trap - EXIT
    command -v docker-compose >/dev/null 2>&1 || die "docker-compose still not on PATH after install"
fi

# -------------------------------------------- 1. docker-compose config ---
err=$(mktemp)
resolved=$(mktemp)
trap 'rm -f "$err" "$resolved"' EXIT

# No engine needed; make sure nothing tries to reach one anyway.
if ! DOCKER_HOST=unix:///nonexistent.sock \
    docker-compose --project-directory "$repo_root" -f "$file" config >"$resolved" 2>"$err"; then
    cat "$err" >&2
    die "$file: docker-compose config rejected the file"
fi
# A clean file gives no diagnostics; anything on stderr (e.g. "The FOO variable is not
# set. Defaulting to a blank string.") is treated as an error.
if [ -s "$err" ]; then
    cat "$err" >&2
    die "$file: docker-compose config printed warnings"
fi

# ------------------------------------------------ 2. structural checks ---
summary=$("$PY" - "$file" "$resolved" <<'PYEOF'
import sys
import yaml

raw_path, resolved_path = sys.argv[1], sys.argv[2]
problems = []


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (merge keys `<<` may be overridden)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    problems.append(
                        f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                        f"(first at line {seen[key]})")
                else:
                    seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


with open(raw_path) as f:
    yaml.load(f, Loader=StrictLoader)
with open(resolved_path) as f:
    doc = yaml.safe_load(f) or {}

services = doc.get("services") or {}
if not isinstance(services, dict) or not services:
    problems.append("no services defined")
    services = {}

CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def deps(svc):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return {name: {"condition": "service_started"} for name in d}
    return {name: (spec or {}) for name, spec in d.items()}


def has_healthcheck(svc):
    hc = svc.get("healthcheck")
    if not isinstance(hc, dict) or hc.get("disable"):
        return False
    test = hc.get("test")
    if not test or (isinstance(test, list) and test[0] == "NONE"):
        return False
    return True


# One-shot jobs: others wait for them to complete, and they are not restarted.
one_shot = set()
for name, svc in services.items():
    for dep, spec in deps(svc).items():
        if spec.get("condition") == "service_completed_successfully":
            one_shot.add(dep)
one_shot = {n for n in one_shot
            if n in services and services[n].get("restart", "no") in ("no", None)}

published = {}
for name, svc in services.items():
    svc = svc or {}
    if name not in one_shot and not has_healthcheck(svc):
        problems.append(f"service {name!r} has no (enabled) healthcheck")
    for dep, spec in deps(svc).items():
        cond = spec.get("condition", "service_started")
        if dep not in services:
            problems.append(f"service {name!r} depends on undefined service {dep!r}")
            continue
        if dep == name:
            problems.append(f"service {name!r} depends on itself")
        if cond not in CONDITIONS:
            problems.append(f"service {name!r}: unknown depends_on condition {cond!r} for {dep!r}")
        if cond == "service_healthy" and not has_healthcheck(services[dep] or {}):
            problems.append(f"service {name!r} waits for {dep!r} to be healthy, "
                            f"but {dep!r} has no healthcheck")
    for port in svc.get("ports") or []:
        if isinstance(port, dict):
            host = str(port.get("published") or "")
            ip = str(port.get("host_ip") or "")
            proto = str(port.get("protocol") or "tcp")
        else:
            text = str(port)
            text, _, proto = text.partition("/")
            parts = text.rsplit(":", 2)
            if len(parts) < 2:
                continue  # container port only: ephemeral host port
            host = parts[-2]
            ip = parts[0] if len(parts) == 3 else ""
            proto = proto or "tcp"
        if not host:
            continue
        key = (host, proto)
        if key in published:
            problems.append(f"host port {host}/{proto} published by both "
                            f"{published[key]!r} and {name!r}")
        else:
            published[key] = name

if problems:
    for p in problems:
        print(f"validate-compose: {raw_path}: {p}", file=sys.stderr)
    sys.exit(1)

print(f"{len(services)} services, healthchecks on {len(services) - len(one_shot)} "
      f"long-running ({', '.join(sorted(one_shot)) or 'no'} one-shot), depends_on consistent")
PYEOF
) || exit 1

version=$(docker-compose version --short 2>/dev/null || echo unknown)
echo "OK: ${file#"$repo_root"/} is valid (docker-compose $version config, no engine): $summary"
