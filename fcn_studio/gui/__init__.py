"""The Qt floor: widgets that render and edit the Qt-free core. Only this package imports Qt."""
