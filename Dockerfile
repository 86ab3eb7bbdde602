# The `hitless` image the examples name (image: hitless:0.1.0), so that the same manifests run
# on a cluster: `docker build -t hitless:0.1.0 .` then load it into kind or push it.
# On one machine, `hitless up` runs this image as `python -m hitless` without building it.
FROM python:3.12-slim
WORKDIR /opt/hitless
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && python -m compileall -q /usr/local/lib/python3.12/site-packages/hitless
ENTRYPOINT ["hitless"]
CMD ["demo-app"]
