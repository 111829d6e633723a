"""assistant: an offline, multimodal desktop assistant.

The package is layered (see README "Design"): ``assistant.ui`` is the only place that imports Qt,
``assistant.engines`` the only place that imports ML libraries; everything else is plain Python.
"""

__version__ = "0.1.0"
