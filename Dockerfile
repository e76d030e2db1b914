# syntax=docker/dockerfile:1
#
# The outpost image: a drop-in for authentik's proxy outpost image.
#
#   docker build -t outpost --build-arg VERSION=0.1.0 --build-arg GIT_BUILD_HASH=$(git rev-parse --short HEAD) .
#
# authentik's Docker and Kubernetes integrations run /proxy (and its
# healthcheck subcommand) as UID 1000 with ports 9000, 9443 and 9300: all of
# that is here. docs/deployment.md explains the rest.

ARG GO_VERSION=1.26.8

FROM docker.io/library/golang:${GO_VERSION}-trixie AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=0.1.0
ARG GIT_BUILD_HASH=unknown
# A static binary: no libc, nothing to load at run time.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.buildHash=${GIT_BUILD_HASH}" -o /rootfs/outpost ./cmd/outpost
# authentik's integrations start /proxy; it is the same binary.
# /proxy is authentik's Go outpost image's path (cores before 2026.8);
# /authentik its Rust outpost's (2026.8+ creates containers with the
# healthcheck /authentik healthcheck proxy): both answer.
RUN ln -s outpost /rootfs/proxy && ln -s outpost /rootfs/authentik

# Distroless static: CA certificates, tzdata, /etc/passwd and nothing else
# (no shell, no package manager).
FROM gcr.io/distroless/static-debian12 AS runtime
ARG VERSION=0.1.0
ARG GIT_BUILD_HASH=unknown
LABEL org.opencontainers.image.title="outpost" \
      org.opencontainers.image.description="Identity-aware reverse proxy, a drop-in replacement for authentik's proxy outpost" \
      org.opencontainers.image.source="https://github.com/outpost-dev/outpost" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_BUILD_HASH}"
COPY --from=build /rootfs/ /
# As authentik's image: session files (if any) in memory, not on the image.
ENV TMPDIR=/dev/shm/
# 9000 HTTP, 9443 HTTPS, 9300 metrics, ping and readiness.
EXPOSE 9000 9443 9300
USER 1000:1000
# What authentik's Docker integration runs before 2026.8, at its timings.
# A 2026.8+ core creates containers with its own healthcheck,
# ["CMD", "/authentik", "healthcheck", "proxy"], which answers the same.
HEALTHCHECK --interval=5s --timeout=3s --start-period=3s --retries=20 CMD ["/proxy", "healthcheck"]
ENTRYPOINT ["/outpost"]
CMD ["serve"]
