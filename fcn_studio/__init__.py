"""fcn-studio: paint label masks, fine-tune a fully convolutional network, watch it learn.

The package is layered so that each floor imports only the floors below it:
``data`` (numpy/Pillow) -> ``models`` and ``training`` (torch) -> ``cli`` and ``gui`` (Qt)
-> ``app`` (entry point). Importing :mod:`fcn_studio` itself imports neither torch nor Qt.
"""

__version__ = "0.1.0"
