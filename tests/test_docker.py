"""Docker: the image builds, `docker-compose up` trains (and leaves a finished run alone), remote actors scale and
survive a kill, `down` cleans up.

Run by `.ci/run` as its own step (`pytest -m docker`; the default run deselects it).
Needs a Docker engine and docker-compose; BASE_IMAGE picks the image to build on
(`.ci/hosts/docker-engine` provisions an engine and prints it). The tests run in file order and share
one compose project; every container is removed at the end.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from proc_utils import ROOT, metric_rows, wait_for

pytestmark = pytest.mark.docker

IMAGE = "asyncrl:test"
PROJECT = f"asyncrltest{os.getpid()}"
CONFIG = "configs/smoke_cartpole.yaml"  # tiny CartPole: 4 envs, MLP 16
REMOTE_RUN = "docker_remote"


def _engine_problem() -> str | None:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        return "docker and docker-compose are not installed (run .ci/hosts/docker-engine as root)"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        return "no Docker engine answers (run .ci/hosts/docker-engine as root)"
    return None


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    problem = _engine_problem()
    if problem:
        pytest.skip(problem)
    runs = tmp_path_factory.mktemp("docker_runs")  # the test's user owns it (root in CI): so do the files
    base_env = dict(
        os.environ,
        ASYNCRL_IMAGE=IMAGE,
        RUNS_DIR=str(runs),
        CONFIG=CONFIG,
        BASE_IMAGE=os.environ.get("BASE_IMAGE", "python:3.11-slim"),
    )

    def run(*args, timeout=300, **env):
        """`docker-compose -p PROJECT ARGS` with `env` added to the environment; returns CompletedProcess."""
        return subprocess.run(
            ["docker-compose", "-p", PROJECT, *args],
            cwd=ROOT,
            env=dict(base_env, **env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    run.runs = runs
    try:
        yield run
    finally:
        run("down", "--remove-orphans", "--timeout", "20", timeout=120)


def _project_containers(all_states=False) -> list[str]:
    args = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]
    out = subprocess.run(args + (["-a"] if all_states else []), capture_output=True, text=True, timeout=60).stdout
    return out.split()


def test_image_builds_and_runs_offline_as_a_user(compose):
    res = compose("build", "learner", timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    check = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "python",
            "-c",
            "import os, ale_py, gymnasium, jax, keras, skimage, tensorboard, tensorboardX; "
            "print(os.getuid(), os.environ['KERAS_BACKEND'], keras.backend.backend())",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    uid, backend, keras_backend = check.stdout.split()[-3:]
    assert uid != "0" and backend == keras_backend == "jax"


def test_compose_up_trains_with_local_actors_until_a_checkpoint(compose):
    res = compose("up", "--exit-code-from", "learner", ACTORS="2", ARGS="--name docker_local", timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    run = compose.runs / "docker_local"
    assert (run / "checkpoints" / "latest.weights.h5").stat().st_size > 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["outcome"] == "completed" and summary["frames"] >= 20_000
    assert "frames" in res.stdout and "| actors 2 |" in res.stdout
    owner = os.stat(compose.runs).st_uid  # root's runs/ when the test runs as root: no ASYNCRL_UID needed
    assert {p.stat().st_uid for p in run.rglob("*")} == {owner}
    assert compose("rm", "-f", timeout=120).returncode == 0


def _checksums(folder):
    """{relative path: sha256} of every file under `folder`."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def test_up_after_make_train_leaves_the_finished_run_untouched_and_trains_a_new_one(compose):
    name = "after_make_train"
    train = [sys.executable, "-m", "learner", "--config", CONFIG, "--actors", "2"]  # what `make train` runs
    train += ["--run-dir", str(compose.runs), "--name", name, "--total-frames", "5000"]
    done = subprocess.run(train, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    finished = compose.runs / name
    before = _checksums(finished)
    assert "summary.json" in before and "checkpoints/latest.weights.h5" in before
    args = f"--name {name} --total-frames 5000"
    res = compose("up", "--exit-code-from", "learner", ACTORS="1", ARGS=args, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert f"runs/{name} is a finished run (5,000 frames: its whole budget), left as it is; starting runs/{name}-2" in (
        res.stdout
    ), res.stdout[-4000:]
    assert _checksums(finished) == before
    summary = json.loads((compose.runs / f"{name}-2" / "summary.json").read_text())
    assert summary["outcome"] == "completed" and summary["frames"] >= 5_000 and summary["resumed_from_frames"] is None
    assert compose("rm", "-f", timeout=120).returncode == 0


def test_files_in_runs_belong_to_the_folders_owner(compose, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the runs folder to another user")
    runs = tmp_path / "runs_of_1000"
    runs.mkdir()
    os.chown(runs, 1000, 1000)
    env = dict(ACTORS="1", ARGS="--name as_1000", RUNS_DIR=str(runs))
    res = compose("up", "--exit-code-from", "learner", timeout=600, **env)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    files = list((runs / "as_1000").rglob("*"))
    assert files and {(p.stat().st_uid, p.stat().st_gid) for p in files} == {(1000, 1000)}
    assert compose("rm", "-f", timeout=120).returncode == 0


def test_appo_trains_on_a_remote_actor_container_to_its_budget(compose):
    """APPO in the image, its experience from an `actor` container only (0 local actors)."""
    appo = "--set algorithm=appo --set learner.optimizer=adam --set learner.epochs=2 --set learner.minibatches=2"
    env = dict(
        ACTORS="0", REMOTE="true", ASYNCRL_AUTHKEY="ci-secret", ARGS=f"--name docker_appo --total-frames 4000 {appo}"
    )
    res = compose("up", "--exit-code-from", "learner", "--scale", "actor=1", timeout=600, **env)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "remote actor 0 connected" in res.stdout and "appo on CartPole-v1" in res.stdout, res.stdout[-4000:]
    run = compose.runs / "docker_appo"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["outcome"] == "completed" and summary["frames"] >= 4_000
    rows = metric_rows(run / "metrics.csv")
    assert any(r["learner/remote_actors"] == "1" and r.get("appo/clip_fraction") for r in rows)
    assert compose("rm", "-f", timeout=120).returncode == 0


def test_remote_actors_feed_the_learner_and_a_killed_one_is_not_missed(compose):
    metrics_csv = compose.runs / REMOTE_RUN / "metrics.csv"

    def _rows():
        return metric_rows(metrics_csv)

    env = dict(
        ACTORS="0", REMOTE="true", ASYNCRL_AUTHKEY="ci-secret", ARGS=f"--name {REMOTE_RUN} --total-frames 100000000"
    )
    res = compose("up", "-d", "--scale", "actor=2", timeout=300, **env)
    assert res.returncode == 0, res.stderr[-3000:]

    def logs():
        return compose("logs", "--no-color", "--tail", "60", timeout=120).stdout[-6000:]

    # Frames arrive from the two remote actors only (0 local actors).
    ok = wait_for(
        lambda: any(r["learner/remote_actors"] == "2" and float(r["charts/frames"]) > 0 for r in _rows()), 300
    )
    assert ok, logs()
    assert all(r["learner/actors_alive"] == r["learner/remote_actors"] for r in _rows())

    actors = compose("ps", "-q", "actor", timeout=120, **env).stdout.split()
    assert len(actors) == 2
    subprocess.run(["docker", "kill", actors[0]], check=True, capture_output=True, timeout=60)
    killed_at = time.monotonic()
    assert wait_for(lambda: (rows := _rows()) and rows[-1]["learner/remote_actors"] == "1", 120), logs()
    frames_then = float(_rows()[-1]["charts/frames"])
    # The learner goes on training on the remaining actor's experience.
    assert wait_for(
        lambda: (
            (rows := _rows())
            and float(rows[-1]["charts/frames"]) > frames_then
            and rows[-1]["learner/remote_actors"] == "1"
        ),
        120,
    ), logs()
    assert time.monotonic() - killed_at < 240

    res = compose("down", "--timeout", "60", timeout=300, **env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _project_containers(all_states=True) == []  # nothing running, nothing left behind
    summary = json.loads((compose.runs / REMOTE_RUN / "summary.json").read_text())
    assert summary["outcome"] == "stopped by SIGTERM" and summary["frames"] > frames_then
