#!/usr/bin/env bash
# Stand-in images under the official tags that docker-compose.yml, docker-compose.cluster.yml and the Dockerfile
# name, for a machine that cannot pull from an image registry. Each is built only when its tag is absent (never
# pulled) and then reused; each carries the labels io.logpipe.standin=true, io.logpipe.standin.for=<tag> and a
# description saying it is NOT the official image:
#
#   debian:bookworm-slim       debootstrap --variant=minbase bookworm, imported (docker import)
#   swift:6.3-bookworm         Debian + the official image's packages + this machine's Swift toolchain (its usr/
#                              goes to /usr) + this machine's Swift package mirrors with git's insteadOf mapping
#   rabbitmq:3.13-management   Debian's rabbitmq-server (3.10.8) with the management plugin (standins/rabbitmq)
#   mongo:7                    SecantusDB, an independent MongoDB-wire-protocol server (NOT MongoDB), from wheels
#                              downloaded here with pip, and a mongosh-named shim (standins/mongo)
#   prom/prometheus:v2.53.0    Debian's prometheus (2.42.0) (standins/prometheus)
#
#   bash scripts/compose/standins.sh             build what is missing (DOCKER_HOST names the engine, e.g. the one of
#                                                scripts/compose/engine.sh)
#   bash scripts/compose/standins.sh --rebuild   remove this script's stand-ins first, then build them all
#   bash scripts/compose/standins.sh --list      print each tag and what is there now
#
# A tag that holds an image this script did not make (no io.logpipe.standin label) is used as it is and never
# removed. A stand-in whose definition here changed since it was built (label io.logpipe.standin.revision) is
# built again. Builds run under flock /tmp/logpipe-build.lock (one heavy build at a time on the machine), taken once.
#
#   LOGPIPE_DOCKER_DIR      the engine's directory; build contexts go to its standin-build/ (default /var/lib/logpipe-docker)
#   LOGPIPE_SWIFT_TOOLCHAIN the toolchain whose usr/ goes into the Swift image (default /opt/swift)
#   LOGPIPE_DEBIAN_MIRROR   debootstrap's mirror (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/compose/standins
work=${LOGPIPE_DOCKER_DIR:-/var/lib/logpipe-docker}/standin-build
toolchain=${LOGPIPE_SWIFT_TOOLCHAIN:-/opt/swift}
mirror=${LOGPIPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
secantus_version=0.7.0b3
lock=/tmp/logpipe-build.lock

die() { echo "standins.sh: $*" >&2; exit 1; }
docker() { /usr/bin/docker "$@"; }
# The machine's build lock, taken at the first build and held until the script ends: one wait, however many
# images are missing.
lock_held=0
build() {
  if [ "$lock_held" = 0 ]; then
    local waited=$SECONDS
    exec 9> "$lock"
    flock 9
    lock_held=1
    [ $((SECONDS - waited)) -lt 2 ] || echo "standins.sh: waited $((SECONDS - waited)) s for $lock (other builds on this machine)"
  fi
  /usr/bin/docker build --quiet "$@" > /dev/null
}

tags=("debian:bookworm-slim" "swift:6.3-bookworm" "rabbitmq:3.13-management" "mongo:7" "prom/prometheus:v2.53.0")
folder_of() {
  case "$1" in
    debian:*) echo debian ;; swift:*) echo swift ;; rabbitmq:*) echo rabbitmq ;; mongo:*) echo mongo ;; prom/*) echo prometheus ;;
  esac
}

# What the stand-in is built from: its folder here, the Debian base's folder, and (Swift) the toolchain's version.
revision() {
  local folder
  folder=$(folder_of "$1")
  {
    find "$here/$folder" "$here/debian" -type f -print0 | sort -z | xargs -0 sha256sum
    [ "$folder" != swift ] || "$toolchain/usr/bin/swift" --version 2> /dev/null
    [ "$folder" != mongo ] || echo "SecantusDB==$secantus_version"
  } | sha256sum | cut -c1-16
}

label() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2> /dev/null || true; }
present() { docker image inspect "$1" > /dev/null 2>&1; }
ours() { [ "$(label "$1" io.logpipe.standin)" = true ]; }

# The labels every stand-in built here carries besides its Dockerfile's, into the array `labels`.
common_labels() {
  labels=(--label "io.logpipe.standin.revision=$(revision "$1")" --label "io.logpipe.standin.built-by=logpipe scripts/compose/standins.sh")
}

build_debian() {
  command -v debootstrap > /dev/null || die "debootstrap is not installed (scripts/setup.sh installs it)"
  local root="$work/debian-rootfs"
  rm -rf --one-file-system "$root"
  mkdir -p "$root"
  if ! debootstrap --variant=minbase bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above, $work/debootstrap.log)"
  fi
  rm -f "$root/etc/apt/sources.list"
  install -m 644 "$here/debian/debian.sources" "$root/etc/apt/sources.list.d/debian.sources"
  install -m 644 "$here/debian/dpkg-excludes" "$root/etc/dpkg/dpkg.cfg.d/docker"
  install -m 644 "$here/debian/apt-docker-clean" "$root/etc/apt/apt.conf.d/docker-clean"
  install -m 755 "$here/debian/policy-rc.d" "$root/usr/sbin/policy-rc.d"
  find "$root/var/cache/apt" "$root/var/lib/apt/lists" -type f -delete
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2> /dev/null || true
  rm -rf "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/usr/share/locale/"* "$root/var/log/"*.log
  tar --numeric-owner -C "$root" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'LABEL io.logpipe.standin="true" io.logpipe.standin.for="debian:bookworm-slim"' \
    --change "LABEL io.logpipe.standin.revision=\"$(revision debian:bookworm-slim)\" io.logpipe.standin.built-by=\"logpipe scripts/compose/standins.sh\"" \
    --change 'LABEL org.opencontainers.image.title="logpipe stand-in for debian:bookworm-slim" org.opencontainers.image.description="NOT the official Debian image: debootstrap --variant=minbase bookworm, for logpipe'"'"'s compose test"' \
    - debian:bookworm-slim > /dev/null
  rm -rf --one-file-system "$root"
}

build_swift() {
  [ -x "$toolchain/usr/bin/swift" ] || die "no Swift toolchain at $toolchain (LOGPIPE_SWIFT_TOOLCHAIN)"
  [ -d /opt/swift-packages ] || die "no Swift package mirrors at /opt/swift-packages"
  local context="$work/swift"
  rm -rf "$context"
  mkdir -p "$context"
  # Hard links (the same file system) cost nothing; copies otherwise.
  cp -al "$toolchain/usr" "$context/usr" 2> /dev/null || cp -a "$toolchain/usr" "$context/usr"
  cp -al /opt/swift-packages "$context/swift-packages" 2> /dev/null || cp -a /opt/swift-packages "$context/swift-packages"
  : > "$context/gitconfig"
  local key value
  while read -r key value; do
    git config -f "$context/gitconfig" --add "$key" "$value"
  done < <(git config --system --get-regexp '^url\..*\.insteadof$' || true)
  [ -s "$context/gitconfig" ] || die "git has no insteadOf mapping to the package mirrors (git config --system --get-regexp insteadof)"
  cp "$here/swift/Dockerfile" "$context/"
  common_labels swift:6.3-bookworm
  build -t swift:6.3-bookworm "${labels[@]}" \
    --label "io.logpipe.standin.toolchain=$("$toolchain/usr/bin/swift" --version 2> /dev/null | head -n 1)" "$context"
  rm -rf "$context"
}

build_mongo() {
  local context="$work/mongo" wheels="$work/wheels-secantus-$secantus_version" arch
  rm -rf "$context"
  mkdir -p "$context" "$wheels"
  arch=$(uname -m)
  # On the machine (a container's pip does not trust this machine's certificates); for Debian bookworm's
  # CPython 3.11 in the image.
  if ! pip download --quiet --dest "$wheels" --only-binary=:all: --implementation cp --python-version 3.11 \
      --platform "manylinux_2_28_$arch" --platform "manylinux_2_27_$arch" --platform "manylinux_2_24_$arch" \
      --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" "SecantusDB==$secantus_version"; then
    die "pip download SecantusDB==$secantus_version failed"
  fi
  cp -a "$here/mongo/." "$context/"
  cp -a "$wheels" "$context/wheels"
  common_labels mongo:7
  build -t mongo:7 "${labels[@]}" --label "io.logpipe.standin.server=SecantusDB $secantus_version" "$context"
  rm -rf "$context"
}

build_plain() {
  common_labels "$1"
  build -t "$1" "${labels[@]}" "$here/$(folder_of "$1")"
}

list() {
  local tag
  for tag in "${tags[@]}"; do
    if ! present "$tag"; then
      printf '%-26s absent\n' "$tag"
    elif ours "$tag"; then
      printf '%-26s stand-in (revision %s, current %s), %s MB\n' "$tag" "$(label "$tag" io.logpipe.standin.revision)" \
        "$(revision "$tag")" "$(($(docker image inspect --format '{{.Size}}' "$tag") / 1000000))"
    else
      printf '%-26s NOT made by this script: used as it is\n' "$tag"
    fi
  done
}

main() {
  [ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set (export DOCKER_HOST=\$(bash scripts/compose/engine.sh host))"
  docker version > /dev/null 2>&1 || die "no Docker engine answers at $DOCKER_HOST"
  case "${1:-}" in
    --list) list; return 0 ;;
    --rebuild)
      local tag
      for tag in "${tags[@]}"; do
        if present "$tag" && ours "$tag"; then docker rmi "$tag" > /dev/null; fi
      done
      ;;
    "") ;;
    *) echo "usage: $0 [--rebuild|--list]" >&2; exit 2 ;;
  esac
  mkdir -p "$work"
  local tag started labels=()
  for tag in "${tags[@]}"; do
    if present "$tag"; then
      if ! ours "$tag"; then
        echo "standins.sh: $tag is there and was not made by this script: used as it is"
        continue
      fi
      if [ "$(label "$tag" io.logpipe.standin.revision)" = "$(revision "$tag")" ]; then
        echo "standins.sh: $tag: stand-in present, reused"
        continue
      fi
      echo "standins.sh: $tag: stand-in definition changed, building it again"
      docker rmi "$tag" > /dev/null
    fi
    started=$SECONDS
    case "$tag" in
      debian:*) build_debian ;;
      swift:*) build_swift ;;
      mongo:*) build_mongo ;;
      *) build_plain "$tag" ;;
    esac
    echo "standins.sh: $tag: stand-in built in $((SECONDS - started)) s, $(($(docker image inspect --format '{{.Size}}' "$tag") / 1000000)) MB"
  done
}

main "$@"
