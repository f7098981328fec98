# asyncrl: learner and remote actors in one image.
#   docker build -t asyncrl .                                         (users: python:3.11-slim)
#   docker build --build-arg BASE_IMAGE=local/python:3.11 -t asyncrl .  (machines without a registry)
# The image holds every dependency (ALE ROMs ship in the ale-py wheel), so a container
# trains without any download at run time.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    KERAS_BACKEND=jax \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# python3 exists in both base images (python:3.11-slim and the debootstrapped local one).
RUN python3 -m venv /opt/venv

WORKDIR /app
# Dependencies first, from pyproject.toml alone, so code edits do not re-download them:
# empty packages let pip resolve and install the project's requirements.
# constraints.txt pins the versions .ci/run tested, so a build next month gets the same ones.
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir actor learner common \
    && touch actor/__init__.py learner/__init__.py common/__init__.py \
    && pip install "setuptools>=68" wheel \
    && pip install -c constraints.txt . \
    && pip uninstall -y asyncrl \
    && rm -rf actor learner common build *.egg-info

COPY actor ./actor
COPY common ./common
COPY learner ./learner
COPY configs ./configs
COPY models ./models
# The build backend is already in the venv: no download when only the code changed.
RUN pip install --no-deps --no-build-isolation . && rm -rf build *.egg-info

# Non-root. uid 1000 is the usual first user of a Linux host, so files written to a
# mounted runs/ belong to that user; docker-compose.yml lets ASYNCRL_UID/GID change it.
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin asyncrl \
    && mkdir -p /app/runs && chown asyncrl:asyncrl /app/runs
USER asyncrl
# XLA's compile cache lives in $HOME/.cache; a different --user without a home just runs without it.

CMD ["python", "-m", "learner", "--config", "configs/pong_a3c.yaml"]
