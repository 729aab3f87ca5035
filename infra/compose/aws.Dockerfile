# The project's AWS emulator (moto + the launcher's patches) for docker-compose.yml.
# Build context: test/sandbox/moto (requirements pinned there, one source of truth).
FROM python:3.11.14-slim-bookworm
WORKDIR /moto
COPY requirements.txt ./
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY launcher.py ./
COPY patches ./patches
# The launcher binds loopback only (the emulator has no authentication); the workers share
# this container's network namespace (network_mode: service:aws) to reach it.
CMD ["python", "launcher.py", "--host", "127.0.0.1", "--port", "5000"]
