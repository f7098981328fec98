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
COPY pyproject.toml README.md LICENSE constraints.txt ./
RUN mkdir actor learner common \
    && touch actor/__init__.py learner/__init__.py common/__init__.py \
    && pip install "setuptools>=77" wheel \
    && pip install -c constraints.txt ".[tensorboard]" \
    && pip uninstall -y asyncrl \
    && rm -rf actor learner common build *.egg-info

COPY actor ./actor
COPY common ./common
COPY learner ./learner
COPY configs ./configs
COPY models ./models
# The build backend is already in the venv: no download when only the code changed.
RUN pip install --no-deps --no-build-isolation . && rm -rf build *.egg-info

# The image's user: uid 1000, the usual first user of a Linux host. The container starts as root and
# common.container drops to whoever owns /app/runs (the host's mounted runs/ folder; this folder,
# so asyncrl, when nothing is mounted), or to ASYNCRL_UID/GID: runs/ gets files of one owner, as
# root or as any user, with nothing to set.
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin asyncrl \
    && mkdir -p /app/runs && chown asyncrl:asyncrl /app/runs
# XLA's compile cache lives in $HOME/.cache (a user without a passwd entry gets a private /tmp home).

ENTRYPOINT ["python", "-m", "common.container"]
CMD ["python", "-m", "learner", "--config", "configs/pong_a3c.yaml"]
