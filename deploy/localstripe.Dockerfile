# syntax=docker/dockerfile:1
#
# localstripe 1.15 (PyPI): the stateful Stripe fake billing talks to in local dev
# and tests (see docs/contracts.md#stripe-fake-localstripe). Any `sk_test_…` key is accepted.
#
#   docker build -f deploy/localstripe.Dockerfile -t tollgate-localstripe deploy
#   docker run -p 8420:8420 tollgate-localstripe
#
# It binds [::]:8420 (dual stack), so the kernel must have IPv6 enabled (Docker's
# default, even on IPv4-only networks). It has no /health: the compose healthcheck
# lists customers instead.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN set -eu; \
    pip install --no-cache-dir "localstripe==1.15.*"; \
    groupadd --system --gid 10001 localstripe; \
    useradd --system --uid 10001 --gid localstripe --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin localstripe

EXPOSE 8420
USER 10001:10001
WORKDIR /tmp

# --from-scratch: start empty instead of loading /tmp/localstripe.pickle.
CMD ["localstripe", "--port", "8420", "--from-scratch"]
