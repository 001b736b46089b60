"""How the main window is put together: its menus, toolbar, training dock and wiring.

Apart from :mod:`fcn_studio.gui.main_window` so that the window's class keeps to what the
window does (project, dialogs, progress, settings) and the long, flat list of what is
connected to what reads in one place (issue 34 item 12: the window had grown past 520 lines).
Each function takes the window under construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QCheckBox

from fcn_studio.gui.tool_settings import add_tool_settings

if TYPE_CHECKING:
    from fcn_studio.gui.main_window import MainWindow


def build_menus(win: "MainWindow") -> None:
    """File, Edit, View, Tools and Help: the actions (gui/actions.py) in their menus."""
    a = win.actions_
    bar = win.menuBar()
    file = bar.addMenu("&File")
    file.addActions([a.new_project, a.open_project])
    win.recent_menu = file.addMenu("Open &recent")
    file.addSeparator()
    file.addActions([a.save, a.add_images, a.add_folder])
    file.addSeparator()
    file.addActions([a.import_masks, a.export, a.export_model])
    file.addSeparator()
    file.addAction(a.quit)
    edit = bar.addMenu("&Edit")
    edit.addActions([a.undo, a.redo])
    edit.addSeparator()
    edit.addAction(a.only_unpainted)
    win.clear_mask_action = edit.addAction("&Clear mask", win.clear_mask)
    win.clear_mask_action.setToolTip("Make every pixel of this image 'not painted' (undoable)")
    win.remove_images_action = edit.addAction("&Remove image(s) from project…", win.remove_selected_images)
    win.remove_images_action.setToolTip("Remove the selected images (their files go to the project's trash folder)")
    view = bar.addMenu("&View")
    view.addActions([a.fit, a.actual_size, a.zoom_in, a.zoom_out])
    view.addSeparator()
    view.addAction(a.toggle_mask)
    view.addSeparator()
    view.addActions([a.next_image, a.previous_image])
    view.addSeparator()
    for dock in win.docks.values():
        view.addAction(dock.toggleViewAction())
    tools = bar.addMenu("&Tools")
    tools.addActions(list(a.tools.values()))
    tools.addSeparator()
    tools.addActions([a.brush_bigger, a.brush_smaller])
    win.menus = {"file": file, "edit": edit, "view": view, "tools": tools}
    help_menu = bar.addMenu("&Help")
    help_menu.addAction("&Getting started", win.show_getting_started)
    help_menu.addAction("Keyboard shortcuts", win._show_shortcuts)
    help_menu.addSeparator()
    help_menu.addAction("&About fcn-studio", win.show_about)
    win.menus["help"] = help_menu


def build_toolbar(win: "MainWindow") -> None:
    """The one toolbar: files, undo, the painting tools and their settings, the view."""
    a = win.actions_
    tb = win.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    tb.setMovable(False)
    tb.addActions([a.open_project, a.save, a.add_images])
    tb.addSeparator()
    tb.addActions([a.undo, a.redo])
    tb.addSeparator()
    tb.addActions(list(a.tools.values()))
    win.brush_size, win.wand_tolerance = add_tool_settings(tb, win.editor, win.canvas)
    tb.addSeparator()
    tb.addActions([a.fit, a.actual_size, a.toggle_mask])
    win.toolbar = tb
    # next/previous and brush size work anywhere in the window
    for act in (a.next_image, a.previous_image, a.brush_bigger, a.brush_smaller):
        win.addAction(act)


def build_training(win: "MainWindow") -> None:
    """The training dock, the live prediction layers and their controls (issue: one-click fine-tuning)."""
    from fcn_studio.gui.prediction_layers import HeatmapLegend, PredictionLayers
    from fcn_studio.gui.training_panel import TrainingPanel
    from fcn_studio.gui.training_session import TrainingSession

    win.training_panel = TrainingPanel(win.session)
    win._add_dock("training", "Training", win.training_panel, Qt.DockWidgetArea.RightDockWidgetArea)
    win.prediction_layers = PredictionLayers(win.canvas, win.project.labelset, win, session=win.session)
    labels = {"prediction": ("Prediction", "G"), "heatmap": ("Heatmap", "H"), "uncertainty": ("Uncertainty", "C")}
    for name, (label, key) in labels.items():
        win.layers_panel.add_layer(name, label, key_hint=key)
        shortcut = QShortcut(QKeySequence(key), win)
        shortcut.activated.connect(lambda name=name: win.session.toggle(name))
    win.heatmap_legend = HeatmapLegend()
    win.heatmap_legend.set_labelset(win.project.labelset)
    win.heatmap_legend.class_changed.connect(win.prediction_layers.set_heat_class)
    win.layers_panel.extra_layout.insertWidget(1, win.heatmap_legend)
    win.snap_edges = QCheckBox("Snap segmentation to image edges")
    win.snap_edges.setToolTip(
        "Moves predicted boundaries onto the image's colour edges. On by default when the masks are "
        "scribbles (the network has not seen where boundaries are); switch it off to keep thin objects."
    )
    win.layers_panel.extra_layout.insertWidget(1, win.snap_edges)
    win.prediction_outlines = QCheckBox("Prediction as outlines")
    win.prediction_outlines.setToolTip("Draw only the boundaries of the predicted classes, so the image shows through")
    win.prediction_outlines.toggled.connect(win.prediction_layers.set_outlines)
    win.layers_panel.extra_layout.insertWidget(2, win.prediction_outlines)
    win.training = TrainingSession(win, win.training_panel, win.prediction_layers, win)
    win.canvas.accept_region_requested.connect(win.training.accept_region)
    from fcn_studio.gui.paint_next import PaintNext

    win.paint_next = PaintNext(win, win.training, win)
    from fcn_studio.gui.click_segment import ClickSegment

    win.click_segment = ClickSegment(win, win.training, win)
    win.toolbar.insertAction(win.actions_.fit, win.click_segment.accept_action)
    win.snap_edges.setChecked(win.training.refine_edges())
    win.snap_edges.toggled.connect(win.training.set_refine_edges)
    win.resizeDocks([win.docks["images"], win.docks["classes"]], [520, 260], Qt.Orientation.Vertical)
    win.resizeDocks([win.docks["layers"]], [360], Qt.Orientation.Horizontal)
    # the training panel's buttons in view first; the layer list scrolls on a low screen
    win.resizeDocks([win.docks["layers"], win.docks["training"]], [400, 600], Qt.Orientation.Vertical)


def wire(win: "MainWindow") -> None:
    """The panels' signals to the editor, the canvas and the window's handlers."""
    win.image_list.current_changed.connect(win._on_image_selected)
    win.classes_panel.active_class_changed.connect(win.editor.set_active_class)
    win.classes_panel.labelset_edit_requested.connect(win._apply_labelset_edit)
    win.classes_panel.hidden_classes_changed.connect(win._set_hidden_classes)
    win.editor.active_class_changed.connect(win.classes_panel.select_class)
    win.editor.image_loaded.connect(win._on_image_loaded)
    win.editor.load_failed.connect(lambda image_id, msg: win.show_error("Cannot show this image", msg))
    win.editor.save_failed.connect(lambda msg: win.show_error("Could not save", msg))
    win.editor.saved.connect(lambda image_id: win.image_list.refresh(image_id))
    win.canvas.cursor_moved.connect(win._on_cursor)
    win.editor.region_changed.connect(win._mask_changed_under_cursor)
    win.canvas.status_message.connect(lambda text: win.status.showMessage(text, 4000))
    win.canvas.zoom_changed.connect(win.status.show_zoom)
