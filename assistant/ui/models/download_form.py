"""The Download form of the Models dialog: what to fetch from the hub. Nothing connects from here."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QWidget

from assistant.models.download import HubFile


class DownloadForm(QDialog):
    """Repository id, file name, optional revision and sha256; nothing connects until Download."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download a model")
        self.repo = QLineEdit()
        self.repo.setPlaceholderText("owner/name, e.g. Qwen/Qwen2.5-1.5B-Instruct-GGUF")
        self.file = QLineEdit()
        self.file.setPlaceholderText("file name, e.g. qwen2.5-1.5b-instruct-q4_k_m.gguf")
        self.revision = QLineEdit("main")
        self.sha256 = QLineEdit()
        self.sha256.setPlaceholderText("optional; the hub's own checksum is used otherwise")
        form = QFormLayout(self)
        form.addRow("Repository", self.repo)
        form.addRow("File", self.file)
        form.addRow("Revision", self.revision)
        form.addRow("sha256", self.sha256)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton("Download", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def hub_file(self) -> HubFile:
        return HubFile(self.repo.text().strip(), self.file.text().strip(),
                       self.revision.text().strip() or "main", self.sha256.text().strip() or None)
