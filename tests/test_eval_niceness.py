"""The evaluation actor runs at a lower CPU priority than the learner and the training actors."""

import os
import time

from learning_utils import ROOT

from actor.evaluate import EVAL_NICENESS
from common import config as config_lib
from common.env import probe_spec
from common.model import build_model, model_variables
from common.process import context
from common.transport import WeightBoard
from learner.evaluator import Evaluator


class _NoMetrics:
    def log_scalar(self, *args, **kwargs):
        pass


def test_eval_actor_runs_niced(tmp_path):
    path = os.path.join(ROOT, "configs", "smoke_cartpole.yaml")
    cfg = config_lib.load(path, {"learner.eval_interval": 1000, "run.dir": str(tmp_path)})
    model = build_model(probe_spec(cfg.env), cfg.model, seed=0, algorithm=cfg.algorithm)
    board = WeightBoard(context(), [tuple(v.shape) for v in model_variables(model)])
    ev = Evaluator(cfg, board, _NoMetrics(), start_frames=0)
    ev.start()
    try:
        want = min(os.getpriority(os.PRIO_PROCESS, 0) + EVAL_NICENESS, 19)
        deadline = time.monotonic() + 120
        while os.getpriority(os.PRIO_PROCESS, ev._proc.pid) != want and time.monotonic() < deadline:
            assert ev._proc.is_alive(), "the evaluation actor died"
            time.sleep(0.2)
        assert os.getpriority(os.PRIO_PROCESS, ev._proc.pid) == want
    finally:
        ev.stop()
