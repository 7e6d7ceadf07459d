# The Concourse registry-image resource as a container image (see container/README.md).
#
#   docker build -t registry-image-resource .        # the resource (the last stage)
#   docker build --target tests .                    # runs the unit tests in the image
#   docker build --network none --build-arg PIP_NO_INDEX=1 \
#       --build-arg base_image=local/debian-python:bookworm -t ... .  # offline: container/wheelhouse/
#
# base_image: any Debian-like image with python3 (3.11+), its venv module and libstdc++6.
# Stages: fake-registry (the fake registry with its control API, for other projects' tests),
# builder (builds the wheels and the venv), resource (the base image plus that venv and the three
# scripts Concourse runs), tests (runs the resource's unit tests against the installed wheels),
# and an unnamed last stage equal to resource, so `docker build .` gives the resource.
ARG base_image=python:3.11-slim-bookworm

# The fake registry as an image of its own, for test suites in any language (docker run or
# testcontainers' generic container): no root, listening on 0.0.0.0:5000 with the control API on
# (packages/fake-registry/README.md). `docker run IMAGE serve --listen ...` overrides the address.
#   docker build --target fake-registry -t fake-registry .
# First in the file: the legacy builder builds every stage before the target, and these two
# need nothing of the resource's.
FROM ${base_image} AS fake-registry-builder
ARG PIP_NO_INDEX
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_FIND_LINKS=/wheelhouse
COPY container/wheelhouse/ /wheelhouse/
COPY packages/fake-registry/ /src/packages/fake-registry/
RUN python3 -m venv /opt/fake-registry \
 && /opt/fake-registry/bin/pip install --quiet /src/packages/fake-registry \
 && /opt/fake-registry/bin/python3 -m pip uninstall --quiet --yes pip setuptools \
 && rm -f /opt/fake-registry/bin/activate* \
 && chmod -R a+rX /opt/fake-registry

FROM ${base_image} AS fake-registry
COPY --from=fake-registry-builder /opt/fake-registry/ /opt/fake-registry/
USER 65534:65534
EXPOSE 5000
ENTRYPOINT ["/opt/fake-registry/bin/python3", "-m", "fake_registry"]
CMD ["serve", "--listen", "0.0.0.0:5000", "--control"]

FROM ${base_image} AS builder
# PIP_NO_INDEX=1 keeps pip off the network; it then finds everything in container/wheelhouse/.
ARG PIP_NO_INDEX
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_FIND_LINKS=/wheelhouse
COPY container/wheelhouse/ /wheelhouse/
COPY packages/resource/ /src/packages/resource/
COPY container/resource/check container/resource/in container/resource/out /opt/resource/
# One venv: its pip builds the wheels (kept in /wheels for the tests stage), installs only the
# runtime dependencies from them, and is then removed (not needed at run time).
RUN python3 -m venv /opt/resource/venv \
 && /opt/resource/venv/bin/pip wheel --quiet --wheel-dir /wheels /src/packages/resource \
 && /opt/resource/venv/bin/pip install --quiet --no-index --find-links /wheels registry-image-resource \
 && /opt/resource/venv/bin/python3 -m pip uninstall --quiet --yes pip setuptools \
 && if find /opt/resource/venv -name '*.so*' -type f -exec ldd {} + 2>/dev/null | grep 'not found'; then \
        echo "base_image lacks the shared libraries above (google-re2 needs libstdc++6)" >&2; exit 1; fi \
 && rm -f /opt/resource/venv/bin/activate* \
 && chmod 0755 /opt/resource/check /opt/resource/in /opt/resource/out \
 && chmod -R a+rX /opt/resource

FROM ${base_image} AS resource
COPY --from=builder /opt/resource/ /opt/resource/

FROM resource AS tests
ARG PIP_NO_INDEX
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_FIND_LINKS=/wheelhouse TEST=true
COPY container/wheelhouse/ /wheelhouse/
COPY --from=builder /wheels/ /wheels/
COPY pytest.ini /src/
COPY container/requirements-tests.txt /src/container/
COPY packages/ /src/packages/
WORKDIR /src
# the resource from the very wheels the resource stage installed; test tools and fakes besides
RUN python3 -m venv /opt/tests \
 && /opt/tests/bin/pip install --quiet --find-links /wheels registry-image-resource \
        -r container/requirements-tests.txt ./packages/fake-registry ./packages/notary-stub
RUN /opt/tests/bin/python3 -m pytest -p no:cacheprovider packages/resource/tests

FROM resource
