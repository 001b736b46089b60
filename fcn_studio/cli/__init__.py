"""The headless command line (no Qt): one parser (:mod:`.parser`) with the project commands,
the training and inference commands (:mod:`.training_commands`) and shared argument checks
(:mod:`.args`). Importing it does not import torch; commands import what they need.
"""

from fcn_studio.cli.parser import COMMANDS, build_parser, main, one_line_warnings

__all__ = ["COMMANDS", "build_parser", "main", "one_line_warnings"]
