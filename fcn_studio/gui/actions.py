"""Every menu and toolbar action in one typed record, built by one helper (labelme's good idea)."""

from __future__ import annotations

from typing import Callable, NamedTuple

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from fcn_studio.gui.theme import icon
from fcn_studio.gui.tools import TOOL_TYPES


class Actions(NamedTuple):
    new_project: QAction
    open_project: QAction
    save: QAction
    add_images: QAction
    add_folder: QAction
    import_masks: QAction
    export: QAction
    export_model: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    fit: QAction
    actual_size: QAction
    zoom_in: QAction
    zoom_out: QAction
    toggle_mask: QAction
    only_unpainted: QAction
    next_image: QAction
    previous_image: QAction
    brush_bigger: QAction
    brush_smaller: QAction
    tools: dict[str, QAction]
    tool_group: QActionGroup


def make_action(
    parent: QWidget,
    text: str,
    slot: Callable | None = None,
    shortcut: str | QKeySequence.StandardKey | list | None = None,
    icon_name: str | None = None,
    tip: str | None = None,
    checkable: bool = False,
) -> QAction:
    action = QAction(text, parent)
    if icon_name:
        action.setIcon(icon(icon_name))
    if isinstance(shortcut, list):
        action.setShortcuts([QKeySequence(s) for s in shortcut])
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    describe(action, tip)
    action.setCheckable(checkable)
    if slot is not None:
        action.triggered.connect(slot)
    return action


def describe(action: QAction, tip: str | None = None) -> None:
    """Tooltip with the action's name, what it does and its keys (toolbars show icons only)."""
    name = action.text().replace("&", "").rstrip("…")
    keys = " or ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty())
    body = f"<b>{name}</b>" + (f" <span style='color:#a0a8b4'>({keys})</span>" if keys else "")
    if tip and tip.strip() != name:
        body += f"<br>{tip}"
    action.setToolTip(body)
    if tip:
        action.setStatusTip(tip)


def build_actions(win) -> Actions:
    """``win`` is the main window; the slots are its small delegating methods."""
    undo = win.editor_undo_group.createUndoAction(win, "Undo")
    undo.setShortcuts([QKeySequence(QKeySequence.StandardKey.Undo)])
    undo.setIcon(icon("undo"))
    redo = win.editor_undo_group.createRedoAction(win, "Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    redo.setIcon(icon("redo"))
    for a in (undo, redo):  # their text follows the undo stack ("Undo Brush stroke")
        a.changed.connect(lambda a=a: describe(a))  # idempotent: an unchanged tooltip emits nothing
        describe(a)
    group = QActionGroup(win)
    group.setExclusive(True)
    tools = {}
    for t in TOOL_TYPES:
        a = make_action(win, t.label, None, t.shortcut, t.icon, f"{t.tip}", checkable=True)
        a.setData(t.name)
        group.addAction(a)
        tools[t.name] = a
    tools["brush"].setChecked(True)
    group.triggered.connect(lambda a: win.set_tool(a.data()))
    return Actions(
        new_project=make_action(win, "&New project…", win.new_project, QKeySequence.StandardKey.New, "new"),
        open_project=make_action(win, "&Open project…", win.open_project_dialog, QKeySequence.StandardKey.Open, "open"),
        save=make_action(win, "&Save", win.save_all, QKeySequence.StandardKey.Save, "save", "Save masks and project now (autosave runs too)"),
        add_images=make_action(win, "Add &images…", win.add_images_dialog, "Ctrl+I", "add_images", "Copy images into the project"),
        add_folder=make_action(win, "Add &folder…", win.add_folder_dialog, "Ctrl+Shift+I"),
        import_masks=make_action(win, "&Import masks…", win.import_masks_dialog, None, "import"),
        export=make_action(win, "&Export masks…", win.export_dialog, "Ctrl+E", "export"),
        export_model=make_action(win, "Export &model…", win.export_model_dialog, None, None, "Save the trained model as ONNX or TorchScript"),
        quit=make_action(win, "&Quit", win.close, QKeySequence.StandardKey.Quit),
        undo=undo,
        redo=redo,
        fit=make_action(win, "&Fit to window", win.canvas_fit, "Ctrl+0", "fit"),
        actual_size=make_action(win, "&Actual pixels (1:1)", win.canvas_actual, "Ctrl+1", "actual_size"),
        zoom_in=make_action(win, "Zoom &in", win.canvas_zoom_in, QKeySequence.StandardKey.ZoomIn, "zoom_in"),
        zoom_out=make_action(win, "Zoom &out", win.canvas_zoom_out, QKeySequence.StandardKey.ZoomOut, "zoom_out"),
        toggle_mask=make_action(win, "Show &mask", win.set_mask_visible, "M", "mask", "Show or hide the painted mask (M)", checkable=True),
        only_unpainted=make_action(win, "Paint only &unpainted pixels", win.set_only_unpainted, "U", None,
                                   "The brush leaves painted pixels as they are: fill gaps along a boundary (U)",
                                   checkable=True),
        next_image=make_action(win, "&Next image", win.next_image, ["D", "PgDown"]),
        previous_image=make_action(win, "&Previous image", win.previous_image, ["A", "PgUp"]),
        brush_bigger=make_action(win, "Bigger brush", lambda: win.scale_brush(1.25), "]"),
        brush_smaller=make_action(win, "Smaller brush", lambda: win.scale_brush(0.8), "["),
        tools=tools,
        tool_group=group,
    )
