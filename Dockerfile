# henaserver in a container: a static binary (musl) in an empty image,
# running as a non-root user, serving the demo site by default.
#
#   docker build -t henaserver .
#   docker run -p 8080:8080 -p 9180:9180 henaserver
#   docker run -p 8080:8080 -v "$PWD/site:/srv/www:ro" henaserver
#
# Options come from HENASERVER_<OPTION> variables or a mounted
# /etc/henaserver/henaserver.toml (--config).

FROM rust:1-alpine AS build
# The C library headers ring builds against follow the Alpine release the
# rust image is on; pinning one version would break the next release.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples ./examples
COPY vendor ./vendor
COPY static ./static
RUN cargo build --release --locked --bin henaserver \
    && strip target/release/henaserver

FROM scratch
COPY --from=build /src/target/release/henaserver /henaserver
COPY --from=build /src/static /srv/www
USER 65532:65532
ENV HENASERVER_BIND=0.0.0.0 \
    HENASERVER_PORT=8080 \
    HENASERVER_ADMIN=0.0.0.0:9180 \
    HENASERVER_ADMIN_PUBLIC=true
EXPOSE 8080 9180
HEALTHCHECK --interval=10s --timeout=3s --start-period=2s \
    CMD ["/henaserver", "health", "http://127.0.0.1:9180/healthz"]
ENTRYPOINT ["/henaserver"]
CMD ["/srv/www"]
