"""Inference (torch, no Qt): the predictor, tiling of large images, edge refinement, batch
prediction over a folder, and the prediction process that serves the window.

Nothing is imported here: the window imports :mod:`fcn_studio.inference.prediction_process`
without torch (the child process loads it), and each module imports what it needs.
"""
