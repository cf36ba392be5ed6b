#!/usr/bin/env bash
# scripts/container-engine.sh — a private, throw-away Docker engine for the
# testcontainers path of the test suite (issue 7).
#
# Why this exists: the CI/dev machines have no Docker daemon and no access to
# any image registry (Docker Hub is unreachable, `docker pull` fails), but they
# do have root, Debian apt mirrors and the npm registry. So we
#   * run Debian's dockerd by hand, with ALL of its state under one directory,
#   * build a postgres:15 look-alike image locally (debootstrap + docker import),
#   * print the environment testcontainers needs to use both.
#
# Usage:
#   eval "$(scripts/container-engine.sh start)"   # idempotent; logs go to stderr
#   scripts/container-engine.sh env                # print the export lines again
#   scripts/container-engine.sh stop               # idempotent; undoes `start`
#
# Tunables (environment):
#   ARS_ENGINE_DIR      state dir (data-root, exec-root, pidfile, socket, logs)
#                       default: ${TMPDIR:-/tmp}/ars-container-engine
#   ARS_ENGINE_CACHE    where the debootstrap rootfs tarball is cached; `stop`
#                       keeps it. default: /var/cache/ars-container-engine
#   ARS_ENGINE_BRIDGE   bridge interface we create for the engine (ars-docker0)
#   ARS_ENGINE_BIP      address/prefix of that bridge (10.213.255.1/24)
#   ARS_ENGINE_POOL     address pool for user-defined networks (10.213.0.0/17)
#   ARS_ENGINE_IPTABLES true|false|auto (auto): let dockerd manage iptables.
#   ARS_ENGINE_MIRROR   Debian mirror for debootstrap (default: from apt sources)
#   ARS_POSTGRES_IMAGE  tag of the local postgres image (ars-local/postgres:15)
#
# Must run as root (dockerd, bridges, iptables and debootstrap all need it).

set -euo pipefail

STATE="${ARS_ENGINE_DIR:-${TMPDIR:-/tmp}/ars-container-engine}"
CACHE="${ARS_ENGINE_CACHE:-/var/cache/ars-container-engine}"
BRIDGE="${ARS_ENGINE_BRIDGE:-ars-docker0}"
BIP="${ARS_ENGINE_BIP:-10.213.255.1/24}"
POOL="${ARS_ENGINE_POOL:-10.213.0.0/17}"
IPTABLES_MODE="${ARS_ENGINE_IPTABLES:-auto}"
IMAGE="${ARS_POSTGRES_IMAGE:-ars-local/postgres:15}"
SUITE=bookworm
PG_MAJOR=15
# Bump when the debootstrap recipe below changes, so a stale cache is not reused.
ROOTFS_VERSION=2
ROOTFS_TAR="$CACHE/postgres${PG_MAJOR}-${SUITE}-rootfs-v${ROOTFS_VERSION}.tar"
BASE_IMAGE="ars-local/postgres-rootfs:${PG_MAJOR}-v${ROOTFS_VERSION}"

SOCK="$STATE/docker.sock"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
BASELINE="$STATE/baseline"   # host state recorded before dockerd first ran
# (/run/mount is util-linux's utab dir, created by the first mount/umount.)
# Containers go into their own cgroup parent (instead of the shared "docker"),
# so `stop` can find and kill what a crashed engine leaves running and remove
# the cgroup directories afterwards. Derived from the state dir: two engines
# with different ARS_ENGINE_DIR never share one.
CGROUP_PARENT="ars-engine-$(printf '%s' "$STATE" | sha256sum | cut -c1-10)"
OUTSIDE_DIRS="/run/docker /run/containerd /run/mount /etc/docker /var/lib/docker /var/lib/containerd"

# Every docker CLI call of this script talks to OUR daemon only, never to a
# context or host that might be configured in the caller's environment.
export DOCKER_HOST="unix://$SOCK"
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH || true

# stdout is reserved for the `export` lines (eval "$(... start)"); everything
# else goes to stderr.
log() { printf '[container-engine] %s\n' "$*" >&2; }
die() {
  {
    printf '\n[container-engine] ######################################################\n'
    printf '[container-engine] ERROR: %s\n' "$*"
    printf '[container-engine] ######################################################\n\n'
  } >&2
  exit 1
}

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (dockerd, bridge, iptables and debootstrap need it)"
}

# Prefer Debian's client (same version as the daemon); a newer client that may
# already sit on PATH (e.g. a v28 /usr/local/bin/docker) also works, it
# negotiates the API version down.
docker_cli() {
  if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else docker "$@"; fi
}

# ---------------------------------------------------------------------------
# packages
# ---------------------------------------------------------------------------

# Install only what is missing; `apt-get update` only when something is.
ensure_packages() {
  local -a missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v flock >/dev/null 2>&1 || missing+=(util-linux)
  [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  # docker.io's postinst tries to start the service; policy-rc.d blocks that on
  # these machines, which is fine: we start dockerd ourselves below.
  # --no-install-recommends keeps git, apparmor, needrestart... out.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
    die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------------------
# host state bookkeeping (so `stop` can put everything back)
# ---------------------------------------------------------------------------

iptables_is_nft() { iptables -V 2>/dev/null | grep -q nf_tables; }

# Decide whether dockerd manages iptables. It is needed for the usual Docker
# networking (NAT, masquerade, FORWARD accept rules for the bridge); published
# ports would still work through docker-proxy without it, so if iptables is
# unusable here (no kernel support) we fall back to --iptables=false.
resolve_iptables_mode() {
  case "$IPTABLES_MODE" in
    true | false) ;;
    auto)
      if iptables -t nat -S >/dev/null 2>&1 && iptables -t filter -S >/dev/null 2>&1; then
        IPTABLES_MODE=true
      else
        log "WARNING: iptables does not work here; starting dockerd with --iptables=false (ports still published via docker-proxy)"
        IPTABLES_MODE=false
      fi
      ;;
    *) die "ARS_ENGINE_IPTABLES must be true, false or auto (got '$IPTABLES_MODE')" ;;
  esac
}

# Recorded once, before the first dockerd of this state dir starts; kept until
# `stop` has restored it. (A crashed run leaves it behind and it stays valid.)
record_baseline() {
  [ -f "$BASELINE/done" ] && return 0
  mkdir -p "$BASELINE"
  # iptables-save is read-only; `iptables -S` is too, but on the nft backend
  # neither creates tables, which matters for the comparison in `stop`.
  iptables-save >"$BASELINE/iptables.save" 2>/dev/null || : >"$BASELINE/iptables.save"
  if command -v nft >/dev/null 2>&1; then
    nft list tables >"$BASELINE/nft.tables" 2>/dev/null || : >"$BASELINE/nft.tables"
  fi
  sysctl -n net.ipv4.ip_forward >"$BASELINE/ip_forward" 2>/dev/null || echo 0 >"$BASELINE/ip_forward"
  # dockerd sets the FORWARD policy to DROP when it had to turn ip_forward on.
  awk '/^\*filter/{f=1} f && /^:FORWARD /{print $2; exit}' "$BASELINE/iptables.save" >"$BASELINE/forward_policy"
  # Directories dockerd/containerd create outside --exec-root whatever we say
  # (/run/docker/plugins, /run/containerd/s for shim sockets, /etc/docker).
  local d
  : >"$BASELINE/absent_dirs"
  for d in $OUTSIDE_DIRS; do
    [ -e "$d" ] || echo "$d" >>"$BASELINE/absent_dirs"
  done
  touch "$BASELINE/done"
}

# Bridge: we create it ourselves and hand it to dockerd with --bridge, so the
# name/subnet cannot collide with a real docker0 and `stop` knows it owns it.
ensure_bridge() {
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    [ -f "$STATE/bridge.created" ] ||
      die "interface $BRIDGE already exists but was not created by this script (set ARS_ENGINE_BRIDGE)"
    return 0
  fi
  local gw="${BIP%/*}" clash
  # Refuse a subnet that is already routed somewhere (ignoring the default route).
  clash="$(ip -4 route show match "$gw" 2>/dev/null | grep -v '^default' || true)"
  [ -z "$clash" ] || die "bridge address $BIP clashes with existing route(s): $clash (set ARS_ENGINE_BIP/ARS_ENGINE_POOL)"
  ip link add name "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE"
  touch "$STATE/bridge.created"
  ip addr add "$BIP" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# ---------------------------------------------------------------------------
# daemon
# ---------------------------------------------------------------------------

daemon_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: it must be a dockerd using our socket.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$SOCK" || return 1
  echo "$pid"
}

daemon_answers() { docker_cli info >/dev/null 2>&1; }

start_daemon() {
  if daemon_pid >/dev/null && daemon_answers; then
    log "dockerd already running (pid $(daemon_pid)), socket $SOCK"
    return 0
  fi
  if daemon_pid >/dev/null; then
    log "dockerd pid $(daemon_pid) exists but does not answer; restarting it"
    stop_engine_processes
  fi

  mkdir -p "$STATE/data" "$STATE/exec"
  chmod 711 "$STATE"
  resolve_iptables_mode
  record_baseline
  ensure_bridge

  # Our own config file: without --config-file dockerd reads
  # /etc/docker/daemon.json, which could drag host settings (registry mirrors,
  # storage driver…) in. "deprecated-key-path" (config-file only, no flag in
  # 20.10) keeps the libtrust key out of /etc/docker/key.json.
  printf '{ "deprecated-key-path": "%s" }\n' "$STATE/key.json" >"$STATE/daemon.json"

  # Flags, and why:
  #  --data-root/--exec-root/--pidfile/-H   everything under $STATE; the managed
  #                     containerd it spawns also lives under data-root/exec-root.
  #  --bridge           our own bridge (see ensure_bridge); --bip cannot be
  #                     combined with --bridge, the bridge's own address is used.
  #  --default-address-pool  user-defined networks (testcontainers Network)
  #                     come out of a private range instead of 172.17+/16.
  #  --containerd-namespace   in case a system containerd is picked up.
  #  --cgroup-parent    see CGROUP_PARENT.
  #  --iptables         see resolve_iptables_mode.
  #  --userland-proxy   (default) docker-proxy makes published ports reachable
  #                     on localhost as well as on the bridge gateway.
  log "starting dockerd (state $STATE, bridge $BRIDGE $BIP, iptables=$IPTABLES_MODE)"
  # setsid + closed fds: dockerd must not keep the caller's `$( )` pipe or our
  # lock (fd 9) open, or `eval "$(... start)"` would hang.
  setsid dockerd \
    --config-file "$STATE/daemon.json" \
    --data-root "$STATE/data" \
    --exec-root "$STATE/exec" \
    --pidfile "$PIDFILE" \
    --host "unix://$SOCK" \
    --bridge "$BRIDGE" \
    --default-address-pool "base=$POOL,size=24" \
    --containerd-namespace ars-moby \
    --containerd-plugins-namespace ars-plugins \
    --cgroup-parent "/$CGROUP_PARENT" \
    --iptables="$IPTABLES_MODE" \
    --ip-masq="$IPTABLES_MODE" \
    </dev/null >>"$LOG" 2>&1 9>&- &
  local launched=$! i
  for i in $(seq 1 120); do
    if daemon_answers; then
      log "dockerd is up (pid $(cat "$PIDFILE" 2>/dev/null || echo "$launched")) after ~$((i / 4)).$(((i % 4) * 25))s"
      return 0
    fi
    if ! kill -0 "$launched" 2>/dev/null; then break; fi
    sleep 0.25
  done
  log "---- last lines of $LOG ----"
  tail -n 40 "$LOG" >&2 || true
  log "---- cleaning up the half-started engine ----"
  do_stop || true
  die "the container engine did not start (dockerd exited or did not answer within 30s; log above)"
}

# ---------------------------------------------------------------------------
# postgres image
# ---------------------------------------------------------------------------

debian_mirror() {
  if [ -n "${ARS_ENGINE_MIRROR:-}" ]; then echo "$ARS_ENGINE_MIRROR"; return; fi
  # Use the mirror apt is configured with (deb822 or one-line format).
  local m
  m="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)"
  [ -n "$m" ] || m="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  echo "${m:-http://deb.debian.org/debian}"
}

unmount_under() { # unmount every mount point below $1, deepest first
  local dir="$1" mp
  [ -d "$dir" ] || return 0
  awk -v d="$dir/" 'index($5 "/", d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r mp; do
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "WARNING: could not unmount $mp"
    done
}

# debootstrap a minimal bookworm with postgresql-15 once, and cache it as a tar.
build_rootfs_tar() {
  [ -s "$ROOTFS_TAR" ] && return 0
  local root="$CACHE/rootfs.partial" mirror t0=$SECONDS
  mirror="$(debian_mirror)"
  unmount_under "$root"
  rm -rf "$root" "$ROOTFS_TAR.partial"
  log "debootstrap $SUITE (minbase + postgresql-$PG_MAJOR) from $mirror — about a minute, done once, cached in $CACHE"
  if ! debootstrap --variant=minbase --include="postgresql-$PG_MAJOR,locales" \
    "$SUITE" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 9>&-; then
    tail -n 30 "$CACHE/debootstrap.log" >&2 || true
    unmount_under "$root"
    die "debootstrap failed (full log: $CACHE/debootstrap.log)"
  fi
  unmount_under "$root" # debootstrap normally unmounts /proc,/sys itself; be sure
  # en_US.UTF-8 like the official image (LANG=en_US.utf8 there).
  echo 'en_US.UTF-8 UTF-8' >"$root/etc/locale.gen"
  chroot "$root" /usr/sbin/locale-gen >&2
  # Slim it down: every start after `stop` has to `docker import` this tarball
  # again (the engine's data-root is thrown away), and import time is roughly
  # proportional to size (~440 MB -> ~10 s, ~230 MB -> ~5 s).
  #  - the default cluster 15/main the package created (we initdb our own),
  #  - apt caches, docs, man pages, message translations, locale sources
  #    (locale-gen has already compiled en_US.UTF-8 into locale-archive),
  #  - the LLVM JIT (libLLVM + libz3, ~130 MB): with llvmjit.so absent
  #    PostgreSQL silently runs without JIT, which test databases never need.
  rm -rf "$root/var/lib/postgresql/$PG_MAJOR/main" "$root/etc/postgresql/$PG_MAJOR/main"
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* "$root/var/log/"*.log
  rm -rf "$root/usr/share/doc/"* "$root/usr/share/man/"* "$root/usr/share/info/"* \
    "$root/usr/share/locale/"* "$root/usr/share/i18n"
  rm -rf "$root/usr/lib/postgresql/$PG_MAJOR/lib/llvmjit"*.so "$root/usr/lib/postgresql/$PG_MAJOR/lib/bitcode" \
    "$root/usr/lib/x86_64-linux-gnu/libLLVM-"*.so* "$root/usr/lib/x86_64-linux-gnu/libz3.so"*
  # Numeric owners: the tar is imported into an image where only the rootfs's
  # own /etc/passwd counts.
  tar -C "$root" --numeric-owner -cf "$ROOTFS_TAR.partial" . || die "could not write $ROOTFS_TAR"
  mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
  rm -rf "$root"
  # Tarballs of older recipe versions are dead weight now.
  find "$CACHE" -maxdepth 1 -name "postgres${PG_MAJOR}-${SUITE}-rootfs-v*.tar" ! -path "$ROOTFS_TAR" -delete
  log "rootfs cached: $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1), $((SECONDS - t0))s)"
}

# The entrypoint mimics the official postgres image's docker-entrypoint.sh in
# the parts testcontainers relies on: POSTGRES_USER/PASSWORD/DB (and
# POSTGRES_HOST_AUTH_METHOD, POSTGRES_INITDB_ARGS, /docker-entrypoint-initdb.d),
# initdb on first start through a temporary socket-only server, then `exec
# postgres` listening on 0.0.0.0:5432. Like the official image the server is
# started twice on first boot (so "database system is ready to accept
# connections" is logged twice); @testcontainers/postgresql 11.14 does not
# wait for that line anyway: it waits for its own HEALTHCHECK (pg_isready
# --host localhost, which fails while the temporary server has no TCP
# listener) plus the mapped port answering. It lives at the same path as in
# the official image because PostgreSqlContainer.withSSL() execs
# /usr/local/bin/docker-entrypoint.sh.
entrypoint_script() {
  cat <<'ENTRYPOINT'
#!/bin/bash
# ars-local/postgres entrypoint: a small re-implementation of the official
# postgres image's docker-entrypoint.sh (see scripts/container-engine.sh).
set -Eeuo pipefail
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 2775 /var/run/postgresql
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
    echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
    echo '       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust).' >&2
    exit 1
  fi
  pwargs=()
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    pwargs=(--pwfile="$pwfile")
  fi
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" "${pwargs[@]}" ${POSTGRES_INITDB_ARGS:-}
  [ -z "${pwfile:-}" ] || rm -f "$pwfile"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"

  # Temporary server on the unix socket only, as in the official image.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  psql_=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [ "$POSTGRES_DB" != 'postgres' ]; then
    "${psql_[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
  fi
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) "${psql_[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) gunzip -c "$f" | "${psql_[@]}" --dbname "$POSTGRES_DB" ;;
      *) echo "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
ENTRYPOINT
}

# Image = rootfs tarball (docker import, no registry needed) + a thin layer
# with the entrypoint (docker create/cp/commit). Splitting it means changing
# the entrypoint never invalidates the debootstrap cache.
ensure_image() {
  local want have cid t0=$SECONDS
  want="$(entrypoint_script | sha256sum | cut -c1-16)"
  have="$(docker_cli image inspect -f '{{ index .Config.Labels "ars.entrypoint" }}' "$IMAGE" 2>/dev/null || true)"
  if [ "$have" = "$want" ]; then
    log "image $IMAGE already present, reusing it"
    return 0
  fi
  if ! docker_cli image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    build_rootfs_tar
    log "importing $ROOTFS_TAR as $BASE_IMAGE"
    # --change cannot set STOPSIGNAL (refused by docker import/commit); the
    # official image uses SIGINT, testcontainers stops with timeout 0 (SIGKILL
    # right after the signal) so it makes no difference there.
    docker_cli import "$ROOTFS_TAR" "$BASE_IMAGE" >/dev/null || die "docker import failed"
  fi
  entrypoint_script >"$STATE/docker-entrypoint.sh"
  chmod 755 "$STATE/docker-entrypoint.sh"
  cid="$(docker_cli create "$BASE_IMAGE" /bin/true)"
  docker_cli cp "$STATE/docker-entrypoint.sh" "$cid:/usr/local/bin/docker-entrypoint.sh"
  # PATH puts /usr/lib/postgresql/15/bin first: initdb/pg_ctl live there, and
  # testcontainers' HEALTHCHECK calls `pg_isready` by bare name.
  docker_cli commit \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change "ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV PG_MAJOR=$PG_MAJOR" \
    --change 'ENV LANG=en_US.utf8' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'EXPOSE 5432' \
    --change "LABEL ars.entrypoint=$want" \
    "$cid" "$IMAGE" >/dev/null || die "docker commit failed"
  docker_cli rm "$cid" >/dev/null
  log "image $IMAGE ready ($((SECONDS - t0))s)"
}

print_env() {
  printf 'export DOCKER_HOST=%q\n' "unix://$SOCK"
  printf 'export TESTCONTAINERS_RYUK_DISABLED=true\n'
  # Reach the containers' published ports on loopback (docker-proxy listens there too), so the
  # tests never send traffic to the bridge's private address.
  printf 'export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1\n'
  printf 'export ARS_POSTGRES_IMAGE=%q\n' "$IMAGE"
}

# ---------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------

# Engine processes (dockerd, its managed containerd, containerd shims,
# docker-proxy) whose command line mentions our state dir. Matching the
# (unique) state dir means we only ever touch what this script started.
engine_pids() {
  local p comm
  for p in /proc/[0-9]*; do
    comm=''
    read -r comm 2>/dev/null <"$p/comm" || continue
    case "$comm" in
      dockerd | containerd | containerd-shim* | docker-proxy | runc) ;;
      *) continue ;;
    esac
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$STATE/"; then
      echo "${p#/proc/}"
    fi
  done
  return 0
}

stop_engine_processes() {
  local pid i
  pid="$(daemon_pid || true)"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd did not exit, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # Containers still running (only after a crash): kill them while their
  # shims are alive to reap them (a process orphaned to PID 1 stays a zombie,
  # and keeps its cgroup busy, until PID 1 gets round to reaping it).
  cleanup_cgroups
  # Leftovers (managed containerd, shims) after a crash or a KILL.
  for i in 1 2 3 4 5 6 7 8; do
    [ -n "$(engine_pids)" ] || return 0
    sleep 0.25
  done
  for pid in $(engine_pids); do
    [ "$pid" = "$$" ] && continue
    log "killing leftover engine process $pid"
    kill -KILL "$pid" 2>/dev/null || true
  done
  sleep 0.5
}

# Container processes survive a crashed (KILLed) dockerd/shim; they all sit in
# our cgroup parent. Kill them, then remove the (empty) cgroup directories,
# which runc/dockerd leave behind even on a clean shutdown.
cleanup_cgroups() {
  local dirs d pid i
  dirs="$(find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name "$CGROUP_PARENT" 2>/dev/null || true)"
  [ -n "$dirs" ] || return 0
  for i in 1 2 3 4 5 6 7 8 9 10; do
    local left=''
    for d in $dirs; do
      for pid in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
        left=1
        kill -KILL "$pid" 2>/dev/null || true
      done
    done
    [ -n "$left" ] || break
    [ "$i" = 1 ] && log "killed container processes left in cgroup $CGROUP_PARENT"
    sleep 0.3
  done
  # rmdir fails with EBUSY until exited tasks are reaped; retry for a while.
  for i in $(seq 1 20); do
    local busy=''
    for d in $dirs; do
      [ -d "$d" ] || continue
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$d" ] && busy=1
    done
    [ -n "$busy" ] || return 0
    sleep 0.25
  done
  log "WARNING: could not remove cgroup(s) $dirs (tasks not reaped yet?)"
  return 0
}

# a.b.c.d -> integer
ip2int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) + (b << 16) + (c << 8) + d))
}
# in_cidr ADDR NET/LEN
in_cidr() {
  local ip net len mask
  ip="$(ip2int "${1%/*}")" net="$(ip2int "${2%/*}")" len="${2#*/}"
  mask=$(((0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF))
  [ $((ip & mask)) -eq $((net & mask)) ]
}
# Does an iptables -S rule use an address of our bridge or our pool?
rule_uses_our_subnets() {
  local w prev='' a
  for w in $1; do
    if [ "$prev" = -s ] || [ "$prev" = -d ] || [ "$prev" = --to-destination ]; then
      a="${w%%/*}"
      a="${a%%:*}"
      if [[ "$a" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] && { in_cidr "$a" "$BIP" || in_cidr "$a" "$POOL"; }; then
        return 0
      fi
    fi
    prev="$w"
  done
  return 1
}

# Remove the iptables rules and chains dockerd added. Rules are matched by
# our bridge names, by an address in our bridge subnet or pool (per-port
# MASQUERADE/DNAT rules), or by a jump to a DOCKER* chain; DOCKER* chains are
# only deleted when they did not exist before we started (a real docker on
# the same host would own them otherwise).
cleanup_iptables() {
  [ -f "$BASELINE/iptables.save" ] || return 0
  command -v iptables >/dev/null 2>&1 || return 0
  local -a bridges=("$@")
  local t line chain pre_existing rx b
  rx=''
  for b in "${bridges[@]}"; do rx="${rx:+$rx|}(-[io] $b( |\$))"; done
  for t in nat filter; do
    iptables -t "$t" -S >/dev/null 2>&1 || continue
    pre_existing="$(awk -v t="*$t" '$0==t{f=1;next} /^\*/{f=0} f && /^:DOCKER/{print substr($1,2)}' "$BASELINE/iptables.save")"
    # 1. rules mentioning our bridges, and jumps into DOCKER* chains that we created
    iptables -t "$t" -S | grep '^-A ' | while read -r line; do
      chain="$(awk '{print $2}' <<<"$line")"
      if { [ -n "$rx" ] && grep -qE -- "$rx" <<<"$line"; } ||
        rule_uses_our_subnets "$line" ||
        { grep -qE -- '-j DOCKER[A-Z0-9-]*( |$)' <<<"$line" &&
          ! grep -qxF -- "$(grep -oE -- '-j DOCKER[A-Z0-9-]*' <<<"$line" | cut -c4-)" <<<"$pre_existing" &&
          ! grep -qxF -- "$chain" <<<"$pre_existing"; }; then
        # shellcheck disable=SC2086  # docker's rules contain no quoted words
        iptables -t "$t" -D ${line#-A } 2>/dev/null || log "WARNING: could not delete ($t) $line"
      fi
    done
    # 2. DOCKER* chains we created
    for chain in $(iptables -t "$t" -S | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
      grep -qxF -- "$chain" <<<"$pre_existing" && continue
      iptables -t "$t" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$t" -S | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
      grep -qxF -- "$chain" <<<"$pre_existing" && continue
      iptables -t "$t" -X "$chain" 2>/dev/null || log "WARNING: could not delete chain ($t) $chain"
    done
  done
  # 3. FORWARD policy (dockerd sets DROP when it enables ip_forward)
  local pol
  pol="$(cat "$BASELINE/forward_policy" 2>/dev/null || true)"
  if iptables -t filter -S FORWARD >/dev/null 2>&1; then
    iptables -t filter -P FORWARD "${pol:-ACCEPT}" || true
  fi
  # 4. nft backend: tables that did not exist before are now empty shells
  #    (only built-in chains); delete them so iptables-save is as before.
  if iptables_is_nft && command -v nft >/dev/null 2>&1 && [ -f "$BASELINE/nft.tables" ]; then
    for t in nat filter; do
      grep -qx "table ip $t" "$BASELINE/nft.tables" && continue
      nft list table ip "$t" >/dev/null 2>&1 || continue
      if [ -z "$(iptables -t "$t" -S 2>/dev/null | grep -v '^-P ')" ]; then
        nft delete table ip "$t" || log "WARNING: could not delete nft table ip $t"
      else
        log "WARNING: nft table ip $t has rules we did not add; leaving it"
      fi
    done
  fi
}

do_stop() {
  local -a bridges=()
  local id
  if [ ! -d "$STATE" ]; then
    log "nothing to stop ($STATE does not exist)"
    return 0
  fi
  if [ -f "$STATE/bridge.created" ]; then bridges+=("$BRIDGE"); fi
  if daemon_pid >/dev/null && daemon_answers; then
    # Remove containers (+ anonymous volumes) and user-defined networks first:
    # dockerd leaves the br-<id> bridges of user-defined networks behind on
    # shutdown. Remember their names in case removal fails.
    for id in $(docker_cli network ls -q --filter driver=bridge --no-trunc 2>/dev/null); do
      [ "$(docker_cli network inspect -f '{{.Name}}' "$id" 2>/dev/null)" = bridge ] && continue
      bridges+=("br-${id:0:12}")
    done
    local cs
    cs="$(docker_cli ps -aq 2>/dev/null || true)"
    # shellcheck disable=SC2086
    [ -z "$cs" ] || docker_cli rm -fv $cs >/dev/null 2>&1 || true
    docker_cli network prune -f >/dev/null 2>&1 || true
  fi
  log "stopping the engine in $STATE"
  stop_engine_processes
  cleanup_cgroups
  unmount_under "$STATE"
  for id in "${bridges[@]}"; do
    if ip link show "$id" >/dev/null 2>&1; then
      ip link delete "$id" || log "WARNING: could not delete interface $id"
    fi
  done
  cleanup_iptables "${bridges[@]}"
  if [ -f "$BASELINE/ip_forward" ]; then
    sysctl -qw "net.ipv4.ip_forward=$(cat "$BASELINE/ip_forward")" >/dev/null || true
  fi
  # Directories created outside the state dir: removed only if they did not
  # exist before and hold no files (i.e. nobody else started using them);
  # stale shim sockets (/run/containerd/s/*) after a crash do not count.
  if [ -f "$BASELINE/absent_dirs" ]; then
    while read -r id; do
      [ -d "$id" ] || continue
      if [ -z "$(find "$id" ! -type d ! -type s -print -quit 2>/dev/null)" ]; then
        rm -r "$id" 2>/dev/null || true
      else
        log "WARNING: $id holds files, leaving it"
      fi
    done <"$BASELINE/absent_dirs"
  fi
  unmount_under "$STATE"
  rm -rf "$STATE" || die "could not remove $STATE (something still mounted? see /proc/self/mountinfo)"
  log "engine stopped; $STATE removed. The rootfs cache is kept: $CACHE ($(du -sh "$CACHE" 2>/dev/null | cut -f1))"
}

# ---------------------------------------------------------------------------

with_lock() {
  # One start/stop at a time per cache (also serialises debootstrap). The lock
  # file lives in the cache dir so the state dir can disappear completely.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock -w 900 9 || die "could not get the lock $CACHE/.lock"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start)
      need_root
      ensure_packages
      with_lock
      local t0=$SECONDS
      start_daemon
      ensure_image
      log "ready in $((SECONDS - t0))s — use: eval \"\$($0 start)\""
      print_env
      ;;
    stop)
      need_root
      with_lock
      do_stop
      ;;
    env)
      daemon_pid >/dev/null && daemon_answers || die "engine not running (run: $0 start)"
      print_env
      ;;
    *)
      echo "usage: $0 start|stop|env" >&2
      exit 2
      ;;
  esac
}

main "$@"
