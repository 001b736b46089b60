"""The bottom floor: label sets, image and mask IO, the project store, the demo generator.

Nothing here imports torch or Qt, so a project opens in milliseconds and the GUI can show its
window before torch is loaded.
"""
