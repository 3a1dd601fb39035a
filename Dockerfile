# doseapp image: one image, one process per container (web by default; worker, scp, scheduler by command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DOSEAPP_INSTANCE=/data \
    DOSEAPP_HOST=0.0.0.0 \
    DOSEAPP_PORT=8000

RUN groupadd --system doseapp && useradd --system --gid doseapp --home-dir /app --shell /usr/sbin/nologin doseapp

# PixelMed and a Java runtime read Toshiba CT dose screens (doseapp/extract/toshiba_ct.py). The slim
# image has no man folders, which the JRE's install scripts expect.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends default-jre-headless libpixelmed-java \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The app reads templates/, static/ and migrations/ beside the package, so it is installed in place.
COPY pyproject.toml README.md wsgi.py ./
COPY doseapp ./doseapp
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
RUN pip install --no-cache-dir -e . \
    && mkdir -p /data && chown doseapp:doseapp /data

USER doseapp
VOLUME ["/data"]
EXPOSE 8000 11112
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health').status == 200 else 1)"
ENTRYPOINT ["doseapp"]
CMD ["web"]
