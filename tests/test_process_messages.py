"""The typed channel to the child processes, tested without processes or threads.

The messages are dataclasses the pipes pickle; the GUI's training relay and the prediction
child dispatch on their type. Here the relay's generator runs on the test's thread over a
scripted process (superqt's way of testing worker logic: call the work directly), and the
prediction child answers requests in-process.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from fcn_studio.inference import messages as pm
from fcn_studio.inference.prediction_process import _Child
from fcn_studio.training import messages as tm
from fcn_studio.training.callbacks import EpochReport, PredictionReport, StepReport

STEP = StepReport(step=3, epoch=1, loss=0.5, lr=1e-3, images_per_s=2.0, eta_s=None, elapsed_s=1.0)
EPOCH = EpochReport(epoch=1, step=3, miou=0.4, pixel_acc=0.8, per_class_iou=np.array([0.4]), train_loss=0.5, elapsed_s=1.0)
PREVIEW = PredictionReport(image_id="a.png", step=3, probs=np.full((2, 4, 5), 0.5, np.float16), labels=np.ones((4, 5), np.uint8))


@pytest.mark.parametrize("message", [
    tm.Job({"any": "config"}, "/p"), tm.Stop(), tm.Quit(), tm.PreviewImage("a.png"), tm.RefineEdges(True), tm.Ready(),
    tm.StepReported(STEP), tm.Notice("hi"), tm.CheckpointWritten("m.fcnckpt", {"miou": 0.4}), tm.Failed("no"),
    tm.Done({"stopped": "completed"}), pm.LoadModel("m.fcnckpt"), pm.Quit(), pm.ModelLoaded(2, 5), pm.Failed("no"),
])
def test_messages_survive_the_pipe(message):
    assert pickle.loads(pickle.dumps(message)) == message


def test_dispatch_calls_the_handler_of_the_type_and_ignores_others():
    seen = []
    handlers = {tm.Notice: lambda m: seen.append(m.text) or "shown"}
    assert tm.dispatch(handlers, tm.Notice("x")) == "shown" and seen == ["x"]
    assert tm.dispatch(handlers, tm.Stop()) is None


class ScriptedProcess:
    """Stands in for TrainingProcess: hands out prepared batches of messages, then ends."""

    def __init__(self, batches):  # noqa: ANN001
        self.batches = list(batches)
        self.ended = False
        self.closed = False

    def receive(self, timeout_s: float):  # noqa: ANN201
        if not self.batches:
            self.ended = True
            return []
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return batch

    def close(self) -> None:
        self.closed = True


def run_relay(batches):  # noqa: ANN001, ANN201
    """The relay's generator on this thread: what it yields, what it returns."""
    from fcn_studio.gui.training_worker import TrainingRelay

    process = ScriptedProcess(batches)
    stamps: dict[int, float] = {}
    gen = TrainingRelay(process, stamps).messages()
    received = []
    while True:
        try:
            received.append(next(gen))
        except StopIteration as end:
            return process, stamps, received, end.value


@pytest.mark.gui
def test_relay_passes_each_message_once_and_prepares_previews():
    from fcn_studio.gui.prediction_layers import PreparedPrediction

    batches = [[tm.StepReported(STEP), tm.EpochEnded(EPOCH, 12.5)], [], [tm.PreviewPredicted(PREVIEW), tm.Done({"stopped": "completed"})]]
    process, stamps, received, summary = run_relay(batches)
    assert [type(m) for m in received] == [tm.StepReported, tm.EpochEnded, PreparedPrediction]
    assert stamps == {3: 12.5}
    prepared = received[-1]
    assert prepared.image_id == "a.png" and prepared.step == 3 and prepared.heat.dtype == np.uint8
    assert summary == {"stopped": "completed"} and process.closed


@pytest.mark.gui
def test_relay_turns_its_own_failure_into_a_message_and_still_ends():
    process, _, received, summary = run_relay([[tm.Notice("warming up")], RuntimeError("pipe broke")])
    assert received[0] == tm.Notice("warming up")
    assert isinstance(received[1], tm.Failed) and "pipe broke" in received[1].message
    assert summary == {"stopped": "error"} and process.closed


@pytest.mark.gui
def test_relay_ends_when_the_process_ends_without_done():
    _, _, received, summary = run_relay([[tm.StepReported(STEP)]])
    assert received == [tm.StepReported(STEP)] and summary == {"stopped": "error"}


def test_prediction_child_answers_every_request_with_a_typed_reply(tmp_path):
    child = _Child()
    image = np.zeros((4, 5, 3), np.uint8)
    assert child.answer(pm.Predict(image)) == pm.Failed("no model is loaded")
    assert child.answer(tm.Stop()) == pm.Failed("unknown request Stop")
    bad = tmp_path / "bad.fcnckpt"
    bad.write_bytes(b"not a checkpoint")
    reply = child.answer(pm.LoadModel(str(bad)))
    assert isinstance(reply, pm.Failed) and reply.message
