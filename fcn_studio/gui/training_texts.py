"""What the training panel says: in a project without a model, when a run ends, beside an image's score.

Plain functions of plain values (a run's summary dict, a project entry), so the words are
tested without a window.
"""

from __future__ import annotations

#: What the training panel says in a project without a model.
FIRST_STEP = "Paint a few strokes, then press Fine-tune."
ENDS = {"completed": "Training finished.", "time budget": "Training finished: time budget used.",
        "step limit": "Training finished: step limit reached.", "cancelled": "Training stopped."}


def finished_text(summary: dict) -> str:
    """The panel's line when a run ends: how it ended and what its score means.

    Scored on held-out images, the mIoU is a measure; scored on the painted pixels it learnt
    from, it is only how well the model fits the strokes ("mIoU 1.000 on the painted pixels"
    read as perfect, issue 34 item 7), so the line says so and where to look instead.
    """
    stopped = summary.get("stopped", "")
    if stopped == "error":
        return "Training stopped with an error (see the message)."
    text = ENDS.get(str(stopped), f"Training ended ({stopped}).")
    miou = summary.get("best_miou", summary.get("miou"))
    if not isinstance(miou, (int, float)):
        return text
    if summary.get("metrics_on") == "validation":
        return f"{text} mIoU {miou:.3f} on held-out images."
    return f"{text} It fits your strokes (mIoU {miou:.2f} on the pixels it learnt from); judge it where you did not paint."


def uncertainty_text(entry) -> str:
    """The Worst-first score beside an image: the mean uncertainty of its last prediction."""
    value = entry.extra.get("uncertainty")
    return f"uncertainty {float(value):.2f}" if isinstance(value, (int, float)) else "no score yet"
