# The Signet trust server on a slim Debian runtime, as a non-root user, data in a volume.
#
#   cargo build --release --locked -p signet-server
#   docker build -t signet-server .
#   docker run -d --name signet -p 4443:4443 -v signet:/var/lib/signet \
#       -e SIGNET_TLS_SAN=notary.example.com -e SIGNET_SIGNER_PASSPHRASE_FILE=/run/secrets/signer \
#       signet-server
#
# BASE: any Debian bookworm (glibc) image, e.g. one made with mmdebstrap and `docker import`
# where no image registry is reachable. BINARY: the signet-server binary to install.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG BINARY=target/release/signet-server
COPY ${BINARY} /usr/local/bin/signet-server
# The volume's root belongs to the service user; the server creates data/ in it (0700).
COPY --chown=10001:10001 packaging/docker/volume/ /var/lib/signet/
USER 10001:10001
ENV SIGNET_DATA_DIR=/var/lib/signet/data \
    SIGNET_LISTEN=0.0.0.0:4443
VOLUME ["/var/lib/signet"]
EXPOSE 4443
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["signet-server", "healthcheck"]
ENTRYPOINT ["signet-server"]
CMD ["serve"]
