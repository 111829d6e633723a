"""A photo from a camera, through Qt Multimedia: live preview, Take, Retake, Use photo.

Qt Multimedia is not part of PySide6-Essentials; it comes with PySide6-Addons (a 175 MB download,
440 MB installed, most of it QtWebEngine), so it is the optional `camera` extra rather than a
dependency everyone pays for, and it is imported only when the capture menu opens, never at start-up.
Without it, without a camera, or with the permission refused, `camera_availability` says which, and
the menu entry stays disabled with that sentence. The dialog never waits on the camera: a camera that
does not start within `START_TIMEOUT_MS`, or reports an error, gets a message and Take stays off.

Written against Qt 6's QCamera / QMediaCaptureSession / QImageCapture; the machine it was written on
has no camera, so only the paths without one are tested.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

NO_MULTIMEDIA = ("Camera photos need Qt Multimedia, which is not installed: pip install "
                 "'assistant[camera]' (PySide6-Addons, a 175 MB download).")  # fmt: skip
NO_CAMERA = "No camera found: connect one (or check that another app is not holding it)."
REFUSED = "Camera access is refused: allow this app to use the camera in the system's privacy settings."
START_TIMEOUT_MS = 8000


def multimedia() -> Any | None:
    """PySide6.QtMultimedia, or None when PySide6-Addons is not installed."""
    try:
        from PySide6 import QtMultimedia
    except ImportError:
        return None
    return QtMultimedia


def camera_availability() -> tuple[bool, str]:
    """Whether a photo can be taken here, and a sentence for the menu entry's tooltip."""
    module = multimedia()
    if module is None:
        return False, NO_MULTIMEDIA
    status = _permission_status()
    if status == "denied":
        return False, REFUSED
    devices = module.QMediaDevices.videoInputs()
    if not devices:
        return False, NO_CAMERA
    default = module.QMediaDevices.defaultVideoInput()
    name = (default if not default.isNull() else devices[0]).description()
    return True, f"Take a photo with {name}"


def _permission_status() -> str:
    """"granted", "denied" or "undetermined" (Qt asks the system: macOS and Windows; Linux grants)."""
    try:
        from PySide6.QtCore import QCameraPermission
    except ImportError:  # a Qt without the permission API: the camera's own error will say it
        return "granted"
    app = QGuiApplication.instance()
    if app is None:
        return "granted"
    status = app.checkPermission(QCameraPermission())
    if status == Qt.PermissionStatus.Denied:
        return "denied"
    return "granted" if status == Qt.PermissionStatus.Granted else "undetermined"


class CameraDialog(QDialog):
    """Live preview; Take freezes a photo, Retake returns to the preview, Use photo accepts it
    (`photo`). Call only when `camera_availability()` said yes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        module = multimedia()
        if module is None:
            raise RuntimeError(NO_MULTIMEDIA)
        from PySide6.QtMultimediaWidgets import QVideoWidget

        self.setWindowTitle("Camera photo")
        self.resize(720, 560)
        self.photo = QImage()
        self._started = False
        self.preview = QVideoWidget()
        self.still = QLabel()
        self.still.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.preview)
        self.pages.addWidget(self.still)
        self.message = QLabel("Starting the camera…")
        self.message.setWordWrap(True)
        self.take_button = QPushButton("Take photo")
        self.retake_button = QPushButton("Retake")
        self.use_button = QPushButton("Use photo")
        cancel = QPushButton("Cancel")
        self.take_button.setEnabled(False)
        self.retake_button.hide()
        self.use_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        for button in (self.take_button, self.retake_button, self.use_button, cancel):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)

        self.camera = module.QCamera(module.QMediaDevices.defaultVideoInput())
        self.capture = module.QImageCapture()
        self.session = module.QMediaCaptureSession()
        self.session.setCamera(self.camera)
        self.session.setVideoOutput(self.preview)
        self.session.setImageCapture(self.capture)
        self.camera.activeChanged.connect(self._active_changed)
        self.camera.errorOccurred.connect(lambda _error, text: self._problem(f"The camera failed: {text}"))
        self.capture.imageCaptured.connect(self._taken)
        self.capture.errorOccurred.connect(lambda _id, _error, text: self._problem(f"No photo: {text}"))
        self.take_button.clicked.connect(self.take)
        self.retake_button.clicked.connect(self.retake)
        self.use_button.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        self.camera.start()
        QTimer.singleShot(START_TIMEOUT_MS, self._check_started)

    def take(self) -> None:
        if self.capture.isReadyForCapture():
            self.take_button.setEnabled(False)
            self.capture.capture()

    def retake(self) -> None:
        self.photo = QImage()
        self.pages.setCurrentWidget(self.preview)
        self.retake_button.hide()
        self.use_button.hide()
        self.take_button.show()
        self.take_button.setEnabled(self._started)

    def _active_changed(self, active: bool) -> None:
        self._started = self._started or active
        if active:
            self.message.setText("")
            self.take_button.setEnabled(True)

    def _check_started(self) -> None:
        if not self._started and self.isVisible():
            self._problem("The camera did not start. Is another app using it?")

    def _taken(self, _request_id: int, image: QImage) -> None:
        self.photo = image
        scaled = QPixmap.fromImage(image).scaled(self.pages.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation)  # fmt: skip
        self.still.setPixmap(scaled)
        self.pages.setCurrentWidget(self.still)
        self.take_button.hide()
        self.retake_button.show()
        self.use_button.show()

    def _problem(self, text: str) -> None:
        logger.warning("Camera: %s", text)
        self.message.setText(text)
        self.take_button.setEnabled(False)

    def done(self, result: int) -> None:  # Qt override: every way the dialog closes
        self.camera.stop()
        super().done(result)
