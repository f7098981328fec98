"""Docker Swarm: docker-compose.yml deploys as a stack, scales, heals, and spans two engines.

Run by `.ci/run` after the compose test (`pytest -m docker tests/test_docker.py tests/test_swarm.py`).
Needs root and a Docker engine (`.ci/hosts/docker-engine`). A swarm is initialised when the
engine has none, and left again at the end. The two-engine test brings up `.ci/hosts/second-node`
(a second engine in its own network namespace, joined as a worker labelled node=second); that
re-initialises the swarm, so it runs only on a swarm this module created (or one second-node made).
"""

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from proc_utils import ROOT, metric_rows, wait_for

pytestmark = pytest.mark.docker

IMAGE = "asyncrl:test"
STACK = f"asyncrlswarm{os.getpid()}"
SECRET = f"asyncrl_authkey_{os.getpid()}"
RUN = "swarm_run"
CHECKPOINT_FRAMES = 5_000  # configs/smoke_cartpole.yaml's checkpoint interval
SECOND_NODE = Path(ROOT) / ".ci" / "hosts" / "second-node"
SECOND_NODE_ADDR = "10.231.0.1"  # the manager address second-node initialises the swarm on


def docker(*args, timeout=120, env=None, input=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], cwd=ROOT, env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


def _engine_problem() -> str | None:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        return "docker and docker-compose are not installed (run .ci/hosts/docker-engine as root)"
    if os.geteuid() != 0:
        return "initialising a swarm needs root"
    if docker("info", timeout=60).returncode != 0:
        return "no Docker engine answers (run .ci/hosts/docker-engine as root)"
    return None


def _swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeAddr}}").stdout.strip()


@pytest.fixture(scope="module")
def swarm():
    """A swarm with the image; yields whether this module created the swarm (then it may re-make it)."""
    problem = _engine_problem()
    if problem:
        pytest.skip(problem)
    if docker("image", "inspect", IMAGE).returncode != 0:  # built by tests/test_docker.py when run before
        env = dict(os.environ, ASYNCRL_IMAGE=IMAGE, BASE_IMAGE=os.environ.get("BASE_IMAGE", "python:3.11-slim"))
        res = subprocess.run(
            ["docker-compose", "build", "learner"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500
        )
        assert res.returncode == 0, res.stderr[-3000:]
    created = not _swarm_state().startswith("active")
    if created:
        res = docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        assert res.returncode == 0, res.stderr
    try:
        yield created
    finally:
        if created:
            docker("swarm", "leave", "--force")


class Stack:
    """One deployed stack of docker-compose.yml: 0 local actors, remote ones only, smoke CartPole (A3C, or
    what `learner_args` set)."""

    def __init__(self, runs: Path, extra_file: Path | None = None, learner_args: str = ""):
        self.runs, self.extra_file, self.learner_args = runs, extra_file, learner_args
        self.metrics_csv = runs / RUN / "metrics.csv"
        key = secrets.token_hex(16) + "\n"  # as `openssl rand -hex 16 | docker secret create` stores it
        res = docker("secret", "create", SECRET, "-", input=key)
        assert res.returncode == 0, res.stderr

    def env(self) -> dict:
        return dict(
            os.environ,
            ASYNCRL_IMAGE=IMAGE,
            ASYNCRL_SECRET=SECRET,
            ASYNCRL_AUTHKEY="",  # the secret file, not the variable
            RUNS_DIR=str(self.runs),
            CONFIG="configs/smoke_cartpole.yaml",
            ACTORS="0",
            REMOTE="true",
            ARGS=f"--name {RUN} --total-frames 100000000 {self.learner_args}",
        )

    def deploy(self) -> None:
        files = ["-c", "docker-compose.yml"] + (["-c", str(self.extra_file)] if self.extra_file else [])
        res = docker("stack", "deploy", *files, STACK, env=self.env(), timeout=300)
        assert res.returncode == 0, res.stderr

    def scale_actors(self, n: int) -> None:
        res = docker("service", "scale", "--detach", f"{STACK}_actor={n}")
        assert res.returncode == 0, res.stderr

    def containers(self, service: str) -> list[str]:
        label = f"label=com.docker.swarm.service.name={STACK}_{service}"
        return docker("ps", "-q", "--filter", label).stdout.split()

    def logs(self, service: str = "learner") -> str:
        return docker("service", "logs", "--raw", f"{STACK}_{service}", timeout=60).stdout

    def rows(self) -> list[dict]:
        return metric_rows(self.metrics_csv)

    def feeding(self, actors: int, after_row: int = 0, above_frames: float = 0.0) -> bool:
        """A metrics row past `after_row` with `actors` remote actors and more than `above_frames` frames."""
        return any(
            r["learner/remote_actors"] == str(actors) and float(r["charts/frames"]) > above_frames
            for r in self.rows()[after_row:]
        )

    def remove(self) -> None:
        docker("stack", "rm", STACK, timeout=120)
        label = f"label=com.docker.stack.namespace={STACK}"
        wait_for(lambda: docker("ps", "-aq", "--filter", label).stdout.split() == [], 120)
        wait_for(lambda: docker("secret", "rm", SECRET).returncode == 0 or not self._secret_exists(), 60)

    def _secret_exists(self) -> bool:
        return docker("secret", "inspect", SECRET).returncode == 0


def test_the_stack_scales_heals_and_leaves_nothing(swarm, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    stack = Stack(runs)
    try:
        stack.deploy()
        stack.scale_actors(2)
        assert wait_for(lambda: stack.feeding(2), 300), stack.logs()[-4000:]

        # A killed actor task is replaced by Swarm, and the new one joins the learner.
        subprocess.run(["docker", "kill", stack.containers("actor")[0]], capture_output=True, timeout=60)
        joined = r"remote actor \d+ connected from"
        assert wait_for(lambda: len(re.findall(joined, stack.logs())) >= 3, 180), stack.logs()[-4000:]
        assert wait_for(lambda: len(stack.containers("actor")) == 2, 120)

        # A killed learner task is restarted and resumes from its newest checkpoint; the actors rejoin.
        rows_then = len(stack.rows())
        frames_then = float(stack.rows()[-1]["charts/frames"])
        subprocess.run(["docker", "kill", stack.containers("learner")[0]], capture_output=True, timeout=60)
        resumed = r"resuming from \S+: ([\d,]+) frames"
        assert wait_for(lambda: re.search(resumed, stack.logs()), 240), stack.logs()[-4000:]
        resumed_frames = int(re.search(resumed, stack.logs()).group(1).replace(",", ""))
        assert resumed_frames >= frames_then - CHECKPOINT_FRAMES  # at most one checkpoint interval lost
        assert wait_for(lambda: stack.feeding(2, after_row=rows_then, above_frames=frames_then), 240), stack.logs()[
            -4000:
        ]
    finally:
        stack.remove()
    assert docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={STACK}").stdout.split() == []
    summary = json.loads((runs / RUN / "summary.json").read_text())
    assert summary["outcome"] == "stopped by SIGTERM" and summary["frames"] > frames_then


def second_node(*args, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([str(SECOND_NODE), *args], capture_output=True, text=True, timeout=timeout)


def test_actors_on_a_second_engine_feed_an_appo_learner_over_the_overlay(swarm, tmp_path):
    if not swarm and not _swarm_state().endswith(SECOND_NODE_ADDR):
        pytest.skip("second-node would re-initialise a swarm this test did not create")
    up = second_node("up", IMAGE)
    if up.returncode != 0:
        pytest.skip(f"second-node up failed: {up.stderr.strip()[-500:]}")
    extra = tmp_path / "on-second.yml"
    extra.write_text(
        'version: "3.8"\n'
        "services:\n"
        "  actor:\n"
        "    deploy:\n"
        "      placement:\n"
        "        constraints: [node.labels.node == second]\n"
    )
    runs = tmp_path / "runs"
    runs.mkdir()
    try:
        appo = "--set algorithm=appo --set learner.optimizer=adam --set learner.epochs=2 --set learner.minibatches=2"
        stack = Stack(runs, extra_file=extra, learner_args=appo)
        try:
            stack.deploy()
            stack.scale_actors(2)
            assert wait_for(lambda: stack.feeding(2), 420), stack.logs()[-4000:]
            second = docker("node", "ls", "-q", "--filter", "node.label=node=second").stdout.split()
            tasks = docker("service", "ps", "-q", "--filter", "desired-state=running", f"{STACK}_actor").stdout.split()
            nodes = {docker("inspect", "--format", "{{.NodeID}}", t).stdout.strip() for t in tasks}
            assert len(tasks) == 2 and len(second) == 1 and nodes == {second[0]}
            assert stack.containers("actor") == []  # none of them on this engine
            assert any(r.get("appo/clip_fraction") and float(r["charts/frames"]) > 0 for r in stack.rows())
        finally:
            stack.remove()
        label = f"label=com.docker.stack.namespace={STACK}"
        assert wait_for(lambda: second_node("docker", "ps", "-aq", "--filter", label).stdout.split() == [], 120)
    finally:
        second_node("down")
