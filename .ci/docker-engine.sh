# shellcheck shell=bash
# Sourced by .ci/run (as root): a private Docker engine for the Docker tests, and the images they
# need, built offline (CI reaches no container registry).
#
# start_ci_docker: dockerd from Debian's docker.io with no network of its own (--bridge=none, no
#   iptables: containers use --network host), its socket, data and state in a fresh temporary
#   directory; exports DOCKER_HOST. stop_ci_docker (trapped on EXIT by .ci/run) stops it.
# start_ci_images: .ci/build-images in the background, in its own process group; exports the
#   image names, REGISTRY_BACKEND=binary (the suite stays on the fast loopback binary; only
#   `tox -e testcontainers` puts the registry fixtures in Docker) and the builder's PID, so that
#   integration/test_container.py waits for its base image while the build is still running.
#   finish_ci_images waits for it and shows its log.

ci_docker_dir=""
ci_dockerd_pid=""
ci_images_pid=""
start_ci_docker() {
  ci_docker_dir=$(mktemp -d /tmp/ci-docker.XXXXXX)
  dockerd --bridge=none --iptables=false --ip6tables=false \
    --host "unix://$ci_docker_dir/docker.sock" --data-root "$ci_docker_dir/data" \
    --exec-root "$ci_docker_dir/exec" --pidfile "$ci_docker_dir/dockerd.pid" \
    >"$ci_docker_dir/dockerd.log" 2>&1 &
  ci_dockerd_pid=$!
  export DOCKER_HOST="unix://$ci_docker_dir/docker.sock"
  local deadline=$((SECONDS + 60))
  until docker version >/dev/null 2>&1; do
    if ! kill -0 "$ci_dockerd_pid" 2>/dev/null || ((SECONDS > deadline)); then
      echo "dockerd did not come up:" >&2
      tail -n 30 "$ci_docker_dir/dockerd.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "docker engine $(docker version --format '{{.Server.Version}}') at $DOCKER_HOST"
}

stop_ci_docker() {
  if [ -n "$ci_images_pid" ]; then kill -TERM -- "-$ci_images_pid" 2>/dev/null || true; fi
  [ -n "$ci_dockerd_pid" ] || return 0
  # containers first (a test that died may have left one), then the daemon and its containerd
  docker ps --quiet 2>/dev/null | xargs --no-run-if-empty docker rm --force >/dev/null 2>&1 || true
  kill -TERM "$ci_dockerd_pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$ci_dockerd_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -KILL "$ci_dockerd_pid" 2>/dev/null || true
  wait "$ci_dockerd_pid" 2>/dev/null || true
  ci_dockerd_pid=""
  # overlay mounts a killed daemon may have left, deepest first, then the directory
  grep -o " $ci_docker_dir/[^ ]*" /proc/mounts | sort -r | xargs --no-run-if-empty umount -l 2>/dev/null || true
  rm -rf "$ci_docker_dir"
}

start_ci_images() {
  setsid --wait .ci/build-images >"$ci_docker_dir/images.log" 2>&1 &
  ci_images_pid=$!
  export RESOURCE_BASE_IMAGE=local/debian-python:bookworm REGISTRY_IMAGE=local/registry:2
  export REGISTRY_BACKEND=binary RESOURCE_BASE_IMAGE_BUILDER_PID=$ci_images_pid
}

finish_ci_images() {
  local status=0
  wait "$ci_images_pid" || status=$?
  ci_images_pid=""
  grep -v -e 'legacy builder is deprecated' -e 'buildx' -e '^ *$' "$ci_docker_dir/images.log" || true
  return "$status"
}
