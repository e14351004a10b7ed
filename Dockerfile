# Builds the single `eventmall` binary used by every role in docker-compose.yml. librdkafka is
# built from source by rdkafka-sys (make, a C compiler and perl come with the rust image).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p eventmall --bin eventmall

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/eventmall /usr/local/bin/eventmall
ENV EVENTMALL__HTTP__ADDR=0.0.0.0:8080 EVENTMALL__LOG__FORMAT=json
EXPOSE 8080
ENTRYPOINT ["eventmall"]
CMD ["serve"]
