"""The suite's own guards: a modal dialog in a test is answered at once and named, never waited on."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from fcn_studio.gui.launch import make_app

pytestmark = pytest.mark.gui


def test_a_modal_dialog_nobody_answers_is_answered_at_once_and_named(unanswered_dialogs_fail: list[str]) -> None:
    make_app()
    button = QMessageBox.StandardButton
    offered = button.Retry | button.Discard | button.Cancel
    assert QMessageBox.warning(None, "Could not save the project", "No space left", offered) == button.Discard
    assert QMessageBox.question(None, "Remove", "Remove 3 images?") == button.No
    assert QInputDialog.getText(None, "Rename", "Name:") == ("", False)
    assert [s.split("(")[0] for s in unanswered_dialogs_fail] == ["QMessageBox.warning", "QMessageBox.question", "QInputDialog.getText"]
    assert "No space left" in unanswered_dialogs_fail[0]
    unanswered_dialogs_fail.clear()  # seen here on purpose: the guard's own failure is not this test's
